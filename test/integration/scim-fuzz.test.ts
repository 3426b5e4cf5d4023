/**
 * Hostile input over real HTTP: random filters, PATCH bodies, resource bodies and bulk requests
 * never produce a 500 or a crash; every 4xx is a SCIM error; a refused write changes nothing.
 * Bounded: a fixed number of runs per property.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PATCH_OP, ScimClient, startTestGateway, user, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let c: ScimClient;
let userId: string;
let groupId: string;

beforeAll(async () => {
  gw = await startTestGateway();
  c = gw.client;
  userId = (await c.post('/Users', user('fuzz@example.com', { emails: [{ value: 'fuzz@example.com', type: 'work' }] }))).body.id;
  groupId = (await c.post('/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Fuzzers', members: [{ value: userId }] })).body.id;
});
afterAll(async () => gw.stop());

const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

function expectWellFormed(r: { status: number; body: any; text: string }): void {
  expect(r.status, r.text).toBeLessThan(500);
  if (r.status >= 400) {
    expect(r.body?.schemas, r.text).toEqual([ERROR]);
    expect(r.body.status).toBe(String(r.status));
    expect(typeof r.body.detail).toBe('string');
  }
}

const attrNames = fc.constantFrom('userName', 'name.givenName', 'emails', 'emails.value', 'emails[type eq "work"].value', 'active', 'meta.created', 'externalId', 'members', 'members.value', 'displayName', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager', '__proto__', 'x', '');
const ops = fc.constantFrom('eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le', 'pr', 'EQ', 'and', 'or', 'not', '[', ']', '(', ')', '"', '.', 'foo');
const values = fc.oneof(fc.string(), fc.integer().map(String), fc.constantFrom('true', 'False', 'null', '"x"', '"2026-01-01T00:00:00Z"', '"\\u0000"', '"\\"'));
const filterish = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.array(fc.oneof(attrNames, ops, values), { maxLength: 12 }).map((parts) => parts.join(' ')),
);

const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(fc.oneof(fc.string(), attrNames), tie('value'), { maxKeys: 4 })),
})).value;

const patchOp = fc.record(
  {
    op: fc.constantFrom('add', 'replace', 'remove', 'Add', 'Replace', 'Remove', 'merge', ''),
    path: fc.oneof(attrNames, fc.string(), fc.constantFrom('members[value eq "' + 'x' + '"]', 'emails[type eq "home"].value', 'name', 'active', 'groups', 'id')),
    value: jsonValue,
  },
  { requiredKeys: [] },
);

describe('fuzz over HTTP (bounded)', () => {
  it('random filters on /Users and /Groups: 200 or a SCIM 400, never 500', async () => {
    await fc.assert(
      fc.asyncProperty(filterish, fc.constantFrom('Users', 'Groups'), async (filter, resource) => {
        const r = await c.get(`/${resource}?filter=${encodeURIComponent(filter)}`);
        expectWellFormed(r);
        expect([200, 400]).toContain(r.status);
      }),
      { numRuns: 300 },
    );
  });

  it('random PATCH bodies: applied or refused with a SCIM error; a refusal changes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(patchOp, { maxLength: 4 }), fc.constantFrom('Users', 'Groups'), async (operations, resource) => {
        const path = `/${resource}/${resource === 'Users' ? userId : groupId}`;
        const before = await c.get(path);
        const r = await c.patch(path, { schemas: [PATCH_OP], Operations: operations });
        expectWellFormed(r);
        if (r.status >= 400) expect((await c.get(path)).body).toEqual(before.body);
      }),
      { numRuns: 300 },
    );
  });

  it('random resource bodies on POST and PUT: never 500', async () => {
    await fc.assert(
      fc.asyncProperty(jsonValue, fc.constantFrom('POST /Users', 'POST /Groups', 'PUT /Users', 'POST /Bulk', 'POST /Users/.search'), async (body, route) => {
        const [method, path] = route.split(' ');
        const target = method === 'PUT' ? `${path}/${userId}` : path;
        const before = method === 'PUT' ? await c.get(target) : undefined;
        const r = await c.request(method, target, body);
        expectWellFormed(r);
        if (before && r.status >= 400) expect((await c.get(target)).body).toEqual(before.body);
      }),
      { numRuns: 300 },
    );
  });

  it('raw garbage bodies and odd headers: never 500', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 300 }), fc.constantFrom('application/scim+json', 'application/json; charset=latin1', 'text/plain', 'application/json'), async (text, type) => {
        const r = await c.request('POST', '/Users', text, { 'Content-Type': type });
        expectWellFormed(r);
      }),
      { numRuns: 200 },
    );
  });
});
