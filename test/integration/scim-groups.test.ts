import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP_SCHEMA, PATCH_OP, ScimClient, startTestGateway, user, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let c: ScimClient;
const users: string[] = [];

beforeAll(async () => {
  gw = await startTestGateway();
  c = gw.client;
  for (let i = 0; i < 220; i++) users.push((await c.post('/Users', user(`member${i}@example.com`, { displayName: `Member ${i}` }))).body.id);
});
afterAll(async () => gw.stop());

const group = (displayName: string, members: string[] = []) => ({ schemas: [GROUP_SCHEMA], displayName, members: members.map((value) => ({ value })) });
const memberIds = async (id: string) => ((await c.get(`/Groups/${id}`)).body.members ?? []).map((m: any) => m.value).sort();

describe('Groups', () => {
  it('creates with members, fills display and type, shows groups on users', async () => {
    const r = await c.post('/Groups', group('Engineering', users.slice(0, 3)));
    expect(r.status).toBe(201);
    expect(r.body.members).toHaveLength(3);
    expect(r.body.members[0]).toMatchObject({ value: users[0], display: 'Member 0', type: 'User', $ref: `${gw.base}/Users/${users[0]}` });
    const u = await c.get(`/Users/${users[1]}`);
    expect(u.body.groups).toEqual([{ value: r.body.id, display: 'Engineering', type: 'direct', $ref: `${gw.base}/Groups/${r.body.id}` }]);
  });

  it('excludedAttributes=members leaves the list out; PATCH answers 204 without echoing members', async () => {
    const g = (await c.post('/Groups', group('NoEcho', users.slice(0, 50)))).body;
    const listed = await c.get(`/Groups?excludedAttributes=members&filter=${encodeURIComponent('displayName eq "noecho"')}`);
    expect(listed.body.Resources[0].members).toBeUndefined();
    expect(listed.body.Resources[0].displayName).toBe('NoEcho');
    const p = await c.patch(`/Groups/${g.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: users[60] }] }] });
    expect(p.status).toBe(204);
    expect(p.text).toBe('');
    const withAttrs = await c.patch(`/Groups/${g.id}?attributes=displayName`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: users[61] }] }] });
    expect(withAttrs.status).toBe(200);
    expect(withAttrs.body.members).toBeUndefined();
    expect(withAttrs.body.meta).toBeUndefined();
    expect(withAttrs.body.displayName).toBe('NoEcho');
  });

  it('200 concurrent PATCHes adding different members to one group: none lost', async () => {
    const g = (await c.post('/Groups', group('Concurrent'))).body;
    const results = await Promise.all(
      users.slice(0, 200).map((id) => c.patch(`/Groups/${g.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'Add', path: 'members', value: [{ value: id }] }] })),
    );
    expect(results.every((r) => r.status === 204)).toBe(true);
    expect(await memberIds(g.id)).toEqual(users.slice(0, 200).sort());
    expect((await c.get(`/Groups/${g.id}`)).body.meta.version).toBe('W/"201"');
  });

  it('concurrent PUTs with the same If-Match: exactly one wins, the others get 412', async () => {
    const g = (await c.post('/Groups', group('Race'))).body;
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => c.put(`/Groups/${g.id}`, group(`Race ${i}`), { 'If-Match': g.meta.version })),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 412)).toHaveLength(9);
  });

  it('filters groups by member and by displayName case-insensitively', async () => {
    const g = (await c.post('/Groups', group('Filterable', [users[100]]))).body;
    const byMember = await c.get(`/Groups?filter=${encodeURIComponent(`members[value eq "${users[100]}"]`)}&excludedAttributes=members`);
    expect(byMember.body.Resources.map((x: any) => x.id)).toContain(g.id);
    const byName = await c.get(`/Groups?filter=${encodeURIComponent('displayName eq "FILTERABLE"')}`);
    expect(byName.body.totalResults).toBe(1);
  });

  it('deleting a user removes it from its groups', async () => {
    const victim = (await c.post('/Users', user('leaver@example.com'))).body.id;
    const g = (await c.post('/Groups', group('Leavers', [victim, users[5]]))).body;
    expect((await c.delete(`/Users/${victim}`)).status).toBe(204);
    expect(await memberIds(g.id)).toEqual([users[5]]);
  });

  it('refuses a group containing itself and unknown members, changing nothing', async () => {
    const g = (await c.post('/Groups', group('Selfish', [users[7]]))).body;
    const self = await c.patch(`/Groups/${g.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: g.id }] }] });
    expect(self.status).toBe(400);
    expect(self.body.scimType).toBe('invalidValue');
    const mixed = await c.patch(`/Groups/${g.id}`, {
      schemas: [PATCH_OP],
      Operations: [
        { op: 'add', path: 'members', value: [{ value: users[8] }] },
        { op: 'add', path: 'members', value: [{ value: 'ghost' }] },
      ],
    });
    expect(mixed.status).toBe(400);
    expect(await memberIds(g.id)).toEqual([users[7]]);
  });

  it('groups can be members of groups', async () => {
    const inner = (await c.post('/Groups', group('Inner', [users[9]]))).body;
    const outer = (await c.post('/Groups', group('Outer'))).body;
    const p = await c.patch(`/Groups/${outer.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: inner.id, type: 'Group' }] }] });
    expect(p.status).toBe(204);
    const got = (await c.get(`/Groups/${outer.id}`)).body;
    expect(got.members).toEqual([{ value: inner.id, type: 'Group', display: 'Inner', $ref: `${gw.base}/Groups/${inner.id}` }]);
  });
});

