/**
 * Claim protection (an account already in the target that this connection does not manage) and
 * connectors in `sync` mode (the SCIM response waits for the target), over HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoConnector, DemoDirectory } from '../../connectors/demo/index.js';
import { defineConnector, PermanentError, type ConnectorDefinition } from '../../connectors/sdk/index.js';
import { z } from 'zod';
import { PATCH_OP, startTestGateway, user, waitFor, type ScimClient, type TestGateway } from '../helpers/gateway.js';

const claimDir = new DemoDirectory();
const linkDir = new DemoDirectory();
const syncDir = new DemoDirectory();
const lateDir = new DemoDirectory();
/** One target that two connections (two IdP tenants) both write to. */
const sharedDir = new DemoDirectory();

/** A target that refuses every create: stands in for a legacy system's validation rule. */
const refusing = defineConnector(
  {
    type: 'refusing',
    displayName: 'Refuses creates (test target)',
    version: '1.0.0',
    description: 'Refuses every create, as a legacy system with its own validation would.',
    configSchema: z.object({}),
    capabilities: { create: true },
  },
  () => ({
    async init() {},
    async test() {
      return { ok: true, message: 'ok' };
    },
    async dispose() {},
    async createUser(u) {
      throw new PermanentError(`employee number is required for ${u.userName}`);
    },
  }),
);

const types = new Map<string, () => ConnectorDefinition<unknown>>([
  ['demo-claim', () => ({ ...createDemoConnector(claimDir), manifest: { ...createDemoConnector(claimDir).manifest, type: 'demo-claim' } }) as unknown as ConnectorDefinition<unknown>],
  ['demo-link', () => ({ ...createDemoConnector(linkDir), manifest: { ...createDemoConnector(linkDir).manifest, type: 'demo-link' } }) as unknown as ConnectorDefinition<unknown>],
  ['demo-sync', () => ({ ...createDemoConnector(syncDir), manifest: { ...createDemoConnector(syncDir).manifest, type: 'demo-sync' } }) as unknown as ConnectorDefinition<unknown>],
  ['refusing', () => refusing as unknown as ConnectorDefinition<unknown>],
  ['demo-late', () => ({ ...createDemoConnector(lateDir), manifest: { ...createDemoConnector(lateDir).manifest, type: 'demo-late' } }) as unknown as ConnectorDefinition<unknown>],
  ['demo-shared', () => ({ ...createDemoConnector(sharedDir), manifest: { ...createDemoConnector(sharedDir).manifest, type: 'demo-shared' } }) as unknown as ConnectorDefinition<unknown>],
]);

let gw: TestGateway;
let claim: ScimClient;
let link: ScimClient;
let sync: ScimClient;
let strict: ScimClient;
let tenantA: ScimClient;
let tenantB: ScimClient;
let tenantLink: ScimClient;

beforeAll(async () => {
  gw = await startTestGateway(
    {
      connections: {
        claim: { connectors: [{ id: 'claim-1', type: 'demo-claim' }] },
        claimlink: { policies: { existingAccounts: 'link' }, connectors: [{ id: 'link-1', type: 'demo-link' }] },
        sync: { connectors: [{ id: 'sync-1', type: 'demo-sync', mode: 'sync' }] },
        strict: { connectors: [{ id: 'strict-1', type: 'refusing', mode: 'sync' }] },
        'tenant-a': { connectors: [{ id: 'shared-a', type: 'demo-shared' }] },
        'tenant-b': { connectors: [{ id: 'shared-b', type: 'demo-shared' }] },
        'tenant-link': { policies: { existingAccounts: 'link' }, connectors: [{ id: 'shared-link', type: 'demo-shared' }] },
      },
    },
    { connectorTypes: types },
  );
  claim = gw.clientFor('claim');
  link = gw.clientFor('claimlink');
  sync = gw.clientFor('sync');
  strict = gw.clientFor('strict');
  tenantA = gw.clientFor('tenant-a');
  tenantB = gw.clientFor('tenant-b');
  tenantLink = gw.clientFor('tenant-link');
});
afterAll(async () => gw.stop());

/** An account made in the target by someone else (not through this gateway). */
function seed(dir: DemoDirectory, userName: string): string {
  const key = `users/${userName.toLowerCase()}`;
  dir.users.set(key, { scimId: 'made-by-hand', userName, active: true, attributes: { displayName: 'Hand Made' } });
  return key;
}
const pending = async (connector: string) => (await gw.gateway.store.outboxList({ connector, state: 'pending' })).length;
const filterBy = (userName: string) => `/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`;

