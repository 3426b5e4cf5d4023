/**
 * SCIM filters and sorting as SQL over `scim_resources r`, with the semantics of the in-memory
 * evaluator (src/gateway/scim/filter/evaluate.ts), which stays the reference:
 * - a multi-valued attribute matches when any element does (EXISTS over scim_elems);
 * - `ne` is "not eq" (an absent attribute is ne anything), `pr` is scim_present();
 * - numbers, booleans and date-times compare by value (Entra's "True" and "42" included);
 * - strings honour caseExact; case-insensitive comparisons fold ASCII letters in SQL, so a
 *   literal with non-ASCII letters is left to the in-memory evaluator (translate returns
 *   undefined), where JavaScript's Unicode case folding applies;
 * - the indexed keys (userName, group displayName, emails, externalId, id, members.value) are
 *   looked up through their columns, which hold exactly what the embedded store's indexes hold.
 * The filter must have been compiled by compileFilter first: that is what refuses invalid filters
 * with the same invalidFilter errors in both stores; this module assumes a valid one.
 */
import type { AttrPath, CompareOp, CompareValue, FilterNode } from '../../scim/filter/index.js';
import type { AttributeDef, AttributeResolver, ResolvedAttribute } from '../../scim/index.js';
import type { ResourceType, SortSpec } from '../types.js';

/** Collects bind parameters; `add` returns the placeholder. */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

export interface SqlContext {
  type: ResourceType;
  resolver: AttributeResolver;
  params: Params;
  /** SQL that lower-cases a text expression for sorting (ICU where the server has it). */
  sortFold: (text: string) => string;
}

type Test = (value: string) => string;

interface Scope {
  /** Inside `attr[...]`: the element alias and its parent attribute. */
  element?: { alias: string; parent: ResolvedAttribute };
}

const ASCII = /^[\x00-\x7f]*$/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}/;
const UNZONED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?$/;

/** Not expressible in SQL with the evaluator's exact meaning: the caller evaluates in memory. */
class Untranslatable extends Error {}

/** SQL for the filter, or undefined when only the in-memory evaluator gives its exact meaning. */
export function translateFilter(node: FilterNode, ctx: SqlContext): string | undefined {
  const mark = ctx.params.values.length;
  try {
    return new Translator(ctx).node(node, {});
  } catch (err) {
    if (!(err instanceof Untranslatable)) throw err;
    ctx.params.values.length = mark; // drop the parameters of the abandoned attempt
    return undefined;
  }
}

/**
 * Conjuncts of the filter's top-level `and` chain that translate: SQL selecting a superset of
 * the matches (for the in-memory fallback to narrow its candidates), or undefined for none.
 */
export function translateSuperset(node: FilterNode, ctx: SqlContext): string | undefined {
  const parts: string[] = [];
  const stack: FilterNode[] = [node];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (n.kind === 'and') stack.push(n.right, n.left);
    else {
      const sql = translateFilter(n, ctx);
      if (sql !== undefined) parts.push(sql);
    }
  }
  return parts.length > 0 ? parts.map((p) => `(${p})`).join(' AND ') : undefined;
}

/** The SQL value (jsonb) of a top-level attribute of the row `r`, as readAttribute in query.ts reads it. */
export function topValue(type: ResourceType, extension: string | undefined, canonical: string, params: Params): string {
  if (extension !== undefined) return `(r.data -> ${params.add(extension)} -> ${params.add(canonical)})`;
  switch (canonical) {
    case 'id':
      return 'to_jsonb(r.id)';
    case 'meta':
      return `jsonb_build_object('resourceType', r.type, 'created', r.created, 'lastModified', r.last_modified, 'version', 'W/"' || r.version || '"')`;
    case 'members':
      if (type === 'Group') {
        return `(SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('value', m.member_id, 'type', m.member_type, 'display', m.display)) ORDER BY m.pos), '[]'::jsonb)
                 FROM scim_members m WHERE m.connection = r.connection AND m.group_id = r.id)`;
      }
      break;
  }
  return `(r.data -> ${params.add(canonical)})`;
}

/** `column = value`, false (never NULL) for a NULL column, so NOT works; and the column's index still serves it. */
function notNullEq(column: string, placeholder: string): string {
  return `(${column} IS NOT NULL AND ${column} = ${placeholder})`;
}

