import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ScimError } from '../errors.js';
import type { AttrPath, CompareValue, FilterNode } from './index.js';
import { formatFilter, formatPath, parseFilter, parsePath } from './index.js';

const ENT = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const CORE = 'urn:ietf:params:scim:schemas:core:2.0:User';

// Small AST builders keep the tables readable.
const p = (attr: string, subAttr?: string, schema?: string): AttrPath => ({
  ...(schema === undefined ? {} : { schema }),
  attr,
  ...(subAttr === undefined ? {} : { subAttr }),
});
const cmp = (path: AttrPath | string, op: string, value: CompareValue): FilterNode =>
  ({ kind: 'compare', path: typeof path === 'string' ? p(path) : path, op, value }) as FilterNode;
const pr = (path: AttrPath | string): FilterNode => ({ kind: 'present', path: typeof path === 'string' ? p(path) : path });
const and = (left: FilterNode, right: FilterNode): FilterNode => ({ kind: 'and', left, right });
const or = (left: FilterNode, right: FilterNode): FilterNode => ({ kind: 'or', left, right });
const not = (filter: FilterNode): FilterNode => ({ kind: 'not', filter });
const vp = (attr: string, filter: FilterNode, schema?: string): FilterNode => ({
  kind: 'valuePath',
  path: { ...(schema === undefined ? {} : { schema }), attr, filter },
});

function errorOf(fn: () => unknown): ScimError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ScimError) return e;
    throw new Error(`expected ScimError, got ${String(e)}`);
  }
  throw new Error('expected an error');
}

