import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENTERPRISE, PATCH_OP, ScimClient, startTestGateway, user, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let c: ScimClient;

beforeAll(async () => {
  gw = await startTestGateway();
  c = gw.client;
});
afterAll(async () => gw.stop());

describe('Users: create, read, replace, patch, delete', () => {
  it('creates a user: 201, Location, ETag, full body, password never returned', async () => {
    const r = await c.post('/Users', {
      ...user('bjensen@example.com'),
      externalId: 'ext-1',
      password: 'Secr3t!',
      name: { givenName: 'Barbara', familyName: 'Jensen' },
      emails: [{ value: 'bjensen@example.com', type: 'work', primary: true }],
      [ENTERPRISE]: { employeeNumber: '701984', manager: 'mgr-id' },
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE],
    });
    expect(r.status).toBe(201);
    expect(r.headers.get('content-type')).toMatch(/^application\/scim\+json/);
    expect(r.headers.get('location')).toBe(`${gw.base}/Users/${r.body.id}`);
    expect(r.headers.get('etag')).toBe('W/"1"');
    expect(r.body).toMatchObject({
      userName: 'bjensen@example.com',
      externalId: 'ext-1',
      active: true,
      name: { givenName: 'Barbara', familyName: 'Jensen' },
      meta: { resourceType: 'User', version: 'W/"1"', location: `${gw.base}/Users/${r.body.id}` },
      [ENTERPRISE]: { employeeNumber: '701984', manager: { value: 'mgr-id' } },
    });
    expect(r.body.schemas).toContain(ENTERPRISE);
    expect(r.body.password).toBeUndefined();
    expect(r.text).not.toContain('Secr3t!');
    const again = await c.get(`/Users/${r.body.id}`);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(r.body);
  });

  it('refuses a duplicate userName case-insensitively with 409 uniqueness', async () => {
    await c.post('/Users', user('Dup@Example.com'));
    const r = await c.post('/Users', user('dup@example.COM'));
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({ status: '409', scimType: 'uniqueness', schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'] });
    expect(r.body.detail).toMatch(/userName/);
  });

  it('answers 404 with a SCIM error for an unknown id (status is a string)', async () => {
    const r = await c.get('/Users/does-not-exist');
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ status: '404', schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'] });
  });

  it('replaces with PUT, keeps id and created, bumps version; If-Match stale -> 412', async () => {
    const created = (await c.post('/Users', user('put@example.com', { displayName: 'Before' }))).body;
    const put = await c.put(`/Users/${created.id}`, { ...user('put@example.com'), displayName: 'After' }, { 'If-Match': 'W/"1"' });
    expect(put.status).toBe(200);
    expect(put.body.displayName).toBe('After');
    expect(put.body.meta.version).toBe('W/"2"');
    expect(put.body.meta.created).toBe(created.meta.created);
    const stale = await c.put(`/Users/${created.id}`, user('put@example.com', { displayName: 'Stale' }), { 'If-Match': 'W/"1"' });
    expect(stale.status).toBe(412);
    expect((await c.get(`/Users/${created.id}`)).body.displayName).toBe('After');
  });

  it('GET with If-None-Match of the current version answers 304', async () => {
    const created = (await c.post('/Users', user('etag@example.com'))).body;
    const r = await c.get(`/Users/${created.id}`, { 'If-None-Match': 'W/"1"' });
    expect(r.status).toBe(304);
  });

  it('patches with Entra string booleans and keeps a deactivated user readable', async () => {
    const created = (await c.post('/Users', user('entra-deact@example.com'))).body;
    const r = await c.patch(`/Users/${created.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] });
    expect(r.status).toBe(200);
    expect(r.body.active).toBe(false);
    expect(r.body['urn:ietf:params:scim:schemas:extension:scimbridge:2.0:User'].deactivatedAt).toBeTruthy();
    const listed = await c.get(`/Users?filter=${encodeURIComponent('userName eq "entra-deact@example.com"')}`);
    expect(listed.body.totalResults).toBe(1);
    const back = await c.patch(`/Users/${created.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: true } }] });
    expect(back.body.active).toBe(true);
    expect(back.body['urn:ietf:params:scim:schemas:extension:scimbridge:2.0:User'].deactivatedAt).toBeUndefined();
  });

  it('a failing PATCH operation applies none of the others (atomic)', async () => {
    const created = (await c.post('/Users', user('atomic@example.com', { displayName: 'Keep' }))).body;
    const r = await c.patch(`/Users/${created.id}`, {
      schemas: [PATCH_OP],
      Operations: [
        { op: 'replace', path: 'displayName', value: 'Changed' },
        { op: 'replace', path: 'noSuchAttribute', value: 'x' },
      ],
    });
    expect(r.status).toBe(400);
    expect(r.body.scimType).toBe('invalidPath');
    const after = await c.get(`/Users/${created.id}`);
    expect(after.body.displayName).toBe('Keep');
    expect(after.body.meta.version).toBe('W/"1"');
  });

  it('deletes: 204 then 404', async () => {
    const created = (await c.post('/Users', user('del@example.com'))).body;
    expect((await c.delete(`/Users/${created.id}`)).status).toBe(204);
    expect((await c.get(`/Users/${created.id}`)).status).toBe(404);
    expect((await c.delete(`/Users/${created.id}`)).status).toBe(404);
  });
});

