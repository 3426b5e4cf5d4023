/**
 * Replays every PATCH that docs/idp/wire-behaviour.md describes for Entra ID and Okta, as literal JSON
 * bodies (parsed with JSON.parse, as express would), against the test schema and against the
 * product's schema registry.
 */
import { describe, expect, it } from 'vitest';
import { ScimError } from '../errors.js';
import type { Member, ScimJson } from '../../store/types.js';
import { createSchemaRegistry } from '../schemas/registry.js';
import type { AttributeResolver } from '../schemas/attribute.js';
import { applyPatch, needsMemberList, parsePatchRequest, type MemberDelta, type PatchContext } from './index.js';
import { ENTERPRISE, groupResolver, LIMITS, userResolver } from './schema.fixture.js';

const registry = createSchemaRegistry();
const schemaSets: Array<[string, { User: AttributeResolver; Group: AttributeResolver }]> = [
  ['test schema', { User: userResolver, Group: groupResolver }],
  ['product schema', { User: registry.resolver('User'), Group: registry.resolver('Group') }],
];

interface Step {
  /** The request body exactly as on the wire. */
  wire: string;
  /** Expected resource JSON after the step, or the expected error. */
  data?: ScimJson;
  members?: MemberDelta;
  error?: { scimType: string; status: number };
}

interface Sequence {
  name: string;
  type: 'User' | 'Group';
  id: string;
  start: ScimJson;
  steps: Step[];
}

const sequences: Sequence[] = [
  {
    name: 'Entra: default deprovisioning sends a string boolean',
    type: 'User',
    id: '2819c223',
    start: { userName: 'bjensen@contoso.com', active: true },
    steps: [
      {
        wire: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`,
        data: { userName: 'bjensen@contoso.com', active: false },
      },
      {
        wire: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"True"}]}`,
        data: { userName: 'bjensen@contoso.com', active: true },
      },
    ],
  },
  {
    name: 'Entra: attribute updates with capitalised ops, creating filtered elements',
    type: 'User',
    id: '2819c223',
    start: { userName: 'bjensen@contoso.com', active: true },
    steps: [
      {
        wire: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
          {"op":"Add","path":"displayName","value":"Barbara Jensen"},
          {"op":"Add","path":"name.givenName","value":"Barbara"},
          {"op":"Add","path":"emails[type eq \\"work\\"].value","value":"bjensen@contoso.com"},
          {"op":"Add","path":"addresses[type eq \\"work\\"].postalCode","value":"98052"},
          {"op":"Add","path":"phoneNumbers[type eq \\"mobile\\"].value","value":"+1 425 555 0100"},
          {"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"701984"},
          {"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"a1b2c3"}]}`,
        data: {
          userName: 'bjensen@contoso.com',
          active: true,
          displayName: 'Barbara Jensen',
          name: { givenName: 'Barbara' },
          emails: [{ type: 'work', value: 'bjensen@contoso.com' }],
          addresses: [{ type: 'work', postalCode: '98052' }],
          phoneNumbers: [{ type: 'mobile', value: '+1 425 555 0100' }],
          [ENTERPRISE]: { employeeNumber: '701984', manager: { value: 'a1b2c3' } },
        },
      },
      {
        wire: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
          {"op":"Replace","path":"displayName","value":"Babs Jensen"},
          {"op":"Replace","path":"name.givenName","value":"Babs"},
          {"op":"Replace","path":"emails[type eq \\"work\\"].value","value":"babs@contoso.com"},
          {"op":"Replace","path":"addresses[type eq \\"work\\"].postalCode","value":"98053"},
          {"op":"Replace","path":"phoneNumbers[type eq \\"mobile\\"].value","value":"+1 425 555 0199"},
          {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"701985"},
          {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":[{"$ref":"https://scim.example/Users/d4e5f6","value":"d4e5f6"}]}]}`,
        data: {
          userName: 'bjensen@contoso.com',
          active: true,
          displayName: 'Babs Jensen',
          name: { givenName: 'Babs' },
          emails: [{ type: 'work', value: 'babs@contoso.com' }],
          addresses: [{ type: 'work', postalCode: '98053' }],
          phoneNumbers: [{ type: 'mobile', value: '+1 425 555 0199' }],
          [ENTERPRISE]: { employeeNumber: '701985', manager: { value: 'd4e5f6' } },
        },
      },
      {
        wire: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
          {"op":"Remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"},
          {"op":"Replace","path":"phoneNumbers[type eq \\"work\\"].value","value":"+1 425 555 0000"}]}`,
        data: {
          userName: 'bjensen@contoso.com',
          active: true,
          displayName: 'Babs Jensen',
          name: { givenName: 'Babs' },
          emails: [{ type: 'work', value: 'babs@contoso.com' }],
          addresses: [{ type: 'work', postalCode: '98053' }],
          phoneNumbers: [
            { type: 'mobile', value: '+1 425 555 0199' },
            { type: 'work', value: '+1 425 555 0000' },
          ],
          [ENTERPRISE]: { employeeNumber: '701985' },
        },
      },
    ],
  },
  {
    name: 'Entra ?aadOptscim062020: lowercase ops, real booleans, no-path replace with dotted and URN keys',
    type: 'User',
    id: '2819c223',
    start: { userName: 'bjensen@contoso.com', active: true, name: { givenName: 'Barbara', familyName: 'Jensen' } },
    steps: [
      {
        wire: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{
          "displayName":"Babs",
          "name.givenName":"Babs",
          "emails[type eq \\"work\\"].value":"babs@contoso.com",
          "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Tour Operations",
          "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager":"a1b2c3",
          "active":false}}]}`,
        data: {
          userName: 'bjensen@contoso.com',
          active: false,
          displayName: 'Babs',
          name: { givenName: 'Babs', familyName: 'Jensen' },
          emails: [{ type: 'work', value: 'babs@contoso.com' }],
          [ENTERPRISE]: { department: 'Tour Operations', manager: { value: 'a1b2c3' } },
        },
      },
    ],
  },
  {
    name: 'Entra: group members added and removed by value arrays, several per PATCH',
    type: 'Group',
    id: 'g-entra',
    start: { displayName: 'Sales' },
    steps: [
      {
        wire: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"$ref":null,"value":"u1"},{"$ref":null,"value":"u2"},{"$ref":null,"value":"u3"}]}]}`,
        data: { displayName: 'Sales' },
        members: { add: [{ value: 'u1' }, { value: 'u2' }, { value: 'u3' }], remove: [] },
      },
      {
        // A naive server removes everyone here: only u1 and u3 must go.
        wire: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Remove","path":"members","value":[{"$ref":null,"value":"u1"},{"$ref":null,"value":"u3"}]}]}`,
        data: { displayName: 'Sales' },
        members: { add: [], remove: ['u1', 'u3'] },
      },
      {
        wire: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"displayName","value":"Sales EMEA"}]}`,
        data: { displayName: 'Sales EMEA' },
      },
      {
        // With ?aadOptscim062020 member removal uses a value filter.
        wire: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \\"u2\\"]"}]}`,
        data: { displayName: 'Sales EMEA' },
        members: { add: [], remove: ['u2'] },
      },
    ],
  },
  {
    name: 'Okta OIN: deactivation by no-path replace, reactivation, stale push (last write wins)',
    type: 'User',
    id: '00u1',
    start: { userName: 'dave@example.com', active: true },
    steps: [
      {
        wire: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`,
        data: { userName: 'dave@example.com', active: false },
      },
      {
        wire: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":true}}]}`,
        data: { userName: 'dave@example.com', active: true },
      },
      {
        wire: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`,
        data: { userName: 'dave@example.com', active: false },
      },
    ],
  },
  {
    name: 'Okta Push Groups: id echoed in replace, mixed remove/add, full-list replace',
    type: 'Group',
    id: '00g1',
    start: { displayName: 'Engineering' },
    steps: [
      {
        wire: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"id":"00g1","displayName":"Engineering"}}]}`,
        data: { displayName: 'Engineering' },
      },
      {
        wire: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
          {"op":"remove","path":"members[value eq \\"00u1\\"]"},
          {"op":"add","path":"members","value":[{"value":"00u2","display":"dave@example.com"},{"value":"00u3","display":"erin@example.com"}]}]}`,
        data: { displayName: 'Engineering' },
        members: { add: [{ value: '00u2', display: 'dave@example.com' }, { value: '00u3', display: 'erin@example.com' }], remove: ['00u1'] },
      },
      {
        wire: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"id":"00g1","displayName":"Engineering (all)"}}]}`,
        data: { displayName: 'Engineering (all)' },
      },
      {
        wire: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"members","value":[{"value":"00u2","display":"dave@example.com"},{"value":"00u4","display":"frank@example.com"}]}]}`,
        data: { displayName: 'Engineering (all)' },
        members: { replaceAll: [{ value: '00u2', display: 'dave@example.com' }, { value: '00u4', display: 'frank@example.com' }], add: [], remove: [] },
      },
      {
        // A different id is refused, and nothing else of the request applies.
        wire: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"id":"00g2","displayName":"Hijack"}}]}`,
        error: { scimType: 'mutability', status: 400 },
      },
    ],
  },
];

