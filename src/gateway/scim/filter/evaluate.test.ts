import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ScimError } from '../errors.js';
import type { AttributeDef, AttributeResolver, ResolvedAttribute } from '../schemas/attribute.js';
import type { FilterNode } from './index.js';
import { compileElementFilter, compileFilter, equalityTerms, matchElement, parseFilter, parsePath } from './index.js';

// ------------------------------------------------------------------ test-only schema + resolver

const CORE = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENT = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

function attr(name: string, type: AttributeDef['type'], more: Partial<AttributeDef> = {}): AttributeDef {
  return {
    name,
    type,
    multiValued: false,
    description: name,
    required: false,
    caseExact: false,
    mutability: 'readWrite',
    returned: 'default',
    uniqueness: 'none',
    ...more,
  };
}

const coreAttrs: AttributeDef[] = [
  attr('id', 'string', { caseExact: true, mutability: 'readOnly' }),
  attr('externalId', 'string', { caseExact: true }),
  attr('userName', 'string', { uniqueness: 'server' }),
  attr('displayName', 'string'),
  attr('title', 'string'),
  attr('name', 'complex', { subAttributes: [attr('givenName', 'string'), attr('familyName', 'string')] }),
  attr('emails', 'complex', {
    multiValued: true,
    subAttributes: [attr('value', 'string'), attr('type', 'string'), attr('primary', 'boolean'), attr('display', 'string')],
  }),
  attr('x509Certificates', 'complex', { multiValued: true, subAttributes: [attr('value', 'binary', { caseExact: true })] }),
  attr('tags', 'string', { multiValued: true }),
  attr('active', 'boolean'),
  attr('loginCount', 'integer'),
  attr('score', 'decimal'),
  attr('meta', 'complex', {
    mutability: 'readOnly',
    subAttributes: [attr('lastModified', 'dateTime'), attr('created', 'dateTime'), attr('resourceType', 'string', { caseExact: true })],
  }),
];
const entAttrs: AttributeDef[] = [
  attr('employeeNumber', 'string'),
  attr('manager', 'complex', {
    subAttributes: [attr('value', 'string', { caseExact: true }), attr('displayName', 'string'), attr('$ref', 'reference')],
  }),
];

const findCI = (defs: AttributeDef[] | undefined, name: string) =>
  defs?.find((d) => d.name.toLowerCase() === name.toLowerCase());

const resolver: AttributeResolver = {
  resolve(schema, name, subAttr) {
    let defs = coreAttrs;
    let extension: string | undefined;
    if (schema !== undefined) {
      if (schema.toLowerCase() === ENT.toLowerCase()) {
        defs = entAttrs;
        extension = ENT;
      } else if (schema.toLowerCase() !== CORE.toLowerCase()) {
        return undefined;
      }
    }
    const def = findCI(defs, name);
    if (def === undefined) return undefined;
    const resolved: ResolvedAttribute = { canonical: def.name, def, ...(extension ? { extension } : {}) };
    if (subAttr === undefined) return resolved;
    const sub = findCI(def.subAttributes, subAttr);
    return sub === undefined ? undefined : { ...resolved, sub: { canonical: sub.name, def: sub } };
  },
  resolveSub(parent, name) {
    const sub = findCI(parent.def.subAttributes, name);
    return sub === undefined ? undefined : { canonical: sub.name, def: sub };
  },
};

// ------------------------------------------------------------------ fixtures

const users: Array<Record<string, unknown>> = [
  {
    id: 'u1',
    externalId: 'E1',
    userName: 'bjensen',
    name: { givenName: 'Barbara', familyName: 'Jensen' },
    emails: [
      { value: 'bjensen@Example.com', type: 'work', primary: true },
      { value: 'babs@home.org', type: 'home' },
    ],
    tags: ['Blue', 'green'],
    active: true,
    loginCount: 5,
    score: 2.5,
    meta: { lastModified: '2024-01-15T10:00:00Z' },
    [ENT]: { employeeNumber: '701984', manager: { value: 'u2', displayName: 'Jim' } },
  },
  {
    id: 'u2',
    externalId: 'e1',
    userName: 'JSmith',
    name: { givenName: 'Jim', familyName: 'Smith' },
    emails: [{ value: 'jim@example.org', type: 'work' }],
    tags: 'solo',
    active: false,
    loginCount: 10,
    meta: { lastModified: '2024-06-01T00:00:00.000Z' },
    [ENT]: { employeeNumber: '42' },
  },
  {
    id: 'u3',
    UserName: 'Mixed.Case', // clients send keys in any case
    name: { givenName: null, familyName: '' },
    emails: [],
    active: 'True', // some clients store booleans as strings
    title: '',
    Meta: { LastModified: '2023-12-31T23:59:59Z' },
  },
  {
    id: 'u4',
    userName: 'nobody',
    emails: [{ type: 'work' }],
    x509Certificates: [{ value: 'TUlJ' }],
    loginCount: '7',
    [ENT.toLowerCase()]: { manager: { value: null, displayName: null } },
  },
];

