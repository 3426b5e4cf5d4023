/**
 * Rules that the in-process locks enforced on one gateway hold between two gateways on one
 * PostgreSQL database: of two concurrent deactivations of the last two owners sent to different
 * instances exactly one succeeds, and concurrent PATCHes of one group through both instances lose
 * no member and surface no version conflict.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP_SCHEMA, PATCH_OP, startTestGateway, user, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type PostgresServer } from '../servers/postgres.js';

const BRIDGE = 'urn:ietf:params:scim:schemas:extension:scimbridge:2.0:User';
let pg: PostgresServer;
const gateways: TestGateway[] = [];

beforeAll(async () => {
  pg = await startPostgres();
  const url = await pg.createDatabase('rules');
  const config = { store: 'postgres', databaseUrl: url, connections: { default: { policies: { lastOwnerRole: 'owner' } } } };
  gateways.push(await startTestGateway(config), await startTestGateway(config));
}, 60_000);
afterAll(async () => {
  for (const gw of gateways) await gw.stop().catch(() => undefined);
  await pg?.close();
});

const deactivate = { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] };
const reactivate = { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: true }] };

describe('two instances, one database', () => {
  it('last-owner protection: of two concurrent deactivations of the last two owners, exactly one succeeds', { timeout: 60_000 }, async () => {
    const [a, b] = gateways.map((g) => g.client);
    const x = (await a.post('/Users', { ...user('owner-x@example.com'), [BRIDGE]: { role: 'owner' } })).body;
    const y = (await b.post('/Users', { ...user('owner-y@example.com'), [BRIDGE]: { role: 'owner' } })).body;
    for (let round = 0; round < 10; round++) {
      const [rx, ry] = await Promise.all([a.patch(`/Users/${x.id}`, deactivate), b.patch(`/Users/${y.id}`, deactivate)]);
      expect([rx.status, ry.status].sort()).toEqual([200, 409]);
      const loser = rx.status === 409 ? rx : ry;
      expect(loser.body.detail).toMatch(/last active user with role "owner"/);
      // put the one that went back, for the next round
      const gone = rx.status === 200 ? x : y;
      expect((await (round % 2 ? a : b).patch(`/Users/${gone.id}`, reactivate)).status).toBe(200);
    }
  });

  it('concurrent member PATCHes of one group through both instances: none lost, none refused', { timeout: 60_000 }, async () => {
    const [a, b] = gateways.map((g) => g.client);
    const group = (await a.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Shared' })).body;
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push((await (i % 2 ? a : b).post('/Users', user(`m${i}@example.com`))).body.id);
    const replies = await Promise.all(
      ids.map((id, i) => (i % 2 ? a : b).patch(`/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: id }] }] })),
    );
    expect(replies.filter((r) => r.status !== 204).map((r) => `${r.status} ${r.text}`)).toEqual([]);
    const after = (await b.get(`/Groups/${group.id}`)).body;
    expect(after.members.map((m: { value: string }) => m.value).sort()).toEqual([...ids].sort());
    expect(after.meta.version).toBe('W/"41"');
  });
});