describe('parseFilter: accepted filters', () => {
  const rows: Array<[string, FilterNode]> = [
    // every operator
    ['userName eq "bjensen"', cmp('userName', 'eq', 'bjensen')],
    ['userName ne "bjensen"', cmp('userName', 'ne', 'bjensen')],
    ['userName co "jen"', cmp('userName', 'co', 'jen')],
    ['userName sw "J"', cmp('userName', 'sw', 'J')],
    ['userName ew "sen"', cmp('userName', 'ew', 'sen')],
    ['title pr', pr('title')],
    ['meta.lastModified gt "2011-05-13T04:42:34Z"', cmp(p('meta', 'lastModified'), 'gt', '2011-05-13T04:42:34Z')],
    ['meta.lastModified ge "2011-05-13T04:42:34Z"', cmp(p('meta', 'lastModified'), 'ge', '2011-05-13T04:42:34Z')],
    ['meta.lastModified lt "2011-05-13T04:42:34Z"', cmp(p('meta', 'lastModified'), 'lt', '2011-05-13T04:42:34Z')],
    ['meta.lastModified le "2011-05-13T04:42:34Z"', cmp(p('meta', 'lastModified'), 'le', '2011-05-13T04:42:34Z')],
    // operators, keywords and literals are case-insensitive; names keep their spelling
    ['userName EQ "x"', cmp('userName', 'eq', 'x')],
    ['UserName Eq "x"', cmp('UserName', 'eq', 'x')],
    ['title PR', pr('title')],
    ['a eq 1 AND b eq 2', and(cmp('a', 'eq', 1), cmp('b', 'eq', 2))],
    ['a eq 1 Or b eq 2', or(cmp('a', 'eq', 1), cmp('b', 'eq', 2))],
    ['NOT (a pr)', not(pr('a'))],
    ['active eq TRUE', cmp('active', 'eq', true)],
    ['active eq False', cmp('active', 'eq', false)],
    ['x eq NULL', cmp('x', 'eq', null)],
    // literals
    ['n eq 42', cmp('n', 'eq', 42)],
    ['n eq -42', cmp('n', 'eq', -42)],
    ['n eq 0', cmp('n', 'eq', 0)],
    ['n eq 3.25', cmp('n', 'eq', 3.25)],
    ['n eq -0.5', cmp('n', 'eq', -0.5)],
    ['n eq 1e3', cmp('n', 'eq', 1000)],
    ['n eq 2.5E-2', cmp('n', 'eq', 0.025)],
    ['n eq 1e+2', cmp('n', 'eq', 100)],
    ['s eq ""', cmp('s', 'eq', '')],
    ['s eq "a \\"quoted\\" word"', cmp('s', 'eq', 'a "quoted" word')],
    ['s eq "back\\\\slash"', cmp('s', 'eq', 'back\\slash')],
    ['s eq "\\u00e9t\\u00C9"', cmp('s', 'eq', 'étÉ')],
    ['s eq "\\/\\b\\f\\n\\r\\t"', cmp('s', 'eq', '/\b\f\n\r\t')],
    ['s eq "with ( ) [ ] and or not"', cmp('s', 'eq', 'with ( ) [ ] and or not')],
    ['s eq "ünïcødé ☃"', cmp('s', 'eq', 'ünïcødé ☃')],
    ['s eq "a+b"', cmp('s', 'eq', 'a+b')],
    // precedence: and binds tighter than or
    ['a pr or b pr and c pr', or(pr('a'), and(pr('b'), pr('c')))],
    ['a pr and b pr or c pr', or(and(pr('a'), pr('b')), pr('c'))],
    ['(a pr or b pr) and c pr', and(or(pr('a'), pr('b')), pr('c'))],
    ['a pr and b pr and c pr', and(and(pr('a'), pr('b')), pr('c'))],
    ['a pr or b pr or c pr', or(or(pr('a'), pr('b')), pr('c'))],
    // long chains are balanced (same meaning, logarithmic depth)
    ['a pr and b pr and c pr and d pr', and(and(pr('a'), pr('b')), and(pr('c'), pr('d')))],
    // not, parentheses, nesting
    ['not (a pr)', not(pr('a'))],
    ['not(a pr)', not(pr('a'))],
    ['not (a pr and b pr)', not(and(pr('a'), pr('b')))],
    ['not (not (a pr))', not(not(pr('a')))],
    ['((a pr))', pr('a')],
    ['a pr and not (b pr or c pr)', and(pr('a'), not(or(pr('b'), pr('c'))))],
    ['(a eq 1)and(b eq 2)', and(cmp('a', 'eq', 1), cmp('b', 'eq', 2))],
    // attributes that are named like keywords or operators
    ['not pr', pr('not')],
    ['not eq 1', cmp('not', 'eq', 1)],
    ['and eq "x"', cmp('and', 'eq', 'x')],
    ['pr pr', pr('pr')],
    ['eq eq "eq"', cmp('eq', 'eq', 'eq')],
    // whitespace: tabs, several spaces, leading/trailing
    ['\tuserName\teq\t"x"\t', cmp('userName', 'eq', 'x')],
    ['  userName   eq    "x"  ', cmp('userName', 'eq', 'x')],
    ['userName eq"x"', cmp('userName', 'eq', 'x')],
    // sub-attributes, $ref, names with - _ digits
    ['name.givenName eq "Barbara"', cmp(p('name', 'givenName'), 'eq', 'Barbara')],
    ['members.$ref pr', pr(p('members', '$ref'))],
    ['x-attr_2 pr', pr('x-attr_2')],
    // schema-qualified names (URNs contain dots like 2.0)
    [`${CORE}:userName eq "x"`, cmp(p('userName', undefined, CORE), 'eq', 'x')],
    [`${CORE}:name.familyName eq "x"`, cmp(p('name', 'familyName', CORE), 'eq', 'x')],
    [`${ENT}:employeeNumber eq "701984"`, cmp(p('employeeNumber', undefined, ENT), 'eq', '701984')],
    [`${ENT}:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"`, cmp(p('manager', 'value', ENT), 'eq', '26118915-6090-4610-87e4-49d8ca9f808d')],
    [`${ENT}:manager pr`, pr(p('manager', undefined, ENT))],
    // value paths
    ['emails[type eq "work"]', vp('emails', cmp('type', 'eq', 'work'))],
    ['emails[type eq "work" and value co "@example.com"]', vp('emails', and(cmp('type', 'eq', 'work'), cmp('value', 'co', '@example.com')))],
    ['emails[not (type eq "work")]', vp('emails', not(cmp('type', 'eq', 'work')))],
    ['emails[(type eq "a" or type eq "b") and primary eq true]', vp('emails', and(or(cmp('type', 'eq', 'a'), cmp('type', 'eq', 'b')), cmp('primary', 'eq', true)))],
    ['emails [type eq "work"]', vp('emails', cmp('type', 'eq', 'work'))],
    [`${CORE}:emails[type eq "work"]`, vp('emails', cmp('type', 'eq', 'work'), CORE)],
    // value path followed by sub-attribute and comparison (Entra ID)
    [
      'emails[type eq "work"].value eq "a@b"',
      cmp({ attr: 'emails', filter: cmp('type', 'eq', 'work'), subAttr: 'value' }, 'eq', 'a@b'),
    ],
    ['emails[type eq "work"].value pr', pr({ attr: 'emails', filter: cmp('type', 'eq', 'work'), subAttr: 'value' })],
    [
      'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
      and(cmp('userType', 'eq', 'Employee'), or(cmp('emails', 'co', 'example.com'), cmp(p('emails', 'value'), 'co', 'example.org'))),
    ],
    [
      'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
      and(cmp('userType', 'eq', 'Employee'), vp('emails', and(cmp('type', 'eq', 'work'), cmp('value', 'co', '@example.com')))),
    ],
    [
      'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
      or(
        vp('emails', and(cmp('type', 'eq', 'work'), cmp('value', 'co', '@example.com'))),
        vp('ims', and(cmp('type', 'eq', 'xmpp'), cmp('value', 'co', '@foo.com'))),
      ),
    ],
    ['members[value eq "2819c223"] and displayName sw "a"', and(vp('members', cmp('value', 'eq', '2819c223')), cmp('displayName', 'sw', 'a'))],
  ];

  it.each(rows)('%s', (input, expected) => {
    expect(parseFilter(input)).toEqual(expected);
  });
});