function run(filter: string): string[] {
  const match = compileFilter(parseFilter(filter), resolver);
  return users.filter(match).map((u) => u.id as string);
}

function errorOf(fn: () => unknown): ScimError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ScimError) return e;
    throw new Error(`expected ScimError, got ${String(e)}`);
  }
  throw new Error('expected an error');
}

describe('compileFilter: evaluation', () => {
  const rows: Array<[string, string[]]> = [
    // strings, caseExact false (userName) — RFC7644 §3.4.2.2
    ['userName eq "bjensen"', ['u1']],
    ['userName eq "BJENSEN"', ['u1']],
    ['username EQ "mixed.case"', ['u3']],
    ['userName ne "bjensen"', ['u2', 'u3', 'u4']],
    ['userName co "SMI"', ['u2']],
    ['userName sw "j"', ['u2']],
    ['userName ew "CASE"', ['u3']],
    ['userName gt "k"', ['u3', 'u4']],
    ['userName lt "JSMITH"', ['u1']],
    ['userName le "JSMITH"', ['u1', 'u2']],
    ['userName ge "nobody"', ['u4']],
    ['userName pr', ['u1', 'u2', 'u3', 'u4']],
    // caseExact true (id, externalId)
    ['externalId eq "E1"', ['u1']],
    ['externalId eq "e1"', ['u2']],
    ['id eq "U1"', []],
    ['externalId sw "e"', ['u2']],
    ['externalId gt "E"', ['u1', 'u2']],
    ['externalId lt "e"', ['u1']],
    // complex singular
    ['name.givenName eq "barbara"', ['u1']],
    ['name.familyName pr', ['u1', 'u2']],
    ['name pr', ['u1', 'u2']],
    ['title pr', []],
    ['name eq null', ['u3', 'u4']],
    ['name ne null', ['u1', 'u2']],
    ['title eq null', ['u1', 'u2', 'u3', 'u4']],
    // multi-valued
    ['emails pr', ['u1', 'u2', 'u4']],
    ['not (emails pr)', ['u3']],
    ['emails co "EXAMPLE"', ['u1', 'u2']],
    ['emails eq "babs@home.org"', ['u1']],
    ['emails.value ew ".ORG"', ['u1', 'u2']],
    ['emails.type eq "home"', ['u1']],
    ['emails.type ne "work"', ['u3']],
    ['emails.primary eq true', ['u1']],
    ['tags eq "blue"', ['u1']],
    ['tags eq "solo"', ['u2']],
    // value filters
    ['emails[type eq "work" and value co "@example"]', ['u1', 'u2']],
    ['emails[type eq "work" and primary eq true]', ['u1']],
    ['emails[TYPE EQ "WORK"]', ['u1', 'u2', 'u4']],
    ['emails[not (type eq "work")]', ['u1']],
    ['emails[value pr]', ['u1', 'u2']],
    ['emails[type eq "home"].value eq "babs@home.org"', ['u1']],
    ['emails[type eq "work"].value eq "babs@home.org"', []],
    ['emails[type eq "work"].value pr', ['u1', 'u2']],
    ['emails[type eq "work"].value ne "jim@example.org"', ['u1', 'u3', 'u4']],
    ['name[givenName sw "b"]', ['u1']],
    // booleans
    ['active eq true', ['u1', 'u3']],
    ['active eq false', ['u2']],
    ['active ne true', ['u2', 'u4']],
    ['active eq "true"', ['u1', 'u3']],
    ['active pr', ['u1', 'u2', 'u3']],
    // numbers
    ['loginCount gt 5', ['u2', 'u4']],
    ['loginCount ge 5', ['u1', 'u2', 'u4']],
    ['loginCount lt 7', ['u1']],
    ['loginCount le 7', ['u1', 'u4']],
    ['loginCount eq "10"', ['u2']],
    ['loginCount eq 1e1', ['u2']],
    ['score lt 3', ['u1']],
    ['score eq 2.50', ['u1']],
    ['score ne 2.5', ['u2', 'u3', 'u4']],
    // dateTime (compared as instants; unzoned values are UTC)
    ['meta.lastModified gt "2024-01-01T00:00:00Z"', ['u1', 'u2']],
    ['meta.lastModified ge "2024-06-01T00:00:00Z"', ['u2']],
    ['meta.lastModified eq "2024-06-01T00:00:00Z"', ['u2']],
    ['meta.lastModified eq "2024-06-01T02:00:00+02:00"', ['u2']],
    ['meta.lastModified lt "2024-01-01"', ['u3']],
    ['meta.lastModified le "2024-01-15T10:00:00"', ['u1', 'u3']],
    ['meta.lastModified sw "2024-"', ['u1', 'u2']],
    ['meta.lastModified pr', ['u1', 'u2', 'u3']],
    // binary: caseExact, eq only
    ['x509Certificates.value eq "TUlJ"', ['u4']],
    ['x509Certificates.value eq "tulj"', []],
    // enterprise extension (URNs with dots), core URN
    [`${ENT}:employeeNumber eq "701984"`, ['u1']],
    [`${ENT}:manager.value eq "u2"`, ['u1']],
    [`${ENT}:manager.value eq "U2"`, []],
    [`${ENT}:manager.displayName eq "JIM"`, ['u1']],
    [`${ENT}:manager pr`, ['u1']],
    [`${ENT.toUpperCase()}:EMPLOYEENUMBER eq "42"`, ['u2']],
    [`${CORE}:userName eq "bjensen"`, ['u1']],
    [`${CORE}:name.givenName sw "J"`, ['u2']],
    // logic and precedence
    ['userName eq "bjensen" or userName eq "jsmith" and active eq true', ['u1']],
    ['(userName eq "bjensen" or userName eq "jsmith") and active eq false', ['u2']],
    ['not (active eq true)', ['u2', 'u4']],
    ['not (not (active eq true))', ['u1', 'u3']],
    ['userName eq "x" or loginCount lt 6 or active eq false', ['u1', 'u2']],
    ['userName pr and emails pr and loginCount pr and active pr', ['u1', 'u2']],
    ['emails[type eq "home"] or emails[type eq "work" and value pr] and active eq false', ['u1', 'u2']],
  ];

  it.each(rows)('%s', (filter, expected) => {
    expect(run(filter)).toEqual(expected);
  });
});

