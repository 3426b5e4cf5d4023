/** Group -> role rules and the synthetic Admins/Users groups, over HTTP, with a connector watching. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BRIDGE_USER_SCHEMA } from '../../src/gateway/scim/index.js';
import { GROUP_SCHEMA, PATCH_OP, startTestGateway, user, waitFor, type ScimClient, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let rules: ScimClient;
let synthetic: ScimClient;
let owners: ScimClient;

beforeAll(async () => {
  gw = await startTestGateway({
    connections: {
      rules: {
        policies: { roleRules: [{ group: 'Engineering Admins', role: 'admin' }, { group: 'Support', role: 'agent' }] },
        connectors: [{ id: 'demo-roles', type: 'demo' }],
      },
      synthetic: { policies: { syntheticGroups: true }, connectors: [{ id: 'demo-synth', type: 'demo' }] },
      owners: { policies: { roleRules: [{ group: 'Owners', role: 'owner' }], lastOwnerRole: 'owner' } },
    },
  });
  rules = gw.clientFor('rules');
  synthetic = gw.clientFor('synthetic');
  owners = gw.clientFor('owners');
});
afterAll(async () => gw.stop());

const roleOf = async (c: ScimClient, id: string) => (await c.get(`/Users/${id}`)).body[BRIDGE_USER_SCHEMA]?.role;
const addMember = (c: ScimClient, groupId: string, userId: string) => c.patch(`/Groups/${groupId}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: userId }] }] });
const removeMember = (c: ScimClient, groupId: string, userId: string) => c.patch(`/Groups/${groupId}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${userId}"]` }] });
const outboxEmpty = async () => (await gw.gateway.store.outboxList({ state: 'pending' })).length === 0;

describe('group -> role rules', () => {
  it('gives the role of the first matching group, the default otherwise, and ignores a role the IdP sends', async () => {
    const u = (await rules.post('/Users', user('grace@example.com', { [BRIDGE_USER_SCHEMA]: { role: 'owner' } }))).body;
    expect(u[BRIDGE_USER_SCHEMA].role).toBe('member');

    const admins = (await rules.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Engineering Admins', members: [{ value: u.id }] })).body;
    expect(await roleOf(rules, u.id)).toBe('admin');
    const support = (await rules.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'support' })).body;
    expect((await addMember(rules, support.id, u.id)).status).toBe(204);
    expect(await roleOf(rules, u.id)).toBe('admin'); // the first rule ranks first

    expect((await removeMember(rules, admins.id, u.id)).status).toBe(204);
    expect(await roleOf(rules, u.id)).toBe('agent');

    // A PATCH of the user that sends a role does not override the groups.
    await rules.patch(`/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: `${BRIDGE_USER_SCHEMA}:role`, value: 'owner' }] });
    expect(await roleOf(rules, u.id)).toBe('agent');

    // Renaming a group out of its rule, and deleting it, take the role away.
    expect((await rules.patch(`/Groups/${support.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'Former Support' }] })).status).toBe(204);
    expect(await roleOf(rules, u.id)).toBe('member');
    await addMember(rules, admins.id, u.id);
    expect(await roleOf(rules, u.id)).toBe('admin');
    expect((await rules.delete(`/Groups/${admins.id}`)).status).toBe(204);
    expect(await roleOf(rules, u.id)).toBe('member');

    // The connector hears of each role change as an update of the user.
    await waitFor(outboxEmpty, 5_000, 'deliveries');
    const [entry] = await collect(gw.gateway.connectors.get('demo-roles')!.host.listUsers());
    expect(entry.user.attributes.role).toBe('member');
    const roleChanges = await gw.gateway.audit.query({ resourceId: u.id, action: 'user.update', limit: 50 });
    expect(roleChanges.records.length).toBeGreaterThanOrEqual(5);
  });

  it('a PUT of a group with its whole member list sets the roles of those it adds and removes', async () => {
    const a = (await rules.post('/Users', user('put-a@example.com'))).body;
    const b = (await rules.post('/Users', user('put-b@example.com'))).body;
    const g = (await rules.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Engineering Admins', members: [{ value: a.id }] })).body;
    expect((await rules.put(`/Groups/${g.id}`, { schemas: [GROUP_SCHEMA], displayName: 'Engineering Admins', members: [{ value: b.id }] })).status).toBe(200);
    expect([await roleOf(rules, a.id), await roleOf(rules, b.id)]).toEqual(['member', 'admin']);
  });

  it('loses no role when many PATCHes add different users to one group at once', async () => {
    const ids = await Promise.all(Array.from({ length: 40 }, async (_, i) => (await rules.post('/Users', user(`many${i}@example.com`))).body.id as string));
    const g = (await rules.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Support' })).body;
    const replies = await Promise.all(ids.map((id) => addMember(rules, g.id, id)));
    expect(replies.map((r) => r.status)).toEqual(ids.map(() => 204));
    expect(new Set(await Promise.all(ids.map((id) => roleOf(rules, id))))).toEqual(new Set(['agent']));
  });
});

describe('synthetic groups Admins and Users', () => {
  it('exist, map to roles, cannot be deleted or renamed, and stay out of the connectors', async () => {
    const list = (await synthetic.get('/Groups?filter=' + encodeURIComponent('displayName eq "Admins" or displayName eq "Users"'))).body;
    expect(list.Resources.map((g: { displayName: string }) => g.displayName).sort()).toEqual(['Admins', 'Users']);
    const admins = list.Resources.find((g: { displayName: string }) => g.displayName === 'Admins');
    const u = (await synthetic.post('/Users', user('ada@example.com'))).body;
    expect((await addMember(synthetic, admins.id, u.id)).status).toBe(204);
    expect(await roleOf(synthetic, u.id)).toBe('admin');

    const del = await synthetic.delete(`/Groups/${admins.id}`);
    expect(del.status).toBe(400);
    expect(del.body).toMatchObject({ scimType: 'mutability' });
    expect(del.body.detail).toMatch(/synthetic role group/);
    const rename = await synthetic.patch(`/Groups/${admins.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'Admins2' }] });
    expect(rename.status).toBe(400);

    await waitFor(outboxEmpty, 5_000, 'deliveries');
    const target = gw.gateway.connectors.get('demo-synth')!;
    expect((await collect(target.host.listUsers()))[0].user.attributes.role).toBe('admin');
    const queued = await gw.gateway.store.outboxList({ connector: 'demo-synth' });
    expect(queued).toEqual([]);
    const groupDeliveries = await gw.gateway.audit.query({ action: 'connector.upsertGroup', limit: 10 });
    expect(groupDeliveries.records.filter((r) => (r as { actor?: { id?: string } }).actor?.id === 'demo-synth')).toEqual([]);
  });
});

describe('role rules and last-owner protection', () => {
  it('refuses to take the last owner out of the owners group, and changes nothing', async () => {
    const u = (await owners.post('/Users', user('owner@example.com'))).body;
    const g = (await owners.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Owners', members: [{ value: u.id }] })).body;
    expect(await roleOf(owners, u.id)).toBe('owner');
    const refused = await removeMember(owners, g.id, u.id);
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toMatch(/last active user with role "owner"/);
    expect((await owners.get(`/Groups/${g.id}`)).body.members).toEqual([expect.objectContaining({ value: u.id })]);
    expect(await roleOf(owners, u.id)).toBe('owner');
  });
});

async function collect<T>(it: AsyncIterable<T>): Promise<Array<T & { user: any }>> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out as Array<T & { user: any }>;
}