describe('parseFilter: errors', () => {
  // [input, fragment of the detail, 1-based position or undefined]
  const rows: Array<[string, string | RegExp, number | undefined]> = [
    ['userName equals "x"', 'expected a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after "userName", found "equals"', 10],
    ['', 'the filter is empty', 1],
    ['   \t ', 'the filter is empty', 1],
    ['userName', 'expected a comparison operator', 9],
    ['userName eq', 'expected a value after "eq"', 12],
    ['userName eq bjensen', 'if it is text, put it in double quotes: eq "bjensen"', 13],
    ["userName eq 'bjensen'", 'strings use double quotes', 13],
    ['userName eq "bjensen', 'unterminated string', 13],
    ['userName eq "bj\\"', 'unterminated string', 13],
    ['userName eq "a\\x"', 'invalid escape "\\x"', 15],
    ['userName eq "a\\u12"', '\\u must be followed by 4 hexadecimal digits', 15],
    ['n eq 01', 'not a valid number', 6],
    ['n eq 1.', 'not a valid number', 6],
    ['n eq .5', 'not a valid number', 6],
    ['n eq +1', 'not a valid number', 6],
    ['n eq 1e999', 'out of range', 6],
    ['(userName eq "x"', 'expected ")" to close the "(" at position 1, found the end of the filter', 17],
    ['userName eq "x")', 'unexpected ")" without a matching "("', 16],
    ['((a pr)', 'expected ")" to close the "(" at position 1', 8],
    ['emails[type eq "work"', 'expected "]" to close the "[" at position 7', 22],
    ['emails[type eq "work"]]', 'unexpected "]" without a matching "["', 23],
    ['emails[type eq "work")', 'expected "]" to close the "[" at position 7', 22],
    ['(a pr]', 'expected ")" to close the "(" at position 1, found "]"', 6],
    ['emails[]', 'the value filter "emails[]" is empty', 8],
    ['a[b[c eq 1]]', 'nested value filters are not allowed', 4],
    ['userName eq "x" foo', 'expected "and", "or" or the end of the filter after the string "x", found "foo"', 17],
    ['userName eq "x" and', 'expected an attribute name, "(" or "not" after "and", found the end of the filter', 20],
    ['userName eq "x" or or b pr', 'expected an attribute name, "(" or "not" after "or", found "or"', 20],
    ['and', 'expected an attribute name, "(" or "not", found "and"', 1],
    ['a pr and and b pr', 'expected an attribute name, "(" or "not" after "and", found "and"', 10],
    ['"x" eq userName', 'write the attribute first', 1],
    ['()', 'expected an attribute name, "(" or "not"', 2],
    ['not userName eq "x"', 'expected "(" after "not", found "userName"', 5],
    ['title pr "x"', 'expected "and", "or" or the end of the filter', 10],
    ['name.givenName.x eq 1', 'too many dots', 15],
    ['1abc eq 1', 'is not a valid attribute name', 1],
    ['user@name eq 1', 'is not a valid attribute name', 1],
    ['.value eq 1', 'a sub-attribute needs its attribute first', 1],
    ['name. eq 1', 'expected an attribute name in "name."', 6],
    [`${CORE}: eq 1`, 'expected an attribute name after the schema URN', 44],
    ['emails[type eq "work"] eq "x"', 'name a sub-attribute after "]"', 24],
    ['emails[type eq "work"].value', 'expected a comparison operator', 29],
    ['emails[type eq "work"].value.x eq 1', 'is not a valid attribute name', 24],
    ['name.givenName[x eq 1]', 'put it before the sub-attribute', 15],
    [`emails[${CORE}:type eq "work"]`, 'without a schema URN', 8],
    ['emails[value.x eq 1]', 'name a sub-attribute of "emails"', 8],
    ['__proto__ eq 1', 'prototype pollution', 1],
    ['constructor pr', 'prototype pollution', 1],
    ['a.prototype pr', 'prototype pollution', 3],
    ['Constructor.x pr', 'prototype pollution', 1],
    [`${CORE}:__proto__ pr`, 'prototype pollution', 44],
    ['emails[__proto__ eq 1]', 'prototype pollution', 8],
  ];

  it.each(rows)('%s', (input, fragment, position) => {
    const err = errorOf(() => parseFilter(input));
    expect(err.status).toBe(400);
    expect(err.scimType).toBe('invalidFilter');
    if (typeof fragment === 'string') expect(err.detail).toContain(fragment);
    else expect(err.detail).toMatch(fragment);
    if (position !== undefined) expect(err.detail).toMatch(new RegExp(`^Filter error at position ${position}: `));
  });

  it('rejects input longer than maxLength, naming the limit', () => {
    const err = errorOf(() => parseFilter(`userName eq "${'x'.repeat(100)}"`, { maxLength: 50, maxDepth: 16 }));
    expect(err.scimType).toBe('invalidFilter');
    expect(err.detail).toBe('Filter is 114 characters long; the limit is 50 characters');
  });

  it('accepts input exactly at maxLength', () => {
    expect(parseFilter('a pr', { maxLength: 4, maxDepth: 1 })).toEqual(pr('a'));
  });

  it('applies the default limits (4096 characters, depth 16)', () => {
    expect(() => parseFilter(`a eq "${'x'.repeat(4100)}"`)).toThrow(/limit is 4096/);
    expect(parseFilter(`${'('.repeat(16)}a pr${')'.repeat(16)}`)).toEqual(pr('a'));
    expect(() => parseFilter(`${'('.repeat(17)}a pr${')'.repeat(17)}`)).toThrow(/limit of 16 levels/);
  });

  it.each([
    ['(((a pr)))', 3, true],
    ['(((a pr)))', 2, false],
    ['not (not (a pr))', 2, true],
    ['not (not (a pr))', 1, false],
    ['(emails[type eq "w"])', 2, true],
    ['(emails[type eq "w"])', 1, false],
    ['emails[not (type eq "w")]', 1, false],
    ['a pr and (b pr) and (c pr) and (d pr)', 1, true],
  ])('depth limit: %s with maxDepth %i -> ok=%s', (input, maxDepth, ok) => {
    const run = () => parseFilter(input, { maxLength: 4096, maxDepth });
    if (ok) expect(run).not.toThrow();
    else expect(run).toThrow(new RegExp(`limit of ${maxDepth} levels`));
  });

  it('handles very long and/or chains without deep recursion (balanced tree)', () => {
    const n = 20000;
    const input = Array.from({ length: n }, (_, i) => `a${i} pr`).join(' and ');
    const ast = parseFilter(input, { maxLength: input.length, maxDepth: 16 });
    let depth = 0;
    for (let node: FilterNode = ast; node.kind === 'and'; node = node.left) depth++;
    expect(depth).toBeLessThanOrEqual(Math.ceil(Math.log2(n)) + 1);
  });

  it('turns a stack overflow from a huge caller-supplied maxDepth into invalidFilter', () => {
    const n = 200_000;
    const input = `${'('.repeat(n)}a pr${')'.repeat(n)}`;
    const err = errorOf(() => parseFilter(input, { maxLength: input.length, maxDepth: n }));
    expect(err.scimType).toBe('invalidFilter');
  });

  it('rejects non-string input with ScimError', () => {
    expect(errorOf(() => parseFilter(undefined as unknown as string)).scimType).toBe('invalidFilter');
  });
});

