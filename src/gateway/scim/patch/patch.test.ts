import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ScimError } from '../errors.js';
import type { Member, ScimJson } from '../../store/types.js';
import { applyPatch, needsMemberList, parsePatchRequest, type PatchContext, type PatchOp } from './index.js';
import { parsePath } from '../filter/index.js';
import { body, ENTERPRISE, groupCtx, PATCH_SCHEMA, userCtx } from './schema.fixture.js';

/** Parses a body and applies it, as the PATCH route does. */
function run(data: ScimJson, reqBody: unknown, ctx: PatchContext = userCtx(), current?: Member[]) {
  const ops = parsePatchRequest(reqBody, ctx);
  return applyPatch(data, ops, ctx, current);
}

/** The ScimError thrown by fn (fails when fn does not throw one). */
function scimErrorOf(fn: () => unknown): ScimError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ScimError) return e;
    throw new Error(`expected a ScimError, got ${String(e)}`);
  }
  throw new Error('expected a ScimError, nothing was thrown');
}

const baseUser = (): ScimJson => ({
  userName: 'bjensen',
  name: { givenName: 'Barbara', familyName: 'Jensen' },
  displayName: 'Babs',
  active: true,
  emails: [
    { value: 'bjensen@example.com', type: 'work', primary: true },
    { value: 'babs@home.example', type: 'home' },
  ],
  [ENTERPRISE]: { employeeNumber: '42', department: 'Tour' },
});

const baseGroup = (): ScimJson => ({ displayName: 'Admins' });

describe('parsePatchRequest: body validation (RFC7644 §3.5.2)', () => {
  const cases: Array<{ name: string; body: unknown; scimType: string; status?: number; detail?: RegExp }> = [
    { name: 'not an object', body: [1], scimType: 'invalidSyntax' },
    { name: 'missing schemas', body: { Operations: [{ op: 'add', path: 'displayName', value: 'x' }] }, scimType: 'invalidSyntax' },
    {
      name: 'wrong schemas',
      body: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], Operations: [{ op: 'add', path: 'displayName', value: 'x' }] },
      scimType: 'invalidSyntax',
    },
    { name: 'missing Operations', body: { schemas: [PATCH_SCHEMA] }, scimType: 'invalidSyntax' },
    { name: 'empty Operations', body: body(), scimType: 'invalidSyntax' },
    { name: 'Operations not an array', body: { schemas: [PATCH_SCHEMA], Operations: {} }, scimType: 'invalidSyntax' },
    { name: 'operation not an object', body: body('add'), scimType: 'invalidSyntax' },
    { name: 'op missing', body: body({ path: 'displayName', value: 'x' }), scimType: 'invalidSyntax' },
    { name: 'unknown op, named', body: body({ op: 'move', path: 'displayName', value: 'x' }), scimType: 'invalidSyntax', detail: /"move"/ },
    { name: 'remove without path', body: body({ op: 'remove' }), scimType: 'noTarget' },
    { name: 'remove with empty path', body: body({ op: 'remove', path: '  ' }), scimType: 'noTarget' },
    { name: 'add without value', body: body({ op: 'add', path: 'displayName' }), scimType: 'invalidSyntax' },
    { name: 'path not a string', body: body({ op: 'add', path: 3, value: 'x' }), scimType: 'invalidPath' },
    { name: 'unparsable path', body: body({ op: 'add', path: 'emails[type eq', value: 'x' }), scimType: 'invalidPath' },
    {
      name: 'unknown attribute, named with a pointer to /Schemas',
      body: body({ op: 'add', path: 'nickname', value: 'x' }),
      scimType: 'invalidPath',
      detail: /"nickname".*\/Schemas/,
    },
    { name: 'unknown sub-attribute', body: body({ op: 'add', path: 'name.nick', value: 'x' }), scimType: 'invalidPath', detail: /nick/ },
    { name: 'unknown extension', body: body({ op: 'add', path: 'urn:example:ext:1.0:User:foo', value: 'x' }), scimType: 'invalidPath' },
    {
      name: 'filter naming an unknown sub-attribute',
      body: body({ op: 'replace', path: 'emails[kind eq "work"].value', value: 'x' }),
      scimType: 'invalidPath',
      detail: /kind/,
    },
    { name: 'filter on a singular attribute', body: body({ op: 'replace', path: 'name[givenName eq "x"]', value: {} }), scimType: 'invalidPath' },
    { name: 'no-path add with a non-object value', body: body({ op: 'add', value: 'x' }), scimType: 'invalidValue' },
    { name: 'no-path key unknown', body: body({ op: 'replace', value: { nickName: 'x' } }), scimType: 'invalidPath', detail: /nickName/ },
    {
      name: 'no-path extension key with an unknown attribute',
      body: body({ op: 'replace', value: { [ENTERPRISE]: { shoeSize: 9 } } }),
      scimType: 'invalidPath',
      detail: /shoeSize/,
    },
    { name: '__proto__ as path', body: body({ op: 'add', path: '__proto__', value: 'x' }), scimType: 'invalidPath' },
    { name: 'constructor as sub-attribute path', body: body({ op: 'add', path: 'name.constructor', value: 'x' }), scimType: 'invalidPath' },
    {
      name: '__proto__ key in a value (as JSON.parse makes it)',
      body: JSON.parse(`{"schemas":["${PATCH_SCHEMA}"],"Operations":[{"op":"add","path":"name","value":{"__proto__":{"polluted":true}}}]}`),
      scimType: 'invalidValue',
    },
    {
      name: 'prototype key nested deep in a value',
      body: body({ op: 'add', path: 'emails', value: [{ value: 'a@b', type: { prototype: 1 } }] }),
      scimType: 'invalidValue',
    },
    {
      name: '__proto__ as a no-path key',
      body: JSON.parse(`{"schemas":["${PATCH_SCHEMA}"],"Operations":[{"op":"add","value":{"__proto__":{"isAdmin":true}}}]}`),
      scimType: 'invalidValue',
    },
    { name: 'value nested too deeply', body: body({ op: 'add', path: 'displayName', value: deep(40) }), scimType: 'invalidValue' },
    { name: 'readOnly groups', body: body({ op: 'add', path: 'groups', value: [{ value: 'g' }] }), scimType: 'mutability', detail: /groups/ },
    { name: 'remove readOnly groups', body: body({ op: 'remove', path: 'groups' }), scimType: 'mutability' },
    { name: 'meta', body: body({ op: 'replace', path: 'meta.version', value: 'W/"9"' }), scimType: 'mutability' },
    { name: 'a different id', body: body({ op: 'replace', path: 'id', value: 'other' }), scimType: 'mutability', detail: /id/ },
    { name: 'remove id', body: body({ op: 'remove', path: 'id' }), scimType: 'mutability' },
    { name: 'members on a User', body: body({ op: 'add', path: 'members', value: [{ value: 'x' }] }), scimType: 'invalidPath' },
  ];
  it.each(cases)('$name -> $scimType', ({ body: b, scimType, status, detail }) => {
    const err = scimErrorOf(() => parsePatchRequest(b, userCtx()));
    expect(err.scimType).toBe(scimType);
    expect(err.status).toBe(status ?? 400);
    if (detail) expect(err.detail).toMatch(detail);
  });

  it('refuses more operations than limits.maxOperations with tooMany naming the limit', () => {
    const ops = Array.from({ length: 4 }, () => ({ op: 'add', path: 'displayName', value: 'x' }));
    const err = scimErrorOf(() => parsePatchRequest(body(...ops), userCtx('u1', { maxOperations: 3, maxMembersPerRequest: 10 })));
    expect(err.scimType).toBe('tooMany');
    expect(err.detail).toMatch(/maxOperations/);
    expect(err.detail).toMatch(/3/);
  });

  it('refuses more member values than limits.maxMembersPerRequest across the request', () => {
    const ctx = groupCtx('g1', { maxOperations: 10, maxMembersPerRequest: 3 });
    const b = body(
      { op: 'add', path: 'members', value: [{ value: 'a' }, { value: 'b' }] },
      { op: 'remove', path: 'members', value: [{ value: 'c' }, { value: 'd' }] },
    );
    const err = scimErrorOf(() => parsePatchRequest(b, ctx));
    expect(err.scimType).toBe('tooMany');
    expect(err.detail).toMatch(/maxMembersPerRequest/);
    // applyPatch enforces it too, for ops built without parsePatchRequest (Bulk).
    const ops: PatchOp[] = [{ op: 'add', path: parsePath('members'), value: [{ value: 'a' }, { value: 'b' }, { value: 'c' }, { value: 'd' }] }];
    expect(scimErrorOf(() => applyPatch(baseGroup(), ops, ctx)).scimType).toBe('tooMany');
  });

  it.each([
    ['Add', 'add'],
    ['REPLACE', 'replace'],
    [' Remove ', 'remove'],
  ])('accepts op %j case-insensitively', (op, expected) => {
    const ops = parsePatchRequest(body({ op, path: 'displayName', value: 'x' }), userCtx());
    expect(ops[0]!.op).toBe(expected);
  });

  it('accepts `operations`, `Op`, `Path`, `Value` spelled in another case', () => {
    const ops = parsePatchRequest({ schemas: [PATCH_SCHEMA], operations: [{ Op: 'Replace', Path: 'displayName', Value: 'x' }] }, userCtx());
    expect(ops).toEqual([{ op: 'replace', path: { attr: 'displayName' }, pathText: 'displayName', value: 'x' }]);
  });

  it('returns safe copies of values (later changes to the body do not leak in)', () => {
    const b = body({ op: 'add', path: 'emails', value: [{ value: 'x@y' }] });
    const ops = parsePatchRequest(b, userCtx());
    ((b.Operations as Array<{ value: Array<{ value: string }> }>)[0]!.value[0]!).value = 'changed';
    expect(ops[0]!.value).toEqual([{ value: 'x@y' }]);
  });
});