describe('Users: list, filter, paging, sorting, projection', () => {
  beforeAll(async () => {
    for (let i = 0; i < 25; i++) {
      await c.post('/Users', user(`page${String(i).padStart(2, '0')}@list.example`, {
        externalId: `LIST-${i}`,
        name: { givenName: `Given${i}`, familyName: i % 2 ? 'Odd' : 'Even' },
        emails: [{ value: `page${i}@list.example`, type: 'work' }, { value: `home${i}@home.example`, type: 'home' }],
        title: i < 5 ? 'Engineer' : undefined,
      }));
    }
  });

  const q = (f: string) => `/Users?filter=${encodeURIComponent(f)}`;

  it.each([
    ['userName eq "PAGE03@list.example"', 1],
    ['userName eq "page03@list"', 0], // eq never matches partially (Entra then never creates)
    ['userName sw "page0" and name.familyName eq "odd"', 5],
    ['emails[type eq "work" and value co "@list.example"]', 25],
    ['emails[type eq "work"].value eq "page7@list.example"', 1],
    ['emails[type eq "home"].value eq "page7@list.example"', 0],
    ['externalId eq "LIST-3"', 1],
    ['externalId eq "list-3"', 0], // externalId is caseExact
    ['title pr and userName ew "@list.example"', 5],
    ['not (title pr) and userName ew "@list.example"', 20],
    ['(userName eq "page01@list.example" or userName eq "page02@list.example") and active eq true', 2],
    ['meta.created gt "2000-01-01T00:00:00Z" and userName co "@list."', 25],
    ['meta.created lt "2000-01-01T00:00:00Z"', 0],
    ['urn:ietf:params:scim:schemas:core:2.0:User:userName eq "page10@list.example"', 1],
  ])('filter %s -> %i', async (filter, expected) => {
    const r = await c.get(q(filter));
    expect(r.status).toBe(200);
    expect(r.body.totalResults).toBe(expected);
    expect(r.body.Resources).toHaveLength(expected);
  });

  it('answers an Entra-style probe with an empty ListResponse (Resources is [])', async () => {
    const r = await c.get('/Users?filter=userName+eq+%22a1b2c3d4-0000-4000-8000-000000000000%22');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: 0, startIndex: 1, itemsPerPage: 0, Resources: [] });
  });

  it('pages 1-based with a stable order and exact totalResults', async () => {
    const seen: string[] = [];
    let total = 0;
    for (let start = 1; ; start += 10) {
      const r = await c.get(`${q('userName ew "@list.example"')}&startIndex=${start}&count=10`);
      total = r.body.totalResults;
      expect(r.body.startIndex).toBe(start);
      seen.push(...r.body.Resources.map((x: any) => x.userName));
      if (r.body.Resources.length < 10) break;
    }
    expect(total).toBe(25);
    expect(new Set(seen).size).toBe(25);
  });

  it.each([
    ['startIndex=0&count=2', 1, 2],
    ['startIndex=-5&count=2', 1, 2],
    ['count=-1', 1, 0],
    ['count=0', 1, 0],
  ])('clamps %s', async (params, startIndex, items) => {
    const r = await c.get(`${q('userName ew "@list.example"')}&${params}`);
    expect(r.status).toBe(200);
    expect(r.body.startIndex).toBe(startIndex);
    expect(r.body.itemsPerPage).toBe(items);
    expect(r.body.totalResults).toBe(25);
  });

  it('sorts by a sub-attribute, both orders', async () => {
    const asc = await c.get(`${q('userName ew "@list.example"')}&sortBy=name.givenName&sortOrder=ascending&count=3`);
    expect(asc.body.Resources.map((x: any) => x.name.givenName)).toEqual(['Given0', 'Given1', 'Given10']);
    const desc = await c.get(`${q('userName ew "@list.example"')}&sortBy=userName&sortOrder=descending&count=2`);
    expect(desc.body.Resources.map((x: any) => x.userName)).toEqual(['page24@list.example', 'page23@list.example']);
  });

  it('honours attributes and excludedAttributes; id and schemas always returned', async () => {
    const a = await c.get(`${q('userName eq "page01@list.example"')}&attributes=userName,name.givenName`);
    expect(a.body.Resources[0]).toEqual({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      id: expect.any(String),
      userName: 'page01@list.example',
      name: { givenName: 'Given1' },
    });
    const e = await c.get(`${q('userName eq "page01@list.example"')}&excludedAttributes=emails,meta`);
    expect(e.body.Resources[0].emails).toBeUndefined();
    expect(e.body.Resources[0].meta).toBeUndefined();
    expect(e.body.Resources[0].userName).toBe('page01@list.example');
  });

  it('POST /.search gives the same answer as GET', async () => {
    const r = await c.post('/Users/.search', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'],
      filter: 'userName sw "page1"',
      attributes: ['userName'],
      startIndex: 1,
      count: 5,
      sortBy: 'userName',
    });
    expect(r.status).toBe(200);
    expect(r.body.totalResults).toBe(10);
    expect(r.body.Resources.map((x: any) => x.userName)).toEqual([10, 11, 12, 13, 14].map((i) => `page${i}@list.example`));
  });
});

describe('connections keep private user sets (RFC7644 §6)', () => {
  it('a user created on one connection is invisible to another, and its userName is free there', async () => {
    const other = gw.clientFor('second');
    const mine = (await c.post('/Users', user('shared-name@example.com'))).body;
    expect((await other.get(`/Users/${mine.id}`)).status).toBe(404);
    const list = await other.get(`/Users?filter=${encodeURIComponent('userName eq "shared-name@example.com"')}`);
    expect(list.body.totalResults).toBe(0);
    expect((await other.post('/Users', user('shared-name@example.com'))).status).toBe(201);
  });
});