describe('parsePath', () => {
  const rows: Array<[string, AttrPath]> = [
    ['userName', p('userName')],
    ['name.givenName', p('name', 'givenName')],
    ['members', p('members')],
    [`${CORE}:userName`, p('userName', undefined, CORE)],
    [`${ENT}:manager`, p('manager', undefined, ENT)],
    [`${ENT}:manager.value`, p('manager', 'value', ENT)],
    ['members[value eq "2819c223-7f76-453a-919d-413861904646"]', { attr: 'members', filter: cmp('value', 'eq', '2819c223-7f76-453a-919d-413861904646') }],
    ['emails[type eq "work"].value', { attr: 'emails', filter: cmp('type', 'eq', 'work'), subAttr: 'value' }],
    [
      'addresses[type eq "work" and primary eq true].streetAddress',
      { attr: 'addresses', filter: and(cmp('type', 'eq', 'work'), cmp('primary', 'eq', true)), subAttr: 'streetAddress' },
    ],
    [`${CORE}:emails[type eq "work"].value`, { schema: CORE, attr: 'emails', filter: cmp('type', 'eq', 'work'), subAttr: 'value' }],
    [' userName ', p('userName')],
  ];
  it.each(rows)('%s', (input, expected) => {
    expect(parsePath(input)).toEqual(expected);
  });

  const errors: Array<[string, string, number | undefined]> = [
    ['', 'the path is empty', 1],
    ['userName eq "x"', 'expected the end of the path after "userName", found "eq"', 10],
    ['emails[type eq "work"', 'expected "]" to close the "[" at position 7, found the end of the path', 22],
    ['emails[type eq]', 'expected a value after "eq"', 15],
    ['emails[type eq "work"].value.x', 'is not a valid attribute name', 24],
    ['emails[type eq "work"] x', 'expected the end of the path', 24],
    ['a.b.c', 'too many dots', 4],
    ['__proto__', 'prototype pollution', 1],
    ['a.constructor', 'prototype pollution', 3],
    ['emails[a[b eq 1]]', 'nested value filters', 9],
    ['"userName"', 'expected an attribute name', 1],
    ['(userName)', 'expected an attribute name', 1],
  ];
  it.each(errors)('error: %s', (input, fragment, position) => {
    const err = errorOf(() => parsePath(input));
    expect(err.status).toBe(400);
    expect(err.scimType).toBe('invalidPath');
    expect(err.detail).toContain(fragment);
    if (position !== undefined) expect(err.detail).toMatch(new RegExp(`^Path error at position ${position}: `));
  });

  it('enforces limits with invalidPath', () => {
    expect(errorOf(() => parsePath('a'.repeat(30), { maxLength: 10, maxDepth: 4 })).detail).toBe(
      'Path is 30 characters long; the limit is 10 characters',
    );
    expect(errorOf(() => parsePath('emails[type eq "x"]', { maxLength: 100, maxDepth: 0 })).detail).toContain('limit of 0 levels');
  });
});

