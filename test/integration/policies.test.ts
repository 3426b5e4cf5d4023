/** Connection policies through real SCIM requests (issue 3: every seed product's rule is a policy). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/gateway/auth/index.js';
import { PATCH_OP, ScimClient, startTestGateway, user, type TestGateway } from '../helpers/gateway.js';

const BRIDGE = 'urn:ietf:params:scim:schemas:extension:scimbridge:2.0:User';

let gw: TestGateway;
const clients: Record<string, ScimClient> = {};

beforeAll(async () => {
  gw = await startTestGateway({
    connections: {
      locked: { policies: { allowCreate: false } },
      corp: { policies: { allowedDomains: ['example.com', '*.example.org'], defaultRole: 'viewer', defaultUserType: 'Employee' } },
      strict: { policies: { emailImmutable: true } },
      owners: { policies: { lastOwnerRole: 'owner' } },
    },
  });
  clients.default = gw.client;
  // Config-declared connections exist on start: tokens can be created for them right away.
  for (const name of ['locked', 'corp', 'strict', 'owners']) clients[name] = new ScimClient(gw.base, createToken(gw.dataDir, { name, connection: name }).token);
});
afterAll(async () => gw.stop());

const deactivate = (id: string) => ({ schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] });

describe('defaults: role and user type', () => {
  it('fills the default role and user type, keeps what the IdP sends, and keeps them through a PUT that leaves them out', async () => {
    const c = clients.default;
    const plain = (await c.post('/Users', user('plain@example.com'))).body;
    expect(plain[BRIDGE]).toEqual({ role: 'member', userType: 'Internal' });
    const withRole = (await c.post('/Users', { ...user('admin@example.com'), [BRIDGE]: { role: 'admin' }, userType: 'Contractor' })).body;
    expect(withRole[BRIDGE]).toMatchObject({ role: 'admin', userType: 'Contractor' });
    const put = (await c.put(`/Users/${withRole.id}`, user('admin@example.com', { displayName: 'Admin' }))).body;
    expect(put[BRIDGE]).toMatchObject({ role: 'admin', userType: 'Contractor' });
    const roleChange = await c.patch(`/Users/${withRole.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: `${BRIDGE}:role`, value: 'member' }] });
    expect(roleChange.body[BRIDGE].role).toBe('member');
  });

  it('uses the connection\'s own defaults', async () => {
    const r = await clients.corp.post('/Users', user('worker@example.com'));
    expect(r.body[BRIDGE]).toEqual({ role: 'viewer', userType: 'Employee' });
  });

  it('reactivation restores the role the user had', async () => {
    const c = clients.default;
    const u = (await c.post('/Users', { ...user('returning@example.com'), [BRIDGE]: { role: 'editor' } })).body;
    await c.patch(`/Users/${u.id}`, deactivate(u.id));
    const back = await c.patch(`/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: 'True' }] });
    expect(back.body[BRIDGE]).toEqual({ role: 'editor', userType: 'Internal' });
  });
});

describe('delete: soft by default, hard by policy', () => {
  it('soft: 204, then hidden from SCIM (404, not listed), the record kept, and the userName free again', async () => {
    const c = clients.default;
    const u = (await c.post('/Users', user('leaver@example.com'))).body;
    expect((await c.delete(`/Users/${u.id}`)).status).toBe(204);
    expect((await c.get(`/Users/${u.id}`)).status).toBe(404);
    expect((await c.get(`/Users?filter=${encodeURIComponent('userName eq "leaver@example.com"')}`)).body.totalResults).toBe(0);
    const kept = await gw.gateway.store.deleted('default', 'User');
    expect(kept.find((r) => r.id === u.id)).toMatchObject({ data: { userName: 'leaver@example.com', active: false } });
    const again = await c.post('/Users', user('leaver@example.com'));
    expect(again.status).toBe(201);
    expect(again.body.id).not.toBe(u.id);
  });
});

describe('allow-create', () => {
  it('refuses creates with 403 and a detail saying which policy, creating nothing', async () => {
    const r = await clients.locked.post('/Users', user('new@example.com'));
    expect(r.status).toBe(403);
    expect(r.body.detail).toMatch(/allowCreate/);
    expect((await clients.locked.get('/Users')).body.totalResults).toBe(0);
  });
});

describe('domain allow-list', () => {
  it('accepts allowed domains and subdomains of a wildcard', async () => {
    expect((await clients.corp.post('/Users', user('a@example.com'))).status).toBe(201);
    expect((await clients.corp.post('/Users', user('b@eu.example.org'))).status).toBe(201);
  });

  it('refuses another domain with a detail naming it and where to allow it', async () => {
    const r = await clients.corp.post('/Users', user('x@partner.com', { emails: [{ value: 'x@partner.com', type: 'work' }] }));
    expect(r.status).toBe(400);
    expect(r.body.scimType).toBe('invalidValue');
    expect(r.body.detail).toMatch(/"partner\.com"/);
    expect(r.body.detail).toMatch(/connections\.corp\.policies\.allowedDomains/);
  });

  it('refuses a PATCH adding an address in a refused domain, changing nothing', async () => {
    const u = (await clients.corp.post('/Users', user('c@example.com'))).body;
    const r = await clients.corp.patch(`/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'emails', value: [{ value: 'c@gmail.com', type: 'home' }] }] });
    expect(r.status).toBe(400);
    expect((await clients.corp.get(`/Users/${u.id}`)).body.emails).toBeUndefined();
  });
});

describe('email immutability', () => {
  it('refuses a change of email with 400 mutability and allows other changes', async () => {
    const c = clients.strict;
    const u = (await c.post('/Users', user('fixed@example.com', { emails: [{ value: 'fixed@example.com', type: 'work' }] }))).body;
    const change = await c.patch(`/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'emails[type eq "work"].value', value: 'moved@example.com' }] });
    expect(change.status).toBe(400);
    expect(change.body.scimType).toBe('mutability');
    expect((await c.get(`/Users/${u.id}`)).body.emails[0].value).toBe('fixed@example.com');
    const other = await c.patch(`/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'Fixed' }] });
    expect(other.status).toBe(200);
  });
});

describe('last-owner protection', () => {
  it('refuses deactivating or deleting the last active owner (409 mutability) until another owner exists', async () => {
    const c = clients.owners;
    const a = (await c.post('/Users', { ...user('owner-a@example.com'), [BRIDGE]: { role: 'owner' } })).body;
    const b = (await c.post('/Users', user('member-b@example.com'))).body;
    for (const r of [await c.patch(`/Users/${a.id}`, deactivate(a.id)), await c.delete(`/Users/${a.id}`), await c.put(`/Users/${a.id}`, user('owner-a@example.com', { active: false }))]) {
      expect(r.status).toBe(409);
      expect(r.body).toMatchObject({ scimType: 'mutability', status: '409' });
      expect(r.body.detail).toMatch(/last active user with role "owner"/);
    }
    expect((await c.get(`/Users/${a.id}`)).body.active).toBe(true);
    await c.patch(`/Users/${b.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: `${BRIDGE}:role`, value: 'owner' }] });
    expect((await c.patch(`/Users/${a.id}`, deactivate(a.id))).status).toBe(200);
    expect((await c.delete(`/Users/${b.id}`)).status).toBe(409);
  });

  it('two concurrent deactivations of the last two owners: exactly one succeeds', async () => {
    const c = clients.owners;
    const x = (await c.post('/Users', { ...user('owner-x@example.com'), [BRIDGE]: { role: 'owner' } })).body;
    const y = (await c.post('/Users', { ...user('owner-y@example.com'), [BRIDGE]: { role: 'owner' } })).body;
    // the owner left active by the previous test must go first, so that x and y are the last two
    const others = (await c.get(`/Users?filter=${encodeURIComponent(`${BRIDGE}:role eq "owner" and active eq true`)}`)).body.Resources.filter((r: any) => r.id !== x.id && r.id !== y.id);
    for (const o of others) expect((await c.delete(`/Users/${o.id}`)).status).toBe(204);
    const results = await Promise.all([c.patch(`/Users/${x.id}`, deactivate(x.id)), c.patch(`/Users/${y.id}`, deactivate(y.id))]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
  });
});