describe('compileFilter: compile-time errors', () => {
  const rows: Array<[string, string]> = [
    ['foo eq 1', 'Unknown attribute "foo" in filter; see /Schemas for the attributes of this resource type'],
    ['name.foo eq "x"', 'Unknown attribute "name.foo" in filter'],
    ['userName.foo pr', 'Unknown attribute "userName.foo" in filter'],
    ['emails[foo eq 1]', 'Unknown attribute "emails.foo" in filter'],
    ['emails[type eq "w"].foo eq 1', 'Unknown attribute "emails.foo" in filter'],
    ['urn:example:other:userName eq "x"', 'Unknown attribute "urn:example:other:userName" in filter'],
    ['userName eq "x" and nope pr', 'Unknown attribute "nope"'],
    ['active gt true', '"gt" cannot be used with the boolean attribute "active"'],
    ['active co "t"', '"co" cannot be used with the boolean attribute'],
    ['active eq 1', '"active" is boolean'],
    ['active eq "yes"', '"active" is boolean'],
    ['emails.primary lt false', 'boolean attribute "emails.primary"'],
    ['x509Certificates.value gt "a"', 'binary attribute'],
    ['x509Certificates.value co "a"', 'binary attribute'],
    ['name eq "x"', '"name" is a complex attribute'],
    ['name co "x"', '"name" is a complex attribute'],
    [`${ENT}:manager eq "u2"`, '"manager" is a complex attribute'],
    ['meta.lastModified gt "yesterday"', '"meta.lastModified" is a dateTime'],
    ['meta.lastModified eq 5', 'is a dateTime'],
    ['meta.lastModified lt "1"', 'is a dateTime'],
    ['meta.lastModified lt "2024-13-45"', 'is a dateTime'],
    ['loginCount eq "abc"', '"loginCount" is a number'],
    ['loginCount eq true', 'is a number'],
    ['loginCount co "1"', 'compares text'],
    ['userName gt null', 'cannot be used with null'],
    ['userName[value eq "x"]', 'needs a complex attribute'],
  ];
  it.each(rows)('%s', (filter, fragment) => {
    const ast = parseFilter(filter);
    const err = errorOf(() => compileFilter(ast, resolver));
    expect(err.status).toBe(400);
    expect(err.scimType).toBe('invalidFilter');
    expect(err.detail).toContain(fragment);
  });

  it('rejects hand-built ASTs the parser would refuse', () => {
    const nested: FilterNode = {
      kind: 'valuePath',
      path: { attr: 'emails', filter: { kind: 'valuePath', path: { attr: 'type', filter: { kind: 'present', path: { attr: 'x' } } } } },
    };
    expect(errorOf(() => compileFilter(nested, resolver)).detail).toContain('Nested value filters');
    const qualified: FilterNode = {
      kind: 'valuePath',
      path: { attr: 'emails', filter: { kind: 'present', path: { schema: CORE, attr: 'type' } } },
    };
    expect(errorOf(() => compileFilter(qualified, resolver)).detail).toContain('name a sub-attribute of "emails"');
  });
});