class Translator {
  private aliases = 0;
  constructor(private readonly ctx: SqlContext) {}

  private alias(): string {
    return `e${++this.aliases}`;
  }

  node(node: FilterNode, scope: Scope): string {
    switch (node.kind) {
      case 'compare':
        return this.leaf(node.path, node.op, node.value, scope);
      case 'present':
        return this.leaf(node.path, 'pr', null, scope);
      case 'valuePath': {
        const fast = this.membersValueFast(node.path);
        if (fast) return fast;
        return this.access(node.path, scope, true).bind(() => 'true');
      }
      case 'not':
        return `NOT (${this.node(node.filter, scope)})`;
      case 'and':
      case 'or': {
        const parts: string[] = [];
        const stack: FilterNode[] = [node];
        while (stack.length > 0) {
          const n = stack.pop()!;
          if (n.kind === node.kind) stack.push(n.right, n.left);
          else parts.push(`(${this.node(n, scope)})`);
        }
        return parts.join(node.kind === 'and' ? ' AND ' : ' OR ');
      }
    }
  }

  /** `members[value eq "id"]`: the membership table's primary key. */
  private membersValueFast(path: AttrPath): string | undefined {
    if (this.ctx.type !== 'Group' || path.subAttr !== undefined || !path.filter) return undefined;
    const f = path.filter;
    if (f.kind !== 'compare' || f.op !== 'eq' || typeof f.value !== 'string' || f.path.attr.toLowerCase() !== 'value' || f.path.subAttr || f.path.filter) return undefined;
    const top = this.ctx.resolver.resolve(path.schema, path.attr);
    if (!top || top.extension !== undefined || top.canonical !== 'members') return undefined;
    const sub = this.ctx.resolver.resolveSub(top, 'value');
    if (!sub?.def.caseExact) return undefined;
    return this.isMember(f.value);
  }

  private isMember(value: string): string {
    return `EXISTS (SELECT 1 FROM scim_members m WHERE m.connection = r.connection AND m.group_id = r.id AND m.member_id = ${this.ctx.params.add(value)})`;
  }

  private leaf(path: AttrPath, op: CompareOp | 'pr', value: CompareValue, scope: Scope): string {
    if (op === 'pr' || value === null) {
      const present = this.access(path, scope, true).bind((v) => `scim_present(${v})`);
      return op === 'eq' ? `NOT (${present})` : present;
    }
    if (scope.element === undefined && (op === 'eq' || op === 'ne')) {
      const fast = this.indexedEq(path, value);
      if (fast) return op === 'eq' ? fast : `NOT (${fast})`;
    }
    const access = this.access(path, scope, false);
    const eqOrOp = op === 'ne' ? 'eq' : op;
    const test = this.test(eqOrOp, value, access.def);
    const sql = access.bind(test);
    return op === 'ne' ? `NOT (${sql})` : sql;
  }

  /** `attr eq value` on an attribute the embedded store indexes: the same keys, as columns. */
  private indexedEq(path: AttrPath, value: string | number | boolean): string | undefined {
    if (typeof value !== 'string' || path.filter) return undefined;
    const r = this.ctx.resolver.resolve(path.schema, path.attr, path.subAttr);
    if (!r || r.extension !== undefined) return undefined;
    const p = this.ctx.params;
    const type = this.ctx.type;
    const sub = r.sub?.canonical ?? (r.def.type === 'complex' && r.def.multiValued ? 'value' : undefined);
    if (type === 'User' && r.canonical === 'emails' && sub === 'value') {
      const def = r.sub?.def ?? r.def.subAttributes?.find((d) => d.name === 'value');
      if (def && !def.caseExact) return `r.email_keys @> ARRAY[${p.add(value.toLowerCase())}]::text[]`;
      return undefined;
    }
    if (type === 'Group' && r.canonical === 'members' && sub === 'value') {
      const def = r.sub?.def ?? r.def.subAttributes?.find((d) => d.name === 'value');
      return def?.caseExact ? this.isMember(value) : undefined;
    }
    if (r.sub) return undefined;
    switch (r.canonical) {
      case 'id':
        return r.def.caseExact ? `r.id = ${p.add(value)}` : undefined;
      case 'userName':
        return type === 'User' && !r.def.caseExact ? notNullEq('r.user_name_key', p.add(value.toLowerCase())) : undefined;
      case 'displayName':
        return type === 'Group' && !r.def.caseExact ? notNullEq('r.display_name_key', p.add(value.toLowerCase())) : undefined;
      case 'externalId':
        return r.def.caseExact ? notNullEq('r.external_id', p.add(value)) : undefined;
    }
    return undefined;
  }