function deep(n: number): unknown {
  let v: unknown = 'x';
  for (let i = 0; i < n; i++) v = { a: v };
  return v;
}

interface ApplyCase {
  name: string;
  data?: ScimJson;
  ops: unknown[];
  expect: ScimJson | ((before: ScimJson) => ScimJson);
  changed?: boolean;
}

describe('applyPatch on a User', () => {
  const cases: ApplyCase[] = [
    // booleans: Entra sends string booleans
    { name: 'replace active "False" (Entra)', ops: [{ op: 'Replace', path: 'active', value: 'False' }], expect: (u) => ({ ...u, active: false }) },
    { name: 'replace active "TRUE"', data: { userName: 'x', active: false }, ops: [{ op: 'replace', path: 'active', value: 'TRUE' }], expect: { userName: 'x', active: true } },
    { name: 'replace active "false" (lowercase)', ops: [{ op: 'replace', path: 'active', value: 'false' }], expect: (u) => ({ ...u, active: false }) },
    { name: 'replace active with a real boolean', ops: [{ op: 'replace', path: 'active', value: false }], expect: (u) => ({ ...u, active: false }) },
    { name: 'no-path replace {active:false} (Okta OIN)', ops: [{ op: 'replace', value: { active: false } }], expect: (u) => ({ ...u, active: false }) },
    { name: 'no-path replace {active:"False"}', ops: [{ op: 'replace', value: { active: 'False' } }], expect: (u) => ({ ...u, active: false }) },
    { name: 'a non-boolean string is left for validation', ops: [{ op: 'replace', path: 'active', value: 'yes' }], expect: (u) => ({ ...u, active: 'yes' }) },
    { name: 'boolean in a filter-created element', data: { userName: 'x' }, ops: [{ op: 'add', path: 'emails[type eq "work"].primary', value: 'True' }], expect: { userName: 'x', emails: [{ type: 'work', primary: true }] } },

    // simple attributes
    { name: 'replace displayName', ops: [{ op: 'replace', path: 'displayName', value: 'B' }], expect: (u) => ({ ...u, displayName: 'B' }) },
    { name: 'add displayName replaces a singular value', ops: [{ op: 'add', path: 'displayName', value: 'B' }], expect: (u) => ({ ...u, displayName: 'B' }) },
    { name: 'remove displayName', ops: [{ op: 'remove', path: 'displayName' }], expect: ({ displayName: _d, ...u }) => u },
    { name: 'replace with null removes', ops: [{ op: 'replace', path: 'displayName', value: null }], expect: ({ displayName: _d, ...u }) => u },
    { name: 'remove an absent attribute is a no-op', data: { userName: 'x' }, ops: [{ op: 'remove', path: 'displayName' }], expect: { userName: 'x' }, changed: false },
    { name: 'replace with the same value is unchanged', ops: [{ op: 'replace', path: 'active', value: 'true' }], expect: (u) => u, changed: false },

    // case-insensitive names (RFC7643 §2.1)
    { name: 'USERNAME path writes userName', ops: [{ op: 'replace', path: 'USERNAME', value: 'b2' }], expect: (u) => ({ ...u, userName: 'b2' }) },
    { name: 'Name.GivenName path', ops: [{ op: 'replace', path: 'Name.GivenName', value: 'Bo' }], expect: (u) => ({ ...u, name: { givenName: 'Bo', familyName: 'Jensen' } }) },
    { name: 'a non-canonical key in data is replaced', data: { username: 'a', Active: true }, ops: [{ op: 'replace', path: 'userName', value: 'b' }, { op: 'replace', value: { ACTIVE: false } }], expect: { userName: 'b', active: false } },
    { name: 'sub-attribute keys in a value are canonicalized', data: { userName: 'x' }, ops: [{ op: 'add', path: 'name', value: { GIVENNAME: 'A', familyname: 'B' } }], expect: { userName: 'x', name: { givenName: 'A', familyName: 'B' } } },
    { name: 'core-URN-qualified path', ops: [{ op: 'replace', path: 'urn:ietf:params:scim:schemas:core:2.0:User:displayName', value: 'Q' }], expect: (u) => ({ ...u, displayName: 'Q' }) },

    // complex singular
    { name: 'add name.givenName creates name', data: { userName: 'x' }, ops: [{ op: 'add', path: 'name.givenName', value: 'A' }], expect: { userName: 'x', name: { givenName: 'A' } } },
    { name: 'replace name with a partial object merges (RFC7644 §3.5.2.3)', ops: [{ op: 'replace', path: 'name', value: { givenName: 'Bo' } }], expect: (u) => ({ ...u, name: { givenName: 'Bo', familyName: 'Jensen' } }) },
    { name: 'add name with a partial object merges', ops: [{ op: 'add', path: 'name', value: { formatted: 'B J' } }], expect: (u) => ({ ...u, name: { givenName: 'Barbara', familyName: 'Jensen', formatted: 'B J' } }) },
    { name: 'a null sub-attribute in a complex value unassigns it', ops: [{ op: 'replace', path: 'name', value: { givenName: null } }], expect: (u) => ({ ...u, name: { familyName: 'Jensen' } }) },
    { name: 'remove name.givenName', ops: [{ op: 'remove', path: 'name.givenName' }], expect: (u) => ({ ...u, name: { familyName: 'Jensen' } }) },
    { name: 'removing the last sub-attribute removes the attribute', data: { userName: 'x', name: { givenName: 'A' } }, ops: [{ op: 'remove', path: 'name.givenName' }], expect: { userName: 'x' } },
    { name: 'remove name', ops: [{ op: 'remove', path: 'name' }], expect: ({ name: _n, ...u }) => u },
    { name: 'unknown sub-attributes in a value are dropped', data: { userName: 'x' }, ops: [{ op: 'add', path: 'name', value: { givenName: 'A', nick: 'z' } }], expect: { userName: 'x', name: { givenName: 'A' } } },

    // multi-valued
    { name: 'add emails appends, skipping equal values', ops: [{ op: 'add', path: 'emails', value: [{ value: 'babs@home.example', type: 'home' }, { value: 'new@x', type: 'other' }] }], expect: (u) => ({ ...u, emails: [...(u.emails as unknown[]), { value: 'new@x', type: 'other' }] }) },
    { name: 'add emails with a single object', data: { userName: 'x' }, ops: [{ op: 'add', path: 'emails', value: { value: 'a@x' } }], expect: { userName: 'x', emails: [{ value: 'a@x' }] } },
    { name: 'add emails with null is a no-op', ops: [{ op: 'add', path: 'emails', value: null }], expect: (u) => u, changed: false },
    { name: 'replace emails replaces the list', ops: [{ op: 'replace', path: 'emails', value: [{ value: 'only@x', type: 'work' }] }], expect: (u) => ({ ...u, emails: [{ value: 'only@x', type: 'work' }] }) },
    { name: 'replace emails with [] removes the attribute', ops: [{ op: 'replace', path: 'emails', value: [] }], expect: ({ emails: _e, ...u }) => u },
    { name: 'remove emails', ops: [{ op: 'remove', path: 'emails' }], expect: ({ emails: _e, ...u }) => u },
    { name: 'remove emails with a value removes only those', ops: [{ op: 'remove', path: 'emails', value: [{ value: 'BABS@home.example' }] }], expect: (u) => ({ ...u, emails: [(u.emails as unknown[])[0]] }) },
    { name: 'add a primary email unsets the other primary (RFC7644 §3.5.2)', ops: [{ op: 'add', path: 'emails', value: [{ value: 'p@x', primary: true }] }], expect: (u) => ({ ...u, emails: [{ value: 'bjensen@example.com', type: 'work', primary: false }, { value: 'babs@home.example', type: 'home' }, { value: 'p@x', primary: true }] }) },

    // value filters
    { name: 'replace emails[type eq "work"].value changes the matching element', ops: [{ op: 'replace', path: 'emails[type eq "work"].value', value: 'w@x' }], expect: (u) => ({ ...u, emails: [{ value: 'w@x', type: 'work', primary: true }, { value: 'babs@home.example', type: 'home' }] }) },
    { name: 'filter names are case-insensitive', ops: [{ op: 'replace', path: 'EMAILS[TYPE eq "work"].VALUE', value: 'w@x' }], expect: (u) => ({ ...u, emails: [{ value: 'w@x', type: 'work', primary: true }, { value: 'babs@home.example', type: 'home' }] }) },
    { name: 'replace emails[type eq "work"].value creates the element when none matches (Entra)', data: { userName: 'x' }, ops: [{ op: 'replace', path: 'emails[type eq "work"].value', value: 'w@x' }], expect: { userName: 'x', emails: [{ type: 'work', value: 'w@x' }] } },
    { name: 'add on a filtered path creates too', data: { userName: 'x', emails: [{ value: 'h@x', type: 'home' }] }, ops: [{ op: 'add', path: 'emails[type eq "work"].value', value: 'w@x' }], expect: { userName: 'x', emails: [{ value: 'h@x', type: 'home' }, { type: 'work', value: 'w@x' }] } },
    { name: 'creation takes every eq term of an and', data: { userName: 'x' }, ops: [{ op: 'add', path: 'emails[type eq "work" and primary eq true].value', value: 'w@x' }], expect: { userName: 'x', emails: [{ type: 'work', primary: true, value: 'w@x' }] } },
    { name: 'addresses[type eq "work"].postalCode creation', data: { userName: 'x' }, ops: [{ op: 'Add', path: 'addresses[type eq "work"].postalCode', value: '98052' }], expect: { userName: 'x', addresses: [{ type: 'work', postalCode: '98052' }] } },
    { name: 'phoneNumbers[type eq "mobile"].value creation', data: { userName: 'x' }, ops: [{ op: 'Replace', path: 'phoneNumbers[type eq "mobile"].value', value: '+1 555' }], expect: { userName: 'x', phoneNumbers: [{ type: 'mobile', value: '+1 555' }] } },
    { name: 'replace a whole filtered element keeps the eq terms', ops: [{ op: 'replace', path: 'emails[type eq "home"]', value: { value: 'h2@x' } }], expect: (u) => ({ ...u, emails: [(u.emails as unknown[])[0], { type: 'home', value: 'h2@x' }] }) },
    { name: 'add to a filtered element merges', ops: [{ op: 'add', path: 'emails[type eq "home"]', value: { primary: 'true' } }], expect: (u) => ({ ...u, emails: [{ value: 'bjensen@example.com', type: 'work', primary: false }, { value: 'babs@home.example', type: 'home', primary: true }] }) },
    { name: 'remove emails[type eq "work"] removes matching elements', ops: [{ op: 'remove', path: 'emails[type eq "work"]' }], expect: (u) => ({ ...u, emails: [(u.emails as unknown[])[1]] }) },
    { name: 'removing every element removes the attribute', ops: [{ op: 'remove', path: 'emails[value pr]' }], expect: ({ emails: _e, ...u }) => u },
    { name: 'remove emails[type eq "work"].value removes that sub-attribute', ops: [{ op: 'remove', path: 'emails[type eq "work"].value' }], expect: (u) => ({ ...u, emails: [{ type: 'work', primary: true }, (u.emails as unknown[])[1]] }) },
    { name: 'remove with a filter matching nothing is a no-op', ops: [{ op: 'remove', path: 'emails[type eq "other"]' }], expect: (u) => u, changed: false },
    { name: 'sub-attribute of every element without a filter', ops: [{ op: 'replace', path: 'emails.type', value: 'other' }], expect: (u) => ({ ...u, emails: [{ value: 'bjensen@example.com', type: 'other', primary: true }, { value: 'babs@home.example', type: 'other' }] }) },

    // no-path values
    { name: 'no-path add with dotted and URN keys', data: { userName: 'x' }, ops: [{ op: 'add', value: { 'name.givenName': 'A', [`${ENTERPRISE}:department`]: 'Ops', displayName: 'D' } }], expect: { userName: 'x', name: { givenName: 'A' }, displayName: 'D', [ENTERPRISE]: { department: 'Ops' } } },
    { name: 'no-path replace with an extension block merges its attributes', ops: [{ op: 'replace', value: { [ENTERPRISE]: { department: 'R&D' } } }], expect: (u) => ({ ...u, [ENTERPRISE]: { employeeNumber: '42', department: 'R&D' } }) },
    { name: 'no-path replace with a filtered key', data: { userName: 'x' }, ops: [{ op: 'replace', value: { 'emails[type eq "work"].value': 'w@x' } }], expect: { userName: 'x', emails: [{ type: 'work', value: 'w@x' }] } },
    { name: 'no-path value: schemas is ignored', ops: [{ op: 'replace', value: { schemas: ['x'], displayName: 'Z' } }], expect: (u) => ({ ...u, displayName: 'Z' }) },
    { name: 'no-path value: the same id is ignored', ops: [{ op: 'replace', value: { id: 'u1', displayName: 'Z' } }], expect: (u) => ({ ...u, displayName: 'Z' }) },
    { name: 'a null in a no-path value removes', ops: [{ op: 'replace', value: { displayName: null } }], expect: ({ displayName: _d, ...u }) => u },

    // enterprise extension
    { name: 'URN path employeeNumber', ops: [{ op: 'replace', path: `${ENTERPRISE}:employeeNumber`, value: '43' }], expect: (u) => ({ ...u, [ENTERPRISE]: { employeeNumber: '43', department: 'Tour' } }) },
    { name: 'extension created when absent', data: { userName: 'x' }, ops: [{ op: 'add', path: `${ENTERPRISE}:department`, value: 'D' }], expect: { userName: 'x', [ENTERPRISE]: { department: 'D' } } },
    { name: 'the extension block goes when empty', data: { userName: 'x', [ENTERPRISE]: { department: 'D' } }, ops: [{ op: 'remove', path: `${ENTERPRISE}:department` }], expect: { userName: 'x' } },
    { name: 'a non-canonical extension key is renamed', data: { userName: 'x', [ENTERPRISE.toLowerCase()]: { department: 'D' } }, ops: [{ op: 'add', path: `${ENTERPRISE}:employeeNumber`, value: '1' }], expect: { userName: 'x', [ENTERPRISE]: { department: 'D', employeeNumber: '1' } } },
    { name: 'remove from an absent extension is a no-op', data: { userName: 'x' }, ops: [{ op: 'remove', path: `${ENTERPRISE}:department` }], expect: { userName: 'x' }, changed: false },
    { name: 'manager as a plain id (Entra)', data: { userName: 'x' }, ops: [{ op: 'add', path: `${ENTERPRISE}:manager`, value: 'm1' }], expect: { userName: 'x', [ENTERPRISE]: { manager: { value: 'm1' } } } },
    { name: 'manager as [{$ref, value}] (Entra)', data: { userName: 'x' }, ops: [{ op: 'replace', path: `${ENTERPRISE}:manager`, value: [{ $ref: 'https://x/Users/m2', value: 'm2' }] }], expect: { userName: 'x', [ENTERPRISE]: { manager: { value: 'm2' } } } },
    { name: 'manager {value, displayName} replaces the whole manager', data: { userName: 'x', [ENTERPRISE]: { manager: { value: 'm1', displayName: 'Old' } } }, ops: [{ op: 'add', path: `${ENTERPRISE}:manager`, value: { value: 'm3' } }], expect: { userName: 'x', [ENTERPRISE]: { manager: { value: 'm3' } } } },
    { name: 'manager displayName kept when given', data: { userName: 'x' }, ops: [{ op: 'replace', path: `${ENTERPRISE}:manager`, value: { Value: 'm3', displayName: 'Boss' } }], expect: { userName: 'x', [ENTERPRISE]: { manager: { value: 'm3', displayName: 'Boss' } } } },
    { name: 'manager "" removes it', data: { userName: 'x', [ENTERPRISE]: { manager: { value: 'm1' } } }, ops: [{ op: 'replace', path: `${ENTERPRISE}:manager`, value: '' }], expect: { userName: 'x' } },
    { name: 'manager null removes it', data: { userName: 'x', [ENTERPRISE]: { manager: { value: 'm1' } } }, ops: [{ op: 'replace', path: `${ENTERPRISE}:manager`, value: null }], expect: { userName: 'x' } },
    { name: 'manager.value path', data: { userName: 'x' }, ops: [{ op: 'replace', path: `${ENTERPRISE}:manager.value`, value: 'm4' }], expect: { userName: 'x', [ENTERPRISE]: { manager: { value: 'm4' } } } },
    { name: 'manager in a no-path extension block', data: { userName: 'x' }, ops: [{ op: 'replace', value: { [ENTERPRISE]: { manager: 'm5' } } }], expect: { userName: 'x', [ENTERPRISE]: { manager: { value: 'm5' } } } },

    // id, immutable, writeOnly
    { name: 'replace id with the same id is ignored', ops: [{ op: 'replace', path: 'id', value: 'u1' }], expect: (u) => u, changed: false },
    { name: 'an immutable attribute may be set when absent', data: { userName: 'x' }, ops: [{ op: 'add', path: 'employeeCode', value: 'E1' }], expect: { userName: 'x', employeeCode: 'E1' } },
    { name: 'an immutable attribute may be "set" to its current value', data: { userName: 'x', employeeCode: 'E1' }, ops: [{ op: 'replace', path: 'employeeCode', value: 'E1' }], expect: { userName: 'x', employeeCode: 'E1' }, changed: false },
    { name: 'an immutable sub-attribute may be set when absent', data: { userName: 'x', badge: { color: 'red' } }, ops: [{ op: 'add', path: 'badge', value: { serial: 'S1' } }], expect: { userName: 'x', badge: { color: 'red', serial: 'S1' } } },
    { name: 'the other sub-attributes of a complex with an immutable one may change', data: { userName: 'x', badge: { serial: 'S1' } }, ops: [{ op: 'replace', path: 'badge.color', value: 'blue' }], expect: { userName: 'x', badge: { serial: 'S1', color: 'blue' } } },
    { name: 'a writeOnly attribute is written', data: { userName: 'x' }, ops: [{ op: 'replace', path: 'password', value: 's3cret' }], expect: { userName: 'x', password: 's3cret' } },

    // sequencing within one request
    { name: 'ops apply in order', ops: [{ op: 'replace', path: 'active', value: true }, { op: 'replace', path: 'active', value: 'False' }], expect: (u) => ({ ...u, active: false }) },
    { name: 'remove then add of the same value nets out', ops: [{ op: 'remove', path: 'displayName' }, { op: 'add', path: 'displayName', value: 'Babs' }], expect: (u) => u, changed: false },
  ];

  it.each(cases)('$name', ({ data, ops, expect: want, changed }) => {
    const before = data ?? baseUser();
    const snapshot = structuredClone(before);
    const result = run(before, body(...ops));
    const expected = typeof want === 'function' ? want(structuredClone(snapshot)) : want;
    expect(result.data).toEqual(expected);
    expect(result.members).toBeUndefined();
    expect(result.changed).toBe(changed ?? true);
    expect(before).toEqual(snapshot); // never mutated
  });

  const failures: Array<{ name: string; data?: ScimJson; ops: unknown[]; scimType: string; detail?: RegExp }> = [
    { name: 'remove userName (required)', ops: [{ op: 'remove', path: 'userName' }], scimType: 'invalidValue', detail: /userName.*required/ },
    { name: 'replace userName with null (required)', ops: [{ op: 'replace', path: 'userName', value: null }], scimType: 'invalidValue' },
    { name: 'change an immutable attribute', data: { userName: 'x', employeeCode: 'E1' }, ops: [{ op: 'replace', path: 'employeeCode', value: 'E2' }], scimType: 'mutability', detail: /employeeCode/ },
    { name: 'remove an immutable attribute', data: { userName: 'x', employeeCode: 'E1' }, ops: [{ op: 'remove', path: 'employeeCode' }], scimType: 'mutability' },
    { name: 'change an immutable sub-attribute', data: { userName: 'x', badge: { serial: 'S1' } }, ops: [{ op: 'replace', path: 'badge', value: { serial: 'S2' } }], scimType: 'mutability', detail: /badge\.serial/ },
    { name: 'remove a complex attribute holding an immutable sub-attribute', data: { userName: 'x', badge: { serial: 'S1' } }, ops: [{ op: 'remove', path: 'badge' }], scimType: 'mutability' },
    { name: 'a filter that cannot describe a new element', data: { userName: 'x' }, ops: [{ op: 'replace', path: 'emails[value co "x"].type', value: 'work' }], scimType: 'noTarget' },
    { name: 'an or filter matching nothing', data: { userName: 'x' }, ops: [{ op: 'add', path: 'emails[type eq "a" or type eq "b"].value', value: 'v' }], scimType: 'noTarget' },
    { name: 'complex attribute given a string', ops: [{ op: 'replace', path: 'name', value: 'Barbara' }], scimType: 'invalidValue' },
    { name: 'filtered element given a string', ops: [{ op: 'replace', path: 'emails[type eq "work"]', value: 'x' }], scimType: 'invalidValue' },
    { name: 'manager as a number', ops: [{ op: 'replace', path: `${ENTERPRISE}:manager`, value: 7 }], scimType: 'invalidValue' },
    { name: 'manager value not a string', ops: [{ op: 'replace', path: `${ENTERPRISE}:manager`, value: { value: 7 } }], scimType: 'invalidValue' },
    { name: 'a different id in a no-path value', ops: [{ op: 'replace', value: { id: 'u2', displayName: 'Z' } }], scimType: 'mutability' },
    { name: 'atomic: a later failing op fails the whole request', ops: [{ op: 'replace', path: 'displayName', value: 'ok' }, { op: 'remove', path: 'userName' }], scimType: 'invalidValue' },
  ];
  it.each(failures)('$name -> $scimType', ({ data, ops, scimType, detail }) => {
    const before = data ?? baseUser();
    const snapshot = structuredClone(before);
    const err = scimErrorOf(() => run(before, body(...ops)));
    expect(err.scimType).toBe(scimType);
    expect(err.status).toBe(400);
    if (detail) expect(err.detail).toMatch(detail);
    expect(before).toEqual(snapshot);
  });

  it('does not share objects with the ops or the input', () => {
    const ctx = userCtx();
    const ops = parsePatchRequest(body({ op: 'add', path: 'emails', value: [{ value: 'n@x' }] }), ctx);
    const input = baseUser();
    const { data } = applyPatch(input, ops, ctx);
    (data.emails as Array<Record<string, unknown>>)[2]!.value = 'mutated';
    (data.name as Record<string, unknown>).givenName = 'mutated';
    expect(ops[0]!.value).toEqual([{ value: 'n@x' }]);
    expect((input.name as Record<string, unknown>).givenName).toBe('Barbara');
  });

  it('never writes through the prototype', () => {
    const ctx = userCtx();
    const ops: PatchOp[] = [{ op: 'add', path: { attr: '__proto__' }, value: { polluted: true } }];
    expect(scimErrorOf(() => applyPatch({ userName: 'x' }, ops, ctx)).scimType).toBe('invalidPath');
    const ops2: PatchOp[] = [{ op: 'add', path: { attr: 'name' }, value: JSON.parse('{"__proto__":{"polluted":true}}') }];
    expect(scimErrorOf(() => applyPatch({ userName: 'x' }, ops2, ctx)).scimType).toBe('invalidValue');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('applyPatch on a Group: members as an O(change) delta', () => {
  interface GroupCase {
    name: string;
    ops: unknown[];
    members: unknown;
    data?: ScimJson;
    current?: Member[];
    changed?: boolean;
  }
  const cases: GroupCase[] = [
    { name: 'add members', ops: [{ op: 'add', path: 'members', value: [{ value: 'a', display: 'A' }, { value: 'b', type: 'user' }] }], members: { add: [{ value: 'a', display: 'A' }, { value: 'b', type: 'User' }], remove: [] } },
    { name: 'add members: duplicate ids collapse', ops: [{ op: 'add', path: 'members', value: [{ value: 'a' }, { value: 'a', display: 'again' }] }], members: { add: [{ value: 'a' }], remove: [] } },
    { name: 'add a single member object', ops: [{ op: 'add', path: 'members', value: { value: 'a' } }], members: { add: [{ value: 'a' }], remove: [] } },
    { name: 'remove members WITH a value removes only those (Entra)', ops: [{ op: 'remove', path: 'members', value: [{ $ref: null, value: 'a' }, { value: 'b' }] }], members: { add: [], remove: ['a', 'b'] } },
    { name: 'remove members without a value removes everyone', ops: [{ op: 'remove', path: 'members' }], members: { replaceAll: [], add: [], remove: [] } },
    { name: 'remove members with a null value removes everyone', ops: [{ op: 'remove', path: 'members', value: null }], members: { replaceAll: [], add: [], remove: [] } },
    { name: 'remove members[value eq "x"]', ops: [{ op: 'remove', path: 'members[value eq "x"]' }], members: { add: [], remove: ['x'] } },
    { name: 'remove members[Value eq "x"] (case of the name)', ops: [{ op: 'remove', path: 'MEMBERS[Value eq "x"]' }], members: { add: [], remove: ['x'] } },
    { name: 'replace members carries the full list', ops: [{ op: 'replace', path: 'members', value: [{ value: 'a' }, { value: 'b' }] }], members: { replaceAll: [{ value: 'a' }, { value: 'b' }], add: [], remove: [] } },
    { name: 'replace members with [] empties', ops: [{ op: 'replace', path: 'members', value: [] }], members: { replaceAll: [], add: [], remove: [] } },
    { name: 'replace then add edits the full list', ops: [{ op: 'replace', path: 'members', value: [{ value: 'a' }] }, { op: 'add', path: 'members', value: [{ value: 'b' }] }, { op: 'remove', path: 'members[value eq "a"]' }], members: { replaceAll: [{ value: 'b' }], add: [], remove: [] } },
    { name: 'add then remove the same id: removed', ops: [{ op: 'add', path: 'members', value: [{ value: 'a' }] }, { op: 'remove', path: 'members[value eq "a"]' }], members: { add: [], remove: ['a'] } },
    { name: 'remove then add the same id: added', ops: [{ op: 'remove', path: 'members[value eq "a"]' }, { op: 'add', path: 'members', value: [{ value: 'a' }] }], members: { add: [{ value: 'a' }], remove: [] } },
    { name: 'add members[value eq "x"] adds x', ops: [{ op: 'add', path: 'members[value eq "x"]', value: { display: 'X' } }], members: { add: [{ value: 'x', display: 'X' }], remove: [] } },
    { name: 'no-path add with members', ops: [{ op: 'add', value: { members: [{ value: 'a' }] } }], members: { add: [{ value: 'a' }], remove: [] } },
    { name: 'with the current list, adding an existing member is no change', ops: [{ op: 'add', path: 'members', value: [{ value: 'a' }] }], current: [{ value: 'a' }], members: undefined, changed: false },
    { name: 'with the current list, removing an absent member is no change', ops: [{ op: 'remove', path: 'members[value eq "z"]' }], current: [{ value: 'a' }], members: undefined, changed: false },
    { name: 'with the current list, replacing by the same members is no change', ops: [{ op: 'replace', path: 'members', value: [{ value: 'b' }, { value: 'a' }] }], current: [{ value: 'a' }, { value: 'b' }], members: undefined, changed: false },
    // exotic filters need the list
    { name: 'remove members[display co "x"] (needs the list)', ops: [{ op: 'remove', path: 'members[display co "bot"]' }], current: [{ value: 'a', display: 'robot 1' }, { value: 'b', display: 'Human' }, { value: 'c', display: 'BOT 2' }], members: { add: [], remove: ['a', 'c'] } },
    { name: 'replace members[value eq "a"].display rewrites the list', ops: [{ op: 'replace', path: 'members[value eq "a"].display', value: 'Alice' }], current: [{ value: 'a' }, { value: 'b' }], members: { replaceAll: [{ value: 'a', display: 'Alice' }, { value: 'b' }], add: [], remove: [] } },
    { name: 'pending delta then an exotic op', ops: [{ op: 'add', path: 'members', value: [{ value: 'n', display: 'new bot' }] }, { op: 'remove', path: 'members[display co "bot"]' }], current: [{ value: 'a', display: 'bot' }, { value: 'b' }], members: { add: [], remove: ['a'] } },
  ];
  it.each(cases)('$name', ({ ops, members, data, current, changed }) => {
    const before = data ?? baseGroup();
    const currentSnapshot = structuredClone(current);
    const result = run(before, body(...ops), groupCtx(), current);
    expect(result.members).toEqual(members);
    expect(result.data).toEqual(before);
    expect(result.changed).toBe(changed ?? true);
    expect(current).toEqual(currentSnapshot);
  });

  it('never asks for the member list for add, value-array remove, value eq and replace', () => {
    const ops = parsePatchRequest(
      body(
        { op: 'add', path: 'members', value: [{ value: 'a' }] },
        { op: 'remove', path: 'members', value: [{ value: 'b' }] },
        { op: 'remove', path: 'members[value eq "c"]' },
        { op: 'replace', path: 'members', value: [{ value: 'd' }] },
        { op: 'remove', path: 'members' },
        { op: 'replace', value: { displayName: 'x' } },
      ),
      groupCtx(),
    );
    expect(needsMemberList(ops)).toBe(false);
    // and applyPatch works without it
    expect(applyPatch(baseGroup(), ops, groupCtx()).members).toEqual({ replaceAll: [], add: [], remove: [] });
  });

  it.each([
    ['members[display co "x"]', true],
    ['members[value ne "x"]', true],
    ['members[value eq "x"].display', true],
    ['members.display', true],
    ['members[value eq "x" or value eq "y"]', true],
    ['members[value eq "x"]', false],
    ['members', false],
    ['displayName', false],
  ])('needsMemberList for path %s -> %s', (path, expected) => {
    expect(needsMemberList(parsePatchRequest(body({ op: 'remove', path }), groupCtx()))).toBe(expected);
  });

  it('needsMemberList sees an exotic members key in a no-path value', () => {
    const ops = parsePatchRequest(body({ op: 'add', value: { 'members[display eq "x"].display': 'y' } }), groupCtx());
    expect(needsMemberList(ops)).toBe(true);
  });

  it('an exotic filter without the current list is a caller bug (plain Error, not a 400)', () => {
    const ops = parsePatchRequest(body({ op: 'remove', path: 'members[display co "x"]' }), groupCtx());
    expect(() => applyPatch(baseGroup(), ops, groupCtx())).toThrow(/needsMemberList/);
  });

  it.each([
    ['a member without value', [{ display: 'x' }]],
    ['a member value that is not a string', [{ value: 7 }]],
    ['an empty member value', [{ value: '' }]],
    ['a member that is a string', ['id1']],
    ['an unknown member type', [{ value: 'a', type: 'Robot' }]],
  ])('refuses %s with invalidValue', (_name, value) => {
    expect(scimErrorOf(() => parsePatchRequest(body({ op: 'add', path: 'members', value }), groupCtx())).scimType).toBe('invalidValue');
  });

  it.each([
    ['the same id is ignored (Okta)', { id: 'g1', displayName: 'New' }, undefined],
    ['a different id is refused', { id: 'g2', displayName: 'New' }, 'mutability'],
  ])('no-path replace with id: %s', (_n, value, scimType) => {
    if (scimType) {
      const err = scimErrorOf(() => run(baseGroup(), body({ op: 'replace', value }), groupCtx()));
      expect(err.scimType).toBe(scimType);
      expect(err.status).toBe(400);
    } else {
      expect(run(baseGroup(), body({ op: 'replace', value }), groupCtx()).data).toEqual({ displayName: 'New' });
    }
  });

  it('refuses to remove the required displayName', () => {
    const err = scimErrorOf(() => run(baseGroup(), body({ op: 'remove', path: 'displayName' }), groupCtx()));
    expect(err.scimType).toBe('invalidValue');
    expect(err.detail).toMatch(/displayName/);
  });
});

describe('properties', () => {
  const userPaths = [
    'userName', 'displayName', 'active', 'name', 'name.givenName', 'Name.FamilyName', 'emails', 'emails.value',
    'emails[type eq "work"]', 'emails[type eq "work"].value', 'emails[value co "a"].primary', 'emails[type eq "a" and primary eq true].value',
    'phoneNumbers[type eq "mobile"].value', 'addresses[type eq "work"].postalCode', 'groups', 'id', 'meta', 'schemas',
    'employeeCode', 'password', `${ENTERPRISE}:manager`, `${ENTERPRISE}:manager.value`, `${ENTERPRISE}:department`,
  ];
  const groupPaths = ['displayName', 'members', 'members[value eq "a"]', 'members[display co "x"]', 'members[value eq "b"].display', 'members.display', 'id', 'schemas'];
  const badPaths = ['nope', 'name.nope', '__proto__', 'emails[', 'members', 'userName'];
  const paths = [...userPaths, ...groupPaths, ...badPaths];
  const keyArb = fc.oneof(fc.constantFrom(...paths, ENTERPRISE, 'constructor'), fc.string({ maxLength: 8 }));
  const leaf = fc.oneof(
    fc.constantFrom<unknown>('True', 'false', 'x', '', 'u1', 'a@b', null, true, false, 0, 1.5),
    fc.string({ maxLength: 6 }),
  );
  const valueArb: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
    v: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.array(tie('v'), { maxLength: 3 }),
      fc.dictionary(fc.oneof(keyArb, fc.constantFrom('value', 'type', 'display', 'givenName', 'primary')), tie('v'), { maxKeys: 3 }),
    ),
  })).v;
  // Mostly well-formed operations (so that many runs reach applyPatch), some hostile ones.
  const opArbFor = (good: string[]) =>
    fc.oneof(
      { arbitrary: fc.record({ op: fc.constantFrom('add', 'replace', 'Add', 'REPLACE'), path: fc.constantFrom(...good), value: valueArb }), weight: 4 },
      { arbitrary: fc.record({ op: fc.constantFrom('remove', 'Remove'), path: fc.constantFrom(...good) }), weight: 2 },
      { arbitrary: fc.record({ op: fc.constantFrom('add', 'replace'), value: fc.dictionary(keyArb, valueArb, { maxKeys: 3 }) }), weight: 1 },
      {
        arbitrary: fc.record(
          { op: fc.constantFrom('add', 'remove', 'bogus'), path: fc.oneof(fc.constantFrom(...paths), fc.string({ maxLength: 12 })), value: valueArb },
          { requiredKeys: ['op'] },
        ),
        weight: 1,
      },
    );
  const opArb = opArbFor(paths);
  const requestArb = fc.oneof(
    fc.tuple(fc.constant(false), fc.array(opArbFor(userPaths), { minLength: 1, maxLength: 4 })),
    fc.tuple(fc.constant(true), fc.array(opArbFor(groupPaths), { minLength: 1, maxLength: 4 })),
  );
  const userData: ScimJson = deepFreeze({
    ...baseUser(),
    employeeCode: 'E1',
    phoneNumbers: [{ value: '1', type: 'mobile' }],
    [ENTERPRISE]: { employeeNumber: '42', manager: { value: 'm1' } },
  });
  const current: Member[] = deepFreeze([{ value: 'a', display: 'x bot' }, { value: 'b' }]);

  it('random op lists only ever throw ScimError, and never mutate the input', () => {
    let applied = 0;
    let runs = 0;
    fc.assert(
      fc.property(requestArb, ([asGroup, ops]) => {
        const ctx = asGroup ? groupCtx() : userCtx();
        const data = asGroup ? deepFreeze({ displayName: 'G' }) : userData;
        const reqBody = JSON.parse(JSON.stringify(body(...ops))) as unknown;
        const bodySnapshot = structuredClone(reqBody);
        try {
          const parsed = parsePatchRequest(reqBody, ctx);
          const opsSnapshot = structuredClone(parsed);
          const result = applyPatch(data, parsed, ctx, current);
          applied++;
          expect(parsed).toEqual(opsSnapshot);
          if (!result.changed) expect(result.data).toEqual(data);
        } catch (e) {
          if (!(e instanceof ScimError)) throw e;
          expect(e.status).toBe(400);
        }
        expect(reqBody).toEqual(bodySnapshot);
        runs++;
      }),
      { numRuns: 1500 },
    );
    // Guard against a generator that only ever produces rejected requests.
    expect(applied / runs).toBeGreaterThan(0.15);
  });

  it('PatchOps built directly (without parsePatchRequest) are validated as strictly', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 4 }), (raw) => {
        const ops: PatchOp[] = [];
        for (const r of raw as Array<{ op: string; path?: string; value?: unknown }>) {
          let path;
          try {
            path = r.path === undefined ? undefined : parsePath(r.path);
          } catch {
            continue;
          }
          ops.push({ op: r.op as PatchOp['op'], path, value: r.value });
        }
        try {
          applyPatch(userData, ops, userCtx(), current);
        } catch (e) {
          if (!(e instanceof ScimError)) throw e;
        }
      }),
      { numRuns: 1000 },
    );
  });
});

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
    Object.freeze(v);
  }
  return v;
}