describe('formatFilter / formatPath', () => {
  it.each([
    'userName eq "bjensen"',
    'a pr or b pr and c pr',
    '(a pr or b pr) and c pr',
    'not (a pr and b pr)',
    'emails[type eq "work" and value co "@x"]',
    'emails[type eq "work"].value eq "a@b"',
    `${ENT}:manager.value eq "x"`,
    'n gt -1.5 and s eq "q\\"uote\\\\" and b eq true and z eq null',
  ])('round trips %s', (input) => {
    const ast = parseFilter(input);
    expect(parseFilter(formatFilter(ast))).toEqual(ast);
  });

  it('prints canonical text', () => {
    expect(formatFilter(parseFilter('A Eq "x" AND (b PR OR c lt 2)'))).toBe('A eq "x" and (b pr or c lt 2)');
    expect(formatPath(parsePath('emails[type eq "work"].value'))).toBe('emails[type eq "work"].value');
  });
});

// ------------------------------------------------------------------ property tests

const nameArb = fc.constantFrom('userName', 'name', 'givenName', 'value', 'type', 'x-1', 'a_b', '$ref', 'not', 'and', 'pr');
const valueArb: fc.Arbitrary<CompareValue> = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0)),
  fc.boolean(),
  fc.constant(null),
);
const opArb = fc.constantFrom('eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le');
const pathArb: fc.Arbitrary<AttrPath> = fc.record(
  {
    schema: fc.constantFrom(CORE, ENT),
    attr: nameArb,
    subAttr: nameArb,
  },
  { requiredKeys: ['attr'] },
);
const leafArb = (inner: boolean): fc.Arbitrary<FilterNode> =>
  fc.oneof(
    fc.tuple(inner ? nameArb.map((attr) => ({ attr })) : pathArb, opArb, valueArb).map(
      ([path, op, value]) => ({ kind: 'compare', path, op, value }) as FilterNode,
    ),
    (inner ? nameArb.map((attr) => ({ attr })) : pathArb).map((path) => ({ kind: 'present', path }) as FilterNode),
  );