  /** compileAccess of evaluate.ts: which values a path designates; bind(test) is true when one passes. */
  private access(path: AttrPath, scope: Scope, forPresence: boolean): { def: AttributeDef; bind: (test: Test) => string } {
    const { resolver, params } = this.ctx;
    if (scope.element) {
      const { alias, parent } = scope.element;
      const sub = resolver.resolveSub(parent, path.attr);
      if (!sub) throw new Untranslatable();
      const key = params.add(sub.canonical);
      return {
        def: sub.def,
        bind: (test) => {
          const a = this.alias();
          return `(jsonb_typeof(${alias}) = 'object' AND EXISTS (SELECT 1 FROM scim_elems(${alias} -> ${key}) AS ${a}(v) WHERE ${test(`${a}.v`)}))`;
        },
      };
    }
    let top: ResolvedAttribute | undefined;
    let sub: { canonical: string; def: AttributeDef } | undefined;
    let elementFilter: ((el: string) => string) | undefined;
    if (path.filter === undefined) {
      top = resolver.resolve(path.schema, path.attr, path.subAttr);
      if (!top) throw new Untranslatable();
      sub = top.sub;
    } else {
      top = resolver.resolve(path.schema, path.attr);
      if (!top || top.def.type !== 'complex') throw new Untranslatable();
      const parent = top;
      const filter = path.filter;
      elementFilter = (el) => this.node(filter, { element: { alias: el, parent } });
      if (path.subAttr !== undefined) {
        sub = resolver.resolveSub(top, path.subAttr);
        if (!sub) throw new Untranslatable();
      }
    }
    if (sub === undefined && top.def.type === 'complex' && top.def.multiValued && !forPresence) {
      sub = resolver.resolveSub(top, 'value');
      if (!sub) throw new Untranslatable();
    }
    const value = topValue(this.ctx.type, top.extension, top.canonical, params);
    const def = sub?.def ?? top.def;
    const subKey = sub ? params.add(sub.canonical) : undefined;
    return {
      def,
      bind: (test) => {
        const a = this.alias();
        const ef = elementFilter ? `(${elementFilter(`${a}.el`)}) AND ` : '';
        if (subKey === undefined) return `EXISTS (SELECT 1 FROM scim_elems(${value}) AS ${a}(el) WHERE ${ef}${test(`${a}.el`)})`;
        const b = this.alias();
        return `EXISTS (SELECT 1 FROM scim_elems(${value}) AS ${a}(el), scim_elems(${a}.el -> ${subKey}) AS ${b}(v) WHERE jsonb_typeof(${a}.el) = 'object' AND ${ef}${test(`${b}.v`)})`;
      },
    };
  }

  /** compileTest of evaluate.ts for one jsonb value; `op` is never `ne`. */
  private test(op: Exclude<CompareOp, 'ne'>, value: string | number | boolean, def: AttributeDef): Test {
    const p = this.ctx.params;
    const cmp = { eq: '=', gt: '>', ge: '>=', lt: '<', le: '<=' } as const;
    switch (def.type) {
      case 'complex':
        throw new Untranslatable();
      case 'boolean': {
        const b = typeof value === 'boolean' ? value : String(value).toLowerCase() === 'true';
        const ph = p.add(b);
        return (v) => `scim_bool(${v}) = ${ph}::boolean`;
      }
      case 'integer':
      case 'decimal': {
        if (op === 'co' || op === 'sw' || op === 'ew') throw new Untranslatable();
        const n = typeof value === 'number' ? value : Number(String(value).trim());
        if (!Number.isFinite(n)) throw new Untranslatable();
        const ph = p.add(String(n));
        return (v) => `scim_num(${v}) ${cmp[op]} ${ph}::numeric`;
      }
      case 'dateTime': {
        if (op === 'co' || op === 'sw' || op === 'ew') break;
        if (typeof value !== 'string' || !ISO_DATE.test(value)) throw new Untranslatable();
        const t = Date.parse(UNZONED.test(value) ? `${value}Z` : value);
        if (Number.isNaN(t)) throw new Untranslatable();
        const ph = p.add(new Date(t).toISOString());
        // JavaScript dates have millisecond precision: so do the compared values
        return (v) => `date_trunc('milliseconds', scim_time(${v})) ${cmp[op]} ${ph}::timestamptz`;
      }
      case 'binary':
      case 'string':
      case 'reference':
        break;
    }
    return this.stringTest(op, String(value), def.caseExact);
  }