describe.each(schemaSets)('IdP PATCH sequences (%s)', (_name, resolvers) => {
  it.each(sequences)('$name', ({ type, id, start, steps }) => {
    const ctx: PatchContext = { type, id, resolver: resolvers[type], limits: LIMITS };
    let data = start;
    for (const step of steps) {
      const wire = JSON.parse(step.wire) as unknown;
      let result;
      try {
        const ops = parsePatchRequest(wire, ctx);
        // None of these needs the member list: membership stays O(change).
        expect(needsMemberList(ops)).toBe(false);
        result = applyPatch(data, ops, ctx);
      } catch (e) {
        if (!step.error || !(e instanceof ScimError)) throw e;
        expect({ scimType: e.scimType, status: e.status }).toEqual(step.error);
        continue;
      }
      expect(step.error).toBeUndefined();
      expect(result.data).toEqual(step.data);
      expect(result.members).toEqual(step.members);
      data = result.data;
    }
  });
});

describe('Entra member removal against a known member list', () => {
  it('the value-array remove leaves the other members in place', () => {
    const ctx: PatchContext = { type: 'Group', id: 'g', resolver: groupResolver, limits: LIMITS };
    const current: Member[] = [{ value: 'u1' }, { value: 'u2' }, { value: 'u3' }];
    const wire = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Remove","path":"members","value":[{"$ref":null,"value":"u2"}]}]}`;
    const result = applyPatch({ displayName: 'G' }, parsePatchRequest(JSON.parse(wire), ctx), ctx, current);
    expect(result.members).toEqual({ add: [], remove: ['u2'] });
    expect(result.members?.replaceAll).toBeUndefined();
  });
});