describe('Bulk', () => {
  it('creates a user and a group referencing it by bulkId, in one request', async () => {
    const r = await c.post('/Bulk', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
      Operations: [
        { method: 'POST', path: '/Users', bulkId: 'u1', data: user('bulk1@example.com') },
        { method: 'POST', path: '/Groups', bulkId: 'g1', data: { schemas: [GROUP_SCHEMA], displayName: 'Bulk group', members: [{ value: 'bulkId:u1' }] } },
        { method: 'PATCH', path: '/Users/bulkId:u1', data: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'Bulky' }] } },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.body.schemas).toEqual(['urn:ietf:params:scim:api:messages:2.0:BulkResponse']);
    const [u, g, p] = r.body.Operations;
    expect(u).toMatchObject({ method: 'POST', bulkId: 'u1', status: '201', version: 'W/"1"' });
    expect(g.status).toBe('201');
    expect(p.status).toBe('200');
    const userId = u.location.split('/').pop();
    expect(await memberIds(g.location.split('/').pop())).toEqual([userId]);
    expect((await c.get(`/Users/${userId}`)).body.displayName).toBe('Bulky');
  });

  it('failOnErrors stops after that many errors and reports each error as a SCIM error', async () => {
    const r = await c.post('/Bulk', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
      failOnErrors: 1,
      Operations: [
        { method: 'POST', path: '/Users', bulkId: 'a', data: user('bulk-dup@example.com') },
        { method: 'POST', path: '/Users', bulkId: 'b', data: user('bulk-dup@example.com') },
        { method: 'POST', path: '/Users', bulkId: 'c', data: user('bulk-never@example.com') },
      ],
    });
    expect(r.body.Operations).toHaveLength(2);
    expect(r.body.Operations[1]).toMatchObject({ status: '409', response: { scimType: 'uniqueness', status: '409' } });
    const never = await c.get(`/Users?filter=${encodeURIComponent('userName eq "bulk-never@example.com"')}`);
    expect(never.body.totalResults).toBe(0);
  });

  it('refuses a bulkId reference to nothing', async () => {
    const r = await c.post('/Bulk', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
      Operations: [{ method: 'POST', path: '/Groups', bulkId: 'x', data: { schemas: [GROUP_SCHEMA], displayName: 'Dangling', members: [{ value: 'bulkId:missing' }] } }],
    });
    expect(r.body.Operations[0]).toMatchObject({ status: '400', response: { scimType: 'invalidValue' } });
  });
});

describe('discovery', () => {
  it('ServiceProviderConfig tells the truth, limits included', async () => {
    const r = await c.get('/ServiceProviderConfig');
    expect(r.body).toMatchObject({
      patch: { supported: true },
      bulk: { supported: true, maxOperations: 1000, maxPayloadSize: 1048576 },
      filter: { supported: true, maxResults: 1000 },
      sort: { supported: true },
      etag: { supported: true },
      changePassword: { supported: false },
    });
    expect(r.body.authenticationSchemes[0].type).toBe('oauthbearertoken');
  });

  it('ResourceTypes lists User (with both extensions) and Group; /Schemas has no nulls', async () => {
    const rt = await c.get('/ResourceTypes');
    expect(rt.body.totalResults).toBe(2);
    expect(rt.body.Resources[0].schemaExtensions.map((e: any) => e.schema)).toEqual([
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
      'urn:ietf:params:scim:schemas:extension:scimbridge:2.0:User',
    ]);
    expect((await c.get('/ResourceTypes/Group')).body.endpoint).toBe('/Groups');
    const schemas = await c.get('/Schemas');
    expect(schemas.body.Resources.map((s: any) => s.id)).toEqual([
      'urn:ietf:params:scim:schemas:core:2.0:User',
      'urn:ietf:params:scim:schemas:core:2.0:Group',
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
      'urn:ietf:params:scim:schemas:extension:scimbridge:2.0:User',
    ]);
    expect(schemas.text).not.toContain('null');
    const one = await c.get('/Schemas/urn:ietf:params:scim:schemas:core:2.0:User');
    expect(one.body.attributes.find((a: any) => a.name === 'password')).toMatchObject({ returned: 'never', mutability: 'writeOnly' });
    expect((await c.get('/Schemas/urn:nope')).status).toBe(404);
  });
});