  private stringTest(op: Exclude<CompareOp, 'ne'>, literal: string, caseExact: boolean): Test {
    const p = this.ctx.params;
    let text = (v: string) => `scim_text(${v})`;
    let lit = literal;
    if (!caseExact) {
      // ASCII folding in SQL equals JavaScript's toLowerCase only when the literal is ASCII
      if (!ASCII.test(literal)) throw new Untranslatable();
      lit = literal.toLowerCase();
      text = (v) => `lower(scim_text(${v}) COLLATE "C")`;
    }
    const ph = p.add(lit);
    switch (op) {
      case 'eq':
        return (v) => `${text(v)} = ${ph}`;
      case 'co':
        return (v) => `strpos(${text(v)}, ${ph}) > 0`;
      case 'sw':
        return (v) => `starts_with(${text(v)}, ${ph})`;
      case 'ew':
        return (v) => `right(${text(v)}, char_length(${ph})) = ${ph}`;
      case 'gt':
        return (v) => `${text(v)} COLLATE "C" > ${ph}`;
      case 'ge':
        return (v) => `${text(v)} COLLATE "C" >= ${ph}`;
      case 'lt':
        return (v) => `${text(v)} COLLATE "C" < ${ph}`;
      case 'le':
        return (v) => `${text(v)} COLLATE "C" <= ${ph}`;
    }
  }
}

/**
 * ORDER BY for a SortSpec, as query.ts sorts: a multi-valued attribute by its primary element,
 * else its first; booleans before numbers before strings; strings folded unless caseExact;
 * resources without a value last in either order; ties in creation order. Uses the lateral
 * column `s.k` that `sortLateral` defines.
 */
export function sortLateral(sort: SortSpec, ctx: SqlContext): { lateral: string; orderBy: string } {
  const by = sort.by!;
  const top = topValue(ctx.type, by.extension, by.canonical, ctx.params);
  const chosen = `(CASE WHEN jsonb_typeof(t.v) = 'array'
      THEN coalesce((SELECT x.e FROM jsonb_array_elements(t.v) WITH ORDINALITY AS x(e, i) WHERE jsonb_typeof(x.e) = 'object' AND x.e -> 'primary' = 'true'::jsonb ORDER BY x.i LIMIT 1), t.v -> 0)
      ELSE t.v END)`;
  const key = by.sub !== undefined ? `(CASE WHEN jsonb_typeof(c.v) = 'object' THEN c.v -> ${ctx.params.add(by.sub)} END)` : 'c.v';
  const lateral = `CROSS JOIN LATERAL (SELECT ${top} AS v) AS t CROSS JOIN LATERAL (SELECT ${chosen} AS v) AS c CROSS JOIN LATERAL (SELECT ${key} AS k) AS s`;
  const dir = sort.order === 'descending' ? 'DESC' : 'ASC';
  const text = `(CASE WHEN jsonb_typeof(s.k) = 'string' THEN ${by.caseExact ? `(s.k #>> '{}')` : ctx.sortFold(`(s.k #>> '{}')`)} END)`;
  const orderBy = [
    `(CASE jsonb_typeof(s.k) WHEN 'boolean' THEN 0 WHEN 'number' THEN 1 WHEN 'string' THEN 2 END) IS NULL`,
    `(CASE jsonb_typeof(s.k) WHEN 'boolean' THEN 0 WHEN 'number' THEN 1 WHEN 'string' THEN 2 END) ${dir}`,
    `(CASE WHEN jsonb_typeof(s.k) = 'boolean' THEN (s.k #>> '{}')::boolean END) ${dir}`,
    `(CASE WHEN jsonb_typeof(s.k) = 'number' THEN (s.k #>> '{}')::numeric END) ${dir}`,
    `${text} COLLATE "C" ${dir}`,
    'r.ord ASC',
  ].join(', ');
  return { lateral, orderBy };
}
