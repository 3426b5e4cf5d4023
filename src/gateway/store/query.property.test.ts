/**
 * Index lookups and scans must give identical answers: the store's query() against a naive
 * reference (every resource through the compiled filter, naive sort, slice).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { compileFilter, parseFilter } from '../scim/filter/index.js';
import { cleanupDirs, groupResolver, openStore, tempDir, userResolver } from '../../../test/fixtures/store/helpers.js';
import type { ResourceType, SortSpec, StoredResource } from './index.js';

afterAll(cleanupDirs);

const C = 'c1';
const NAMES = ['alice', 'Alice', 'bob', 'BOB', 'carol', 'dave'];
const EXT = ['E1', 'e1', 'E2'];
const MAILS = ['a@x.org', 'A@X.org', 'b@x.org', 'c@y.org'];
const TITLES = ['a', 'B', 'ab', 'c'];
const GROUPS = ['Admins', 'admins', 'Ops', 'dev'];

const userSpec = fc.record(
  {
    userName: fc.constantFrom(...NAMES),
    externalId: fc.constantFrom(...EXT),
    title: fc.constantFrom(...TITLES),
    emails: fc.array(fc.record({ value: fc.constantFrom(...MAILS), type: fc.constantFrom('work', 'home'), primary: fc.boolean() }), { maxLength: 3 }),
  },
  { requiredKeys: ['userName'] },
);

const op = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('create' as const), spec: userSpec, suffix: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('replace' as const), target: fc.nat(30), spec: userSpec }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), target: fc.nat(30) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('group' as const), name: fc.constantFrom(...GROUPS), members: fc.array(fc.nat(30), { maxLength: 5 }) }) },
);

const str = (v: string) => JSON.stringify(v);
const userTerm = fc.oneof(
  fc.constantFrom(...NAMES, 'zed').map((v) => `userName eq ${str(v)}`),
  fc.constantFrom(...EXT, 'nope').map((v) => `externalId eq ${str(v)}`),
  fc.constantFrom(...MAILS).map((v) => `emails.value eq ${str(v)}`),
  fc.constantFrom(...MAILS).map((v) => `emails eq ${str(v)}`),
  fc.tuple(fc.constantFrom('work', 'home'), fc.constantFrom(...MAILS)).map(([t, v]) => `emails[type eq ${str(t)}].value eq ${str(v)}`),
  fc.nat(30).map((n) => `id eq "u${n}"`),
  fc.constantFrom(...TITLES).map((v) => `title eq ${str(v)}`),
  fc.constantFrom('title co "a"', 'title pr', 'userName sw "a"', 'emails[type eq "work"]', 'meta.created pr', 'externalId pr'),
);
const groupTerm = fc.oneof(
  fc.constantFrom(...GROUPS, 'x').map((v) => `displayName eq ${str(v)}`),
  fc.nat(30).map((n) => `members.value eq "u${n}"`),
  fc.nat(30).map((n) => `members[value eq "u${n}"]`),
  fc.nat(30).map((n) => `id eq "g${n}"`),
  fc.constantFrom('members pr', 'displayName sw "a"'),
);
const filterOf = (term: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 4, arbitrary: term },
    { weight: 3, arbitrary: fc.tuple(term, term).map(([a, b]) => `${a} and ${b}`) },
    { weight: 1, arbitrary: fc.tuple(term, term, term).map(([a, b, c]) => `${a} and ${b} and ${c}`) },
    { weight: 1, arbitrary: fc.tuple(term, term).map(([a, b]) => `${a} or ${b}`) },
    { weight: 1, arbitrary: term.map((a) => `not (${a})`) },
  );

const userSort = fc.option(
  fc.record({
    by: fc.option(
      fc.constantFrom<SortSpec['by']>(
        { canonical: 'userName', caseExact: false },
        { canonical: 'title', caseExact: false },
        { canonical: 'title', caseExact: true },
        { canonical: 'emails', sub: 'value', caseExact: false },
        { canonical: 'externalId', caseExact: true },
        { canonical: 'meta', sub: 'created', caseExact: false },
      ),
      { nil: undefined },
    ),
    order: fc.constantFrom<SortSpec['order']>('ascending', 'descending'),
  }),
  { nil: undefined },
);

/** The client's view of a resource, for the reference evaluation with the default reader. */
function view(r: StoredResource, members?: unknown[]): Record<string, unknown> {
  return {
    ...r.data,
    id: r.id,
    meta: { resourceType: r.type, created: r.created, lastModified: r.lastModified, version: `W/"${r.version}"` },
    ...(members ? { members } : {}),
  };
}