const treeArb = (inner: boolean) =>
  fc.letrec<{ node: FilterNode }>((tie) => ({
    node: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leafArb(inner),
      fc.tuple(tie('node'), tie('node')).map(([left, right]) => ({ kind: 'and', left, right }) as FilterNode),
      fc.tuple(tie('node'), tie('node')).map(([left, right]) => ({ kind: 'or', left, right }) as FilterNode),
      tie('node').map((filter) => ({ kind: 'not', filter }) as FilterNode),
    ),
  })).node;
const filterArb: fc.Arbitrary<FilterNode> = fc.oneof(
  treeArb(false),
  fc.tuple(nameArb, treeArb(true)).map(([attr, filter]) => ({ kind: 'valuePath', path: { attr, filter } }) as FilterNode),
);

describe('properties', () => {
  const isOk = (run: () => unknown) => {
    try {
      run();
      return true;
    } catch (e) {
      return e instanceof ScimError && e.status === 400 && (e.scimType === 'invalidFilter' || e.scimType === 'invalidPath');
    }
  };

  it('any string parses or throws ScimError 400 (filter and path)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => isOk(() => parseFilter(s)) && isOk(() => parsePath(s))),
      { numRuns: 5000 },
    );
  });

  it('strings made of filter-ish pieces parse or throw ScimError 400', () => {
    const piece = fc.constantFrom(
      'userName', ' ', '\t', 'eq', 'pr', 'and', 'or', 'not', '(', ')', '[', ']', '"', '"x"', '\\', '\\u', '.', ':',
      'urn:ietf:params:scim:schemas:core:2.0:User:', 'emails', 'value', '1', '-', 'e', 'true', 'null', '__proto__', '$ref',
    );
    const input = fc.array(piece, { maxLength: 40 }).map((a) => a.join(''));
    fc.assert(
      fc.property(input, fc.integer({ min: 0, max: 6 }), (s, maxDepth) => {
        const limits = { maxLength: 4096, maxDepth };
        return isOk(() => parseFilter(s, limits)) && isOk(() => parsePath(s, limits));
      }),
      { numRuns: 5000 },
    );
  });

  it('formatFilter output parses back to an equivalent AST', () => {
    fc.assert(
      fc.property(filterArb, (ast) => {
        const text = formatFilter(ast);
        const parsed = parseFilter(text, { maxLength: 1_000_000, maxDepth: 1000 });
        // Chains may be re-balanced; the printed form is canonical, so compare that.
        expect(formatFilter(parsed)).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });
});