describe('compileFilter: options.read', () => {
  it('reads top-level attributes through the accessor', () => {
    const external: Record<string, unknown[]> = { u2: [{ value: 'ext@example.net', type: 'work' }] };
    const match = compileFilter(parseFilter('emails[value ew "example.net"] and userName pr'), resolver, {
      read: (resource, resolved) =>
        resolved.canonical === 'emails' ? external[resource.id as string] : (resource[resolved.canonical] ?? resource.UserName),
    });
    expect(users.filter(match).map((u) => u.id)).toEqual(['u2']);
  });
});

describe('matchElement / compileElementFilter', () => {
  const emails = resolver.resolve(undefined, 'emails') as ResolvedAttribute;
  const filter = parsePath('emails[type eq "work" and primary eq true]').filter as FilterNode;
  it.each([
    [{ type: 'work', primary: true }, true],
    [{ Type: 'WORK', primary: 'true' }, true],
    [{ type: 'work', primary: false }, false],
    [{ type: 'home', primary: true }, false],
    [{}, false],
    [null, false],
    ['work', false],
    [[{ type: 'work', primary: true }], false],
  ])('%j -> %s', (element, expected) => {
    expect(matchElement(filter, element, emails, resolver)).toBe(expected);
    expect(compileElementFilter(filter, emails, resolver)(element)).toBe(expected);
  });

  it('reports unknown sub-attributes and simple parents', () => {
    const bad = parsePath('emails[kind eq "work"]').filter as FilterNode;
    expect(errorOf(() => matchElement(bad, {}, emails, resolver)).detail).toContain('Unknown attribute "emails.kind"');
    const userName = resolver.resolve(undefined, 'userName') as ResolvedAttribute;
    expect(errorOf(() => matchElement(filter, {}, userName, resolver)).detail).toContain('needs a complex attribute');
  });
});

describe('equalityTerms', () => {
  it.each([
    ['userName eq "bjensen"', [{ path: { attr: 'userName' }, value: 'bjensen' }]],
    [
      'userName eq "a" and externalId eq "b" and active eq true',
      [
        { path: { attr: 'userName' }, value: 'a' },
        { path: { attr: 'externalId' }, value: 'b' },
        { path: { attr: 'active' }, value: true },
      ],
    ],
    [`${ENT}:employeeNumber eq "7"`, [{ path: { schema: ENT, attr: 'employeeNumber' }, value: '7' }]],
    ['userName eq "a" or externalId eq "b"', undefined],
    ['userName ne "a"', undefined],
    ['userName eq "a" and title pr', undefined],
    ['not (userName eq "a")', undefined],
    ['title eq null', undefined],
    ['emails[type eq "work"]', undefined],
  ])('%s', (filter, expected) => {
    expect(equalityTerms(parseFilter(filter))).toEqual(expected);
  });
});