function refSortKey(v: Record<string, unknown>, by: NonNullable<SortSpec['by']>): string | undefined {
  let x: unknown = v[by.canonical];
  if (Array.isArray(x)) x = x.find((e) => (e as { primary?: boolean }).primary === true) ?? x[0];
  if (by.sub) x = x && typeof x === 'object' ? (x as Record<string, unknown>)[by.sub] : undefined;
  if (typeof x !== 'string') return undefined;
  return by.caseExact ? x : x.toLowerCase();
}

describe('query: index vs scan vs naive reference', () => {
  it('gives identical results for random data, filters, sorting and paging', async () => {
    const dir = await tempDir();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 40 }),
        fc.oneof(
          fc.record({ type: fc.constant<ResourceType>('User'), filter: fc.option(filterOf(userTerm), { nil: undefined }), sort: userSort }),
          fc.record({
            type: fc.constant<ResourceType>('Group'),
            filter: fc.option(filterOf(groupTerm), { nil: undefined }),
            sort: fc.option(
              fc.record({ by: fc.constant({ canonical: 'displayName', caseExact: false }), order: fc.constantFrom<SortSpec['order']>('ascending', 'descending') }),
              { nil: undefined },
            ),
          }),
        ),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 12 }),
        async (ops, q, startIndex, count) => {
          const store = await openStore(`${dir}/${run++}`, { fsync: false });
          try {
            let n = 0;
            for (const o of ops) {
              const data = (s: typeof o & { spec: Record<string, unknown> }) => ({ ...s.spec, userName: `${String(s.spec.userName)}${'suffix' in s ? String(s.suffix) : ''}` });
              const change =
                o.kind === 'create'
                  ? { op: 'create' as const, type: 'User' as const, connection: C, id: `u${n++}`, data: data(o) }
                  : o.kind === 'replace'
                    ? { op: 'replace' as const, type: 'User' as const, connection: C, id: `u${o.target}`, data: data(o) }
                    : o.kind === 'delete'
                      ? { op: 'delete' as const, type: 'User' as const, connection: C, id: `u${o.target}` }
                      : {
                          op: 'create' as const,
                          type: 'Group' as const,
                          connection: C,
                          id: `g${n++}`,
                          data: { displayName: o.name },
                          members: o.members.map((m) => ({ value: `u${m}` })),
                        };
              // conflicts (409), missing targets (404) and unknown members (400) are part of the game
              await store.commit({ changes: [change] }).catch(() => undefined);
            }
            const resolver = q.type === 'User' ? userResolver : groupResolver;
            const ast = q.filter === undefined ? undefined : parseFilter(q.filter);
            const got = await store.query({ connection: C, type: q.type, filter: ast, resolver, sort: q.sort, startIndex, count });

            // reference: all resources in creation order, filtered one by one
            const all = (await store.query({ connection: C, type: q.type, startIndex: 1, count: 10_000 })).resources;
            const views = await Promise.all(all.map(async (r) => ({ r, v: view(r, q.type === 'Group' ? await store.members(C, r.id) : undefined) })));
            const test = ast ? compileFilter(ast, resolver) : () => true;
            let matches = views.filter((x) => test(x.v));
            const by = q.sort?.by;
            if (by) {
              const dirn = q.sort!.order === 'descending' ? -1 : 1;
              const keyed = matches.map((x, i) => ({ x, i, k: by.canonical === 'meta' ? x.r.created : refSortKey(x.v, by) }));
              keyed.sort((a, b) => {
                if (a.k === undefined || b.k === undefined) return a.k === b.k ? a.i - b.i : a.k === undefined ? 1 : -1;
                return (a.k < b.k ? -dirn : a.k > b.k ? dirn : 0) || a.i - b.i;
              });
              matches = keyed.map((e) => e.x);
            }
            expect(got.totalResults).toBe(matches.length);
            expect(got.resources.map((r) => r.id)).toEqual(
              count === 0 ? [] : matches.slice(startIndex - 1, startIndex - 1 + count).map((x) => x.r.id),
            );
          } finally {
            await store.close();
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
