/**
 * Bad input gets a precise SCIM error (status, scimType, a detail a human can act on), changes
 * nothing, and never a 500.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PATCH_OP, ScimClient, startTestGateway, user, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let c: ScimClient;
let userId: string;
let groupId: string;

beforeAll(async () => {
  gw = await startTestGateway({});
  c = gw.client;
  userId = (await c.post('/Users', user('victim@example.com', { displayName: 'Victim' }))).body.id;
  groupId = (await c.post('/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Victims' })).body.id;
});
afterAll(async () => gw.stop());

const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

type Row = [string, string, string, unknown, number, string | undefined, RegExp?];
const rows = (): Row[] => [
  ['filter: unknown operator', 'GET', '/Users?filter=' + encodeURIComponent('userName equals "x"'), undefined, 400, 'invalidFilter', /operator/],
  ['filter: unterminated string', 'GET', '/Users?filter=' + encodeURIComponent('userName eq "x'), undefined, 400, 'invalidFilter'],
  ['filter: unbalanced parenthesis', 'GET', '/Users?filter=' + encodeURIComponent('(userName eq "x"'), undefined, 400, 'invalidFilter'],
  ['filter: unknown attribute', 'GET', '/Users?filter=' + encodeURIComponent('shoeSize eq 3'), undefined, 400, 'invalidFilter', /shoeSize/],
  ['filter: gt on a boolean', 'GET', '/Users?filter=' + encodeURIComponent('active gt true'), undefined, 400, 'invalidFilter'],
  ['filter: too long', 'GET', '/Users?filter=' + encodeURIComponent('userName eq "' + 'a'.repeat(5000) + '"'), undefined, 400, 'invalidFilter', /4096/],
  ['filter: too deep', 'GET', '/Users?filter=' + encodeURIComponent('('.repeat(40) + 'userName eq "x"' + ')'.repeat(40)), undefined, 400, 'invalidFilter'],
  ['filter: prototype key', 'GET', '/Users?filter=' + encodeURIComponent('__proto__ eq "x"'), undefined, 400, 'invalidFilter'],
  ['filter given twice', 'GET', '/Users?filter=a&filter=b', undefined, 400, 'invalidValue'],
  ['startIndex not a number', 'GET', '/Users?startIndex=abc', undefined, 400, 'invalidValue', /startIndex/],
  ['sortOrder invalid', 'GET', '/Users?sortOrder=sideways', undefined, 400, 'invalidValue'],
  ['sortBy unknown', 'GET', '/Users?sortBy=nope', undefined, 400, 'invalidValue'],
  ['attributes and excludedAttributes both', 'GET', '/Users?attributes=userName&excludedAttributes=emails', undefined, 400, 'invalidValue'],
  ['POST: not JSON', 'POST', '/Users', '{"userName": ', 400, 'invalidSyntax', /JSON/],
  ['POST: array body', 'POST', '/Users', [1, 2], 400, 'invalidSyntax'],
  ['POST: missing userName', 'POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'] }, 400, 'invalidValue', /userName/],
  ['POST: userName not a string', 'POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: { a: 1 } }, 400, 'invalidValue', /userName/],
  ['POST: wrong schemas', 'POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], userName: 'x' }, 400, 'invalidValue', /schemas/],
  ['POST: bad boolean', 'POST', '/Users', user('b@x.com', { active: 'maybe' }), 400, 'invalidValue', /active/],
  ['POST: two primary emails', 'POST', '/Users', user('p@x.com', { emails: [{ value: 'a@x.com', primary: true }, { value: 'b@x.com', primary: true }] }), 400, 'invalidValue', /primary/],
  ['POST: emails not objects', 'POST', '/Users', user('e@x.com', { emails: ['a@x.com'] }), 400, 'invalidValue'],
  ['POST: __proto__ key', 'POST', '/Users', '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"pp@x.com","__proto__":{"admin":true}}', 400, 'invalidValue', /__proto__/],
  ['POST: complex given as a string', 'POST', '/Users', user('d@x.com', { name: 'Barbara Jensen' }), 400, 'invalidValue', /name/],
  ['PATCH: missing schemas', 'PATCH', '/Users/{user}', { Operations: [{ op: 'replace', path: 'displayName', value: 'x' }] }, 400, 'invalidSyntax'],
  ['PATCH: unknown op', 'PATCH', '/Users/{user}', { schemas: [PATCH_OP], Operations: [{ op: 'merge', path: 'displayName', value: 'x' }] }, 400, 'invalidSyntax', /merge/],
  ['PATCH: bad path syntax', 'PATCH', '/Users/{user}', { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'emails[type eq', value: 'x' }] }, 400, 'invalidPath'],
  ['PATCH: remove without path', 'PATCH', '/Users/{user}', { schemas: [PATCH_OP], Operations: [{ op: 'remove' }] }, 400, 'noTarget'],
  ['PATCH: readOnly id', 'PATCH', '/Users/{user}', { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'id', value: 'other' }] }, 400, 'mutability'],
  ['PATCH: bad value type', 'PATCH', '/Users/{user}', { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: 'perhaps' }] }, 400, 'invalidValue'],
  ['PATCH: group with unknown member', 'PATCH', '/Groups/{group}', { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: 'no-such-user' }] }] }, 400, 'invalidValue', /no-such-user/],
  ['PATCH: unknown user', 'PATCH', '/Users/nope', { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'x' }] }, 404, undefined],
  ['PUT: id differs from URL', 'PUT', '/Users/{user}', user('victim@example.com', { id: 'another' }), 400, 'mutability'],
  ['PUT: text/plain body', 'PUT', '/Users/{user}', 'hello', 400, 'invalidSyntax', /Content-Type/],
  ['Bulk: no schema', 'POST', '/Bulk', { Operations: [] }, 400, 'invalidSyntax'],
  ['Bulk: too many operations', 'POST', '/Bulk', { schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'], Operations: Array.from({ length: 1001 }, () => ({ method: 'DELETE', path: '/Users/x' })) }, 413, 'tooMany', /1000/],
  ['search: no schema', 'POST', '/Users/.search', { filter: 'userName eq "x"' }, 400, 'invalidSyntax'],
  ['POST: a SCIM 1.1 body', 'POST', '/Users', { schemas: ['urn:scim:schemas:core:1.0'], userName: 'old@x.com' }, 400, 'invalidVers', /SCIM 2\.0/],
  ['PATCH: a SCIM 1.1 body', 'PATCH', '/Users/{user}', { schemas: ['urn:scim:schemas:core:1.0'], meta: { attributes: ['displayName'] } }, 400, 'invalidVers'],
  ['unknown endpoint', 'GET', '/Widgets', undefined, 404, undefined],
  ['method not allowed', 'PUT', '/Users', user('x@x.com'), 405, undefined],
  ['/Me is not implemented', 'GET', '/Me', undefined, 501, undefined],
];

describe('bad input -> precise SCIM error, nothing changed, never 500', () => {
  it.each(rows())('%s', async (_name, method, rawPath, body, status, scimType, detail) => {
    const before = (await c.get(`/Users/${userId}`)).body;
    const path = rawPath.replace('{user}', userId).replace('{group}', groupId);
    const headers: Record<string, string> = {};
    if (_name.includes('text/plain')) headers['Content-Type'] = 'text/plain';
    const r = await c.request(method, path, body, headers);
    expect(r.status).toBe(status);
    expect(r.headers.get('content-type')).toMatch(/^application\/scim\+json/);
    expect(r.body.schemas).toEqual([ERROR]);
    expect(r.body.status).toBe(String(status));
    if (scimType) expect(r.body.scimType).toBe(scimType);
    expect(typeof r.body.detail).toBe('string');
    expect(r.body.detail.length).toBeGreaterThan(10);
    if (detail) expect(r.body.detail).toMatch(detail);
    expect((await c.get(`/Users/${userId}`)).body).toEqual(before);
  });

  it('a SCIM 1.1 URL answers 400 invalidVers', async () => {
    const v1 = await new ScimClient(gw.base.replace('/scim/v2', '/scim/v1'), gw.token).get('/Users');
    expect(v1.status).toBe(400);
    expect(v1.body).toMatchObject({ scimType: 'invalidVers', status: '400' });
  });

  it('413 for an oversized body', async () => {
    const r = await c.post('/Users', user('big@x.com', { displayName: 'x'.repeat(2_000_000) }));
    expect(r.status).toBe(413);
    expect(r.body.schemas).toEqual([ERROR]);
  });

  it('401 with WWW-Authenticate for a missing, malformed or unknown token', async () => {
    for (const auth of [undefined, 'Basic abc', 'Bearer nope', 'Bearer scb_' + 'A'.repeat(43)]) {
      const r = await new ScimClient(gw.base, undefined).get('/Users', auth ? { Authorization: auth } : {});
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(r.body).toMatchObject({ schemas: [ERROR], status: '401' });
    }
  });

  it('accepts application/json and application/scim+json; charset=utf-8', async () => {
    const a = await c.post('/Users', user('json@x.com'), { 'Content-Type': 'application/json' });
    expect(a.status).toBe(201);
    const b = await c.post('/Users', user('scimjson@x.com'), { 'Content-Type': 'application/scim+json; charset=utf-8' });
    expect(b.status).toBe(201);
  });
});