describe('claim protection', () => {
  it('refuses a create whose userName is an account the connection does not manage, and stores nothing', async () => {
    seed(claimDir, 'taken@example.com');
    const r = await claim.post('/Users', user('taken@example.com'));
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({ scimType: 'uniqueness' });
    expect(r.body.detail).toMatch(/already exists in the target of connector "claim-1".*not managed by connection "claim".*existingAccounts/);
    expect((await claim.get(filterBy('taken@example.com'))).body.totalResults).toBe(0);
    expect(claimDir.users.get('users/taken@example.com')?.scimId).toBe('made-by-hand');
    expect((await claim.post('/Users', user('free@example.com'))).status).toBe(201);
  });

  it('refuses an account with the same externalId that carries another SCIM id: not this user\'s, whoever made it', async () => {
    claimDir.users.set('users/other-install@example.com', { scimId: 'earlier-install', externalId: 'okta-00u9', userName: 'other-install@example.com', active: true, attributes: {} });
    const r = await claim.post('/Users', user('mine@example.com', { externalId: 'okta-00u9' }));
    expect(r.status).toBe(409);
    expect(r.body.detail).toMatch(/carries the SCIM id earlier-install, which is not this user's.*existingAccounts/);
    expect(claimDir.users.get('users/other-install@example.com')?.scimId).toBe('earlier-install');
  });

  it('links an account that carries the same externalId: it is this IdP\'s user, renamed', async () => {
    // No gateway SCIM id stored with it (an empty one reads as none).
    claimDir.users.set('users/old-name@example.com', { scimId: '', externalId: 'okta-00u1', userName: 'old-name@example.com', active: true, attributes: {} });
    const r = await claim.post('/Users', user('new-name@example.com', { externalId: 'okta-00u1' }));
    expect(r.status).toBe(201);
    await waitFor(async () => (await pending('claim-1')) === 0, 5_000, 'the delivery');
    // One account, renamed (the demo's key follows the userName), linked to the new SCIM user.
    expect([...claimDir.users.values()].filter((u) => u.externalId === 'okta-00u1').map((u) => u.userName)).toEqual(['new-name@example.com']);
    expect(await gw.gateway.store.linkOf('claim-1', r.body.id)).toBe('users/new-name@example.com');
  });

  it('takes the account over when the policy says link', async () => {
    const key = seed(linkDir, 'adopt@example.com');
    const r = await link.post('/Users', user('adopt@example.com', { displayName: 'Adopted' }));
    expect(r.status).toBe(201);
    await waitFor(async () => (await pending('link-1')) === 0, 5_000, 'the delivery');
    expect(await gw.gateway.store.linkOf('link-1', r.body.id)).toBe(key);
    expect(linkDir.users.size).toBe(1);
    expect(linkDir.users.get(key)?.attributes.displayName).toBe('Adopted');
  });

  it('lets a user come back after a delete: the account it had is this connection\'s own', async () => {
    const first = (await claim.post('/Users', user('rehire@example.com'))).body;
    await waitFor(async () => (await pending('claim-1')) === 0, 5_000, 'the create');
    expect((await claim.delete(`/Users/${first.id}`)).status).toBe(204);
    await waitFor(async () => claimDir.users.get('users/rehire@example.com')?.active === false, 5_000, 'the soft delete');
    const again = await claim.post('/Users', user('rehire@example.com'));
    expect(again.status).toBe(201);
    await waitFor(async () => claimDir.users.get('users/rehire@example.com')?.active === true, 5_000, 'the account back in use');
    // the target shows the account a moment before the gateway records the link
    await waitFor(async () => (await pending('claim-1')) === 0, 5_000, 'the delivery');
    expect(await gw.gateway.store.linkOf('claim-1', again.body.id)).toBe('users/rehire@example.com');
  });

  it('looks again at delivery when the target could not be searched at create time', async () => {
    claimDir.down = true;
    const r = await claim.post('/Users', user('late@example.com'));
    expect(r.status).toBe(201); // a target that is down never fails the IdP
    seed(claimDir, 'late@example.com');
    claimDir.down = false;
    gw.gateway.outbox.kick();
    await waitFor(async () => (await gw.gateway.store.outboxList({ connector: 'claim-1', state: 'dead' })).length === 1, 15_000, 'the dead letter');
    const [dead] = await gw.gateway.store.outboxList({ connector: 'claim-1', state: 'dead' });
    expect(dead.lastError).toMatch(/already exists in the target.*not managed by connection "claim"/);
    expect(claimDir.users.get('users/late@example.com')?.scimId).toBe('made-by-hand');
  });
});

describe('sync mode', () => {
  it('applies the change before answering, with no outbox entry', async () => {
    const r = await sync.post('/Users', user('now@example.com', { displayName: 'Right Now' }));
    expect(r.status).toBe(201);
    expect(syncDir.users.get('users/now@example.com')).toMatchObject({ scimId: r.body.id, active: true });
    expect(await gw.gateway.store.outboxList({ connector: 'sync-1' })).toEqual([]);
    expect(await gw.gateway.store.linkOf('sync-1', r.body.id)).toBe('users/now@example.com');
    const p = await sync.patch(`/Users/${r.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] });
    expect(p.status).toBe(200);
    expect(syncDir.users.get('users/now@example.com')?.active).toBe(false);
  });

  it('answers 503 and changes nothing while the target is down', async () => {
    const u = (await sync.post('/Users', user('later@example.com', { title: 'Before' }))).body;
    syncDir.down = true;
    try {
      const r = await sync.patch(`/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'After' }] });
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBeTruthy();
      expect(r.body.detail).toMatch(/connector "sync-1" could not be reached.*Nothing was changed/);
      expect((await sync.get(`/Users/${u.id}`)).body.title).toBe('Before');
      expect((await sync.post('/Users', user('never@example.com'))).status).toBe(503);
      expect((await sync.get(filterBy('never@example.com'))).body.totalResults).toBe(0);
    } finally {
      syncDir.down = false;
    }
  });

  it('a sync connector added after a user existed creates it on the next change', async () => {
    const late = gw.clientFor('synclate');
    const u = (await late.post('/Users', user('was-here@example.com'))).body;
    await gw.gateway.connections.upsert('synclate', { connectors: [{ id: 'late-1', type: 'demo-late', mode: 'sync' }] });
    const r = await late.patch(`/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'Now' }] });
    expect(r.status).toBe(200);
    expect(lateDir.users.get('users/was-here@example.com')).toMatchObject({ scimId: u.id, attributes: expect.objectContaining({ title: 'Now' }) });
    expect(await gw.gateway.store.linkOf('late-1', u.id)).toBe('users/was-here@example.com');
  });

  it("turns the target's refusal into the IdP's SCIM error", async () => {
    const r = await strict.post('/Users', user('no-number@example.com'));
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ scimType: 'invalidValue' });
    expect(r.body.detail).toMatch(/connector "strict-1" refused the change: employee number is required for no-number@example.com/);
    expect((await strict.get(filterBy('no-number@example.com'))).body.totalResults).toBe(0);
  });
});

describe('claim protection across connections that write the same target', () => {
  const deliveredTo = async (connector: string) => waitFor(async () => (await pending(connector)) === 0, 5_000, `the delivery to ${connector}`);

  it('refuses an account another connection manages, found by externalId or by userName, and tells the IdP nothing of it', async () => {
    const ceo = await tenantA.post('/Users', user('ceo@a.example', { externalId: 'a-0001', displayName: 'CEO' }));
    expect(ceo.status).toBe(201);
    await deliveredTo('shared-a');
    for (const body of [user('mallory@b.example', { externalId: 'a-0001' }), user('ceo@a.example')]) {
      const r = await tenantB.post('/Users', body);
      expect(r.status).toBe(409);
      expect(r.body.detail).toMatch(/connector "shared-b" and is managed by another connection/);
      expect(r.body.detail).not.toMatch(/tenant-a|users\//);
    }
    expect(sharedDir.users.get('users/ceo@a.example')).toMatchObject({ scimId: ceo.body.id, attributes: expect.objectContaining({ displayName: 'CEO' }) });
    expect(sharedDir.users.has('users/mallory@b.example')).toBe(false);
  });

  it('dead-letters the takeover at delivery when the target could not be searched at create time', async () => {
    sharedDir.down = true;
    const r = await tenantB.post('/Users', user('mallory2@b.example', { externalId: 'a-0001' }));
    sharedDir.down = false;
    expect(r.status).toBe(201); // a target that is down never fails the IdP
    gw.gateway.outbox.kick();
    await waitFor(async () => (await gw.gateway.store.outboxList({ connector: 'shared-b', state: 'dead' })).length === 1, 15_000, 'the dead letter');
    const [dead] = await gw.gateway.store.outboxList({ connector: 'shared-b', state: 'dead' });
    expect(dead.lastError).toMatch(/users\/ceo@a\.example, found by externalId.*linked to a user of connection "tenant-a".*not taken over/);
    expect(sharedDir.users.get('users/ceo@a.example')?.attributes.displayName).toBe('CEO');
    expect(sharedDir.users.has('users/mallory2@b.example')).toBe(false);
  });

  it('takes the account over only where the connection\'s policy says link', async () => {
    const r = await tenantLink.post('/Users', user('ceo-copy@link.example', { externalId: 'a-0001', displayName: 'Adopted' }));
    expect(r.status).toBe(201);
    await deliveredTo('shared-link');
    expect(await gw.gateway.store.linkOf('shared-link', r.body.id)).toBe('users/ceo-copy@link.example');
    expect([...sharedDir.users.values()].filter((u) => u.externalId === 'a-0001').map((u) => u.userName)).toEqual(['ceo-copy@link.example']);
  });
});