describe('performance', () => {
  it('evaluates a compiled userName eq "x" millions of times per second', () => {
    const match = compileFilter(parseFilter('userName eq "BJensen"'), resolver);
    const u = users[0];
    const n = 2_000_000;
    let hits = 0;
    for (let i = 0; i < 100_000; i++) if (match(u)) hits++; // warm up
    const start = performance.now();
    for (let i = 0; i < n; i++) if (match(u)) hits++;
    const ms = performance.now() - start;
    expect(hits).toBe(n + 100_000);
    // ~20-50M/s on a laptop; the bound is loose so that slow CI machines do not flake.
    expect(n / (ms / 1000)).toBeGreaterThan(1_000_000);
  });
});

// ------------------------------------------------------------------ properties

const filterText = fc
  .array(
    fc.constantFrom(
      'userName', 'emails', 'emails.value', 'emails.type', 'name', 'name.givenName', 'active', 'loginCount', 'score',
      'meta.lastModified', 'tags', 'x509Certificates.value', `${ENT}:manager`, `${ENT}:manager.value`, 'externalId',
    ),
    { minLength: 1, maxLength: 4 },
  )
  .chain((names) =>
    fc
      .tuple(
        ...names.map((n) =>
          fc.tuple(
            fc.constantFrom('eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le', 'pr'),
            fc.constantFrom('"a"', '"2024-01-01T00:00:00Z"', '5', '2.5', 'true', 'false', 'null', '"true"', '"7"'),
            fc.boolean(),
          ).map(([op, v, neg]) => {
            const term = op === 'pr' ? `${n} pr` : `${n} ${op} ${v}`;
            return neg ? `not (${term})` : term;
          }),
        ),
      )
      .chain((terms) => fc.constantFrom(' and ', ' or ').map((j) => terms.join(j))),
  );

const resourceArb = fc.dictionary(
  fc.constantFrom('id', 'userName', 'UserName', 'emails', 'name', 'active', 'loginCount', 'score', 'meta', 'tags', 'x509Certificates', ENT, 'externalId'),
  fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.array(fc.record({ value: fc.jsonValue({ maxDepth: 1 }), type: fc.constantFrom('work', 'home', 1, null) })),
    fc.record({ lastModified: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string()), givenName: fc.string() }),
    fc.record({ manager: fc.oneof(fc.string(), fc.record({ value: fc.jsonValue({ maxDepth: 1 }) })) }),
  ),
);

describe('properties', () => {
  it('compiles or throws invalidFilter; compiled predicates never throw on any JSON', () => {
    fc.assert(
      fc.property(filterText, fc.array(resourceArb, { maxLength: 5 }), (text, resources) => {
        let match: (r: Record<string, unknown>) => boolean;
        try {
          match = compileFilter(parseFilter(text), resolver);
        } catch (e) {
          return e instanceof ScimError && e.status === 400 && e.scimType === 'invalidFilter';
        }
        for (const r of resources) expect(typeof match(r)).toBe('boolean');
        return true;
      }),
      { numRuns: 2000 },
    );
  });

  it('ne is the negation of eq, not (f) the negation of f', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('userName', 'emails.value', 'tags', 'loginCount', 'active', 'externalId', `${ENT}:manager.value`),
        fc.constantFrom('"bjensen"', '"babs@home.org"', '5', 'true', '"Blue"', '"u2"', '"E1"'),
        resourceArb,
        (name, value, resource) => {
          let eq: (r: Record<string, unknown>) => boolean;
          try {
            eq = compileFilter(parseFilter(`${name} eq ${value}`), resolver);
          } catch {
            return true; // type mismatch, covered elsewhere
          }
          const ne = compileFilter(parseFilter(`${name} ne ${value}`), resolver);
          const notEq = compileFilter(parseFilter(`not (${name} eq ${value})`), resolver);
          const all = [...users, resource];
          return all.every((r) => ne(r) === !eq(r) && notEq(r) === !eq(r));
        },
      ),
      { numRuns: 1000 },
    );
  });
});
