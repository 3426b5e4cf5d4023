/**
 * Compiles a filter AST into a predicate over SCIM JSON (RFC7644 §3.4.2.2 semantics).
 * All attribute names are resolved and all literals checked/normalised once, at compile time;
 * schema-level mistakes (unknown attribute, `gt` on a boolean, a non-date for a dateTime)
 * throw ScimError invalidFilter from compileFilter, never during evaluation.
 */
import { ScimError } from '../errors.js';
import type { AttributeDef, AttributeResolver, ResolvedAttribute } from '../schemas/attribute.js';
import type { AttrPath, CompareOp, CompareValue, FilterNode } from './ast.js';
import { formatPath } from './format.js';

export interface CompileOptions {
  /**
   * Returns the value of the top-level attribute `resolved` (core or extension) of `resource`.
   * Lets a store supply values kept elsewhere (e.g. group `members`). Default: read the JSON.
   */
  read?: (resource: Record<string, unknown>, resolved: ResolvedAttribute) => unknown;
}

type Pred = (target: unknown) => boolean;
type Test = (value: unknown) => boolean;

interface SubRef {
  canonical: string;
  lower: string;
  def: AttributeDef;
}

const hasOwn = Object.hasOwn;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Own property `key`, or failing that the first own key equal ignoring case (clients send `UserName`). */
function getCI(obj: Record<string, unknown>, key: string, lower: string): unknown {
  if (hasOwn(obj, key)) return obj[key];
  for (const k in obj) {
    if (k.length === lower.length && hasOwn(obj, k) && k.toLowerCase() === lower) return obj[k];
  }
  return undefined;
}

/** RFC7644 §3.4.2.2 `pr`: has a non-empty value; "", [], {} and complex values whose sub-values are all empty count as absent. */
function isPresent(v: unknown, depth = 0): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'string') return v.length > 0;
  if (typeof v !== 'object') return true;
  if (depth >= 3) return true; // deeper than SCIM's own nesting: anything non-null counts
  if (Array.isArray(v)) {
    for (const x of v) if (isPresent(x, depth + 1)) return true;
    return false;
  }
  for (const k in v) {
    if (hasOwn(v, k) && isPresent((v as Record<string, unknown>)[k], depth + 1)) return true;
  }
  return false;
}

/** True if `v` (or, for a multi-valued value, any of its elements) passes `test`. */
function any(v: unknown, test: Test): boolean {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (test(v[i])) return true;
    return false;
  }
  return test(v);
}

function unknownAttribute(name: string): ScimError {
  return ScimError.invalidFilter(`Unknown attribute "${name}" in filter; see /Schemas for the attributes of this resource type`);
}

// ------------------------------------------------------------------ value normalisation

/** xsd:dateTime without a zone is read as UTC, so results do not depend on the server's time zone. */
const ISO_DATE = /^\d{4}-\d{2}-\d{2}/;
const UNZONED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?$/;

function toTime(v: unknown): number {
  if (typeof v === 'string') return Date.parse(UNZONED.test(v) ? `${v}Z` : v);
  if (v instanceof Date) return v.getTime();
  return NaN;
}

function toNum(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '') return Number(v);
  return NaN;
}

function toBool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    // Some clients (Entra) store/send booleans as "True"/"False".
    const l = v.toLowerCase();
    if (l === 'true') return true;
    if (l === 'false') return false;
  }
  return undefined;
}

function toText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

// ------------------------------------------------------------------ tests on one value

/** Builds the test for one scalar value; `op` is never `ne` (compiled as not-eq) and `value` never null. */
function compileTest(op: Exclude<CompareOp, 'ne'>, value: string | number | boolean, def: AttributeDef, name: string): Test {
  const opName = `"${op}"`;
  switch (def.type) {
    case 'complex':
      throw ScimError.invalidFilter(
        `"${name}" is a complex attribute: compare one of its sub-attributes (e.g. ${name}.value) or use pr`,
      );
    case 'boolean': {
      if (op !== 'eq') {
        throw ScimError.invalidFilter(
          `${opName} cannot be used with the boolean attribute "${name}"; only eq, ne and pr apply (RFC7644 §3.4.2.2)`,
        );
      }
      const b = toBool(value);
      if (b === undefined) {
        throw ScimError.invalidFilter(`"${name}" is boolean: compare it with true or false, not ${JSON.stringify(value)}`);
      }
      return (v) => toBool(v) === b;
    }
    case 'integer':
    case 'decimal': {
      if (op === 'co' || op === 'sw' || op === 'ew') {
        throw ScimError.invalidFilter(`${opName} compares text; "${name}" is a number (use eq, ne, gt, ge, lt, le or pr)`);
      }
      const n = typeof value === 'boolean' ? NaN : toNum(value);
      if (Number.isNaN(n)) {
        throw ScimError.invalidFilter(`"${name}" is a number: compare it with a number, not ${JSON.stringify(value)}`);
      }
      switch (op) {
        case 'eq':
          return (v) => toNum(v) === n;
        case 'gt':
          return (v) => toNum(v) > n;
        case 'ge':
          return (v) => toNum(v) >= n;
        case 'lt':
          return (v) => toNum(v) < n;
        case 'le':
          return (v) => toNum(v) <= n;
      }
      break;
    }
    case 'dateTime': {
      if (op === 'co' || op === 'sw' || op === 'ew') break; // text match on the stored form, below
      // Date.parse alone accepts oddities such as "1" (year 2001); require an RFC3339 date first.
      const t = typeof value === 'string' && ISO_DATE.test(value) ? toTime(value) : NaN;
      if (Number.isNaN(t)) {
        throw ScimError.invalidFilter(
          `"${name}" is a dateTime: compare it with a date such as "2024-05-01T00:00:00Z", not ${JSON.stringify(value)}`,
        );
      }
      switch (op) {
        case 'eq':
          return (v) => toTime(v) === t;
        case 'gt':
          return (v) => toTime(v) > t;
        case 'ge':
          return (v) => toTime(v) >= t;
        case 'lt':
          return (v) => toTime(v) < t;
        case 'le':
          return (v) => toTime(v) <= t;
      }
      break;
    }
    case 'binary':
      // RFC7644 §3.4.2.2: ordering on binary attributes fails with invalidFilter; substring
      // matching base64 text is meaningless too.
      if (op !== 'eq') {
        throw ScimError.invalidFilter(`${opName} cannot be used with the binary attribute "${name}"; only eq, ne and pr apply`);
      }
      break;
    case 'string':
    case 'reference':
      break;
  }
  return stringTest(op, String(value), def.caseExact);
}

/** RFC7644 §3.4.2.2: string comparisons honour caseExact; gt/ge/lt/le are lexicographic. */
function stringTest(op: Exclude<CompareOp, 'ne'>, literal: string, caseExact: boolean): Test {
  if (caseExact) {
    switch (op) {
      case 'eq':
        return (v) => toText(v) === literal;
      case 'co':
        return (v) => toText(v)?.includes(literal) ?? false;
      case 'sw':
        return (v) => toText(v)?.startsWith(literal) ?? false;
      case 'ew':
        return (v) => toText(v)?.endsWith(literal) ?? false;
      case 'gt':
        return (v) => cmpText(v, literal, true) > 0;
      case 'ge':
        return (v) => cmpText(v, literal, true) >= 0;
      case 'lt':
        return (v) => cmpText(v, literal, true) < 0;
      case 'le':
        return (v) => cmpText(v, literal, true) <= 0;
    }
  }
  const lit = literal.toLowerCase(); // precomputed once per compile
  switch (op) {
    case 'eq':
      return (v) => {
        if (typeof v === 'string') return v === lit || v.toLowerCase() === lit;
        const s = toText(v);
        return s !== undefined && s.toLowerCase() === lit;
      };
    case 'co':
      return (v) => toText(v)?.toLowerCase().includes(lit) ?? false;
    case 'sw':
      return (v) => toText(v)?.toLowerCase().startsWith(lit) ?? false;
    case 'ew':
      return (v) => toText(v)?.toLowerCase().endsWith(lit) ?? false;
    case 'gt':
      return (v) => cmpText(v, lit, false) > 0;
    case 'ge':
      return (v) => cmpText(v, lit, false) >= 0;
    case 'lt':
      return (v) => cmpText(v, lit, false) < 0;
    case 'le':
      return (v) => cmpText(v, lit, false) <= 0;
  }
}

/** -1/0/1 comparing text `v` with `lit` (already folded when !caseExact); NaN when `v` is not text, so every ordering test fails. */
function cmpText(v: unknown, lit: string, caseExact: boolean): number {
  let s = toText(v);
  if (s === undefined) return NaN;
  if (!caseExact) s = s.toLowerCase();
  return s < lit ? -1 : s > lit ? 1 : 0;
}

// ------------------------------------------------------------------ compilation

/** Where names resolve: the resource (top level) or the elements of one complex attribute (inside `attr[...]`). */
type Scope =
  | { kind: 'resource'; resolver: AttributeResolver; read: (resource: Record<string, unknown>, r: ResolvedAttribute) => unknown }
  | { kind: 'element'; resolver: AttributeResolver; parent: ResolvedAttribute };

/** Reads the top-level attribute from the resource JSON: core at resource[canonical], extensions at resource[urn][canonical]. */
function defaultRead(resource: Record<string, unknown>, r: ResolvedAttribute): unknown {
  let container: unknown = resource;
  if (r.extension !== undefined) container = getCI(resource, r.extension, r.extension.toLowerCase());
  return isRecord(container) ? getCI(container, r.canonical, r.canonical.toLowerCase()) : undefined;
}

/**
 * A compiled attribute access. `bind(test)` returns a predicate that is true if some value the
 * path designates passes `test`; binding happens once at compile time, so evaluation allocates nothing.
 */
interface Access {
  bind: (test: Test) => Pred;
  /** The definition of the values handed to `test`. */
  def: AttributeDef;
  /** Canonical name for messages (`emails.value`). */
  name: string;
}

function compileAccess(path: AttrPath, scope: Scope, forPresence: boolean): Access {
  const written = formatPathForMessage(path);
  if (scope.kind === 'element') {
    // Inside `emails[...]` names are sub-attributes of the element (RFC7644 §3.4.2.2 valFilter).
    const parentName = scope.parent.canonical;
    if (path.schema !== undefined || path.subAttr !== undefined || path.filter !== undefined) {
      throw ScimError.invalidFilter(
        `Inside "${parentName}[...]" name a sub-attribute of "${parentName}" (e.g. type or value), not "${written}"`,
      );
    }
    const sub = scope.resolver.resolveSub(scope.parent, path.attr);
    if (sub === undefined) throw unknownAttribute(`${parentName}.${path.attr}`);
    const key = sub.canonical;
    const lower = key.toLowerCase();
    return {
      def: sub.def,
      name: `${parentName}.${key}`,
      bind: (test) => (el) => isRecord(el) && any(getCI(el, key, lower), test),
    };
  }

  const { resolver, read } = scope;
  let top: ResolvedAttribute | undefined;
  let sub: SubRef | undefined;
  let elementFilter: Pred | undefined;
  if (path.filter === undefined) {
    top = resolver.resolve(path.schema, path.attr, path.subAttr);
    if (top === undefined || (path.subAttr !== undefined && top.sub === undefined)) throw unknownAttribute(written);
    if (top.sub !== undefined) sub = { ...top.sub, lower: top.sub.canonical.toLowerCase() };
  } else {
    top = resolver.resolve(path.schema, path.attr);
    if (top === undefined) throw unknownAttribute(formatPathForMessage({ schema: path.schema, attr: path.attr }));
    if (top.def.type !== 'complex') {
      throw ScimError.invalidFilter(
        `A value filter "${path.attr}[...]" needs a complex attribute; "${top.canonical}" is of type ${top.def.type}`,
      );
    }
    elementFilter = compileNode(path.filter, { kind: 'element', resolver, parent: top });
    if (path.subAttr !== undefined) {
      const s = resolver.resolveSub(top, path.subAttr);
      if (s === undefined) throw unknownAttribute(`${top.canonical}.${path.subAttr}`);
      sub = { ...s, lower: s.canonical.toLowerCase() };
    }
  }

  // A multi-valued complex attribute compared without a sub-attribute compares its `value`
  // (`emails co "@example.com"`); presence tests look at the whole element instead.
  if (sub === undefined && top.def.type === 'complex' && top.def.multiValued && !forPresence) {
    const v = resolver.resolveSub(top, 'value');
    if (v === undefined) {
      throw ScimError.invalidFilter(`"${top.canonical}" has no "value" sub-attribute; compare one of its sub-attributes`);
    }
    sub = { ...v, lower: v.canonical.toLowerCase() };
  }

  const resolved = top;
  const get = (res: unknown): unknown => read(res as Record<string, unknown>, resolved);
  const name = sub === undefined ? resolved.canonical : `${resolved.canonical}.${sub.canonical}`;
  const def = sub === undefined ? resolved.def : sub.def;

  if (sub === undefined) {
    if (elementFilter === undefined) return { def, name, bind: (test) => (res) => any(get(res), test) };
    const ef = elementFilter;
    return {
      def,
      name,
      bind: (test) => {
        const elTest: Test = (el) => ef(el) && test(el);
        return (res) => any(get(res), elTest);
      },
    };
  }
  const key = sub.canonical;
  const lower = sub.lower;
  if (elementFilter === undefined) {
    return {
      def,
      name,
      bind: (test) => {
        const elTest: Test = (el) => isRecord(el) && any(getCI(el, key, lower), test);
        return (res) => any(get(res), elTest);
      },
    };
  }
  const ef = elementFilter;
  return {
    def,
    name,
    bind: (test) => {
      const elTest: Test = (el) => isRecord(el) && ef(el) && any(getCI(el, key, lower), test);
      return (res) => any(get(res), elTest);
    },
  };
}

function formatPathForMessage(path: AttrPath): string {
  if (path.filter === undefined) return formatPath(path);
  const head = path.schema === undefined ? path.attr : `${path.schema}:${path.attr}`;
  return path.subAttr === undefined ? `${head}[...]` : `${head}[...].${path.subAttr}`;
}

const always: Test = () => true;

function compileLeaf(path: AttrPath, op: CompareOp | 'pr', value: CompareValue, scope: Scope): Pred {
  if (op === 'pr' || value === null) {
    // `attr eq null` is read as "has no value" and `attr ne null` as `attr pr`; other operators
    // have no meaning against null.
    if (op !== 'pr' && op !== 'eq' && op !== 'ne') {
      throw ScimError.invalidFilter(`"${op}" cannot be used with null; only eq null and ne null (or pr) are allowed`);
    }
    const present = compileAccess(path, scope, true).bind(isPresent);
    return op === 'eq' ? (t) => !present(t) : present;
  }
  const access = compileAccess(path, scope, false);
  if (access.def.type === 'complex') {
    throw ScimError.invalidFilter(
      `"${access.name}" is a complex attribute: compare one of its sub-attributes (e.g. ${access.name}.value) or use pr`,
    );
  }
  // RFC7644 §3.4.2.2 defines ne as "not equal"; an absent attribute is therefore ne anything.
  const test = compileTest(op === 'ne' ? 'eq' : op, value, access.def, access.name);
  const eq = access.bind(test);
  return op === 'ne' ? (t) => !eq(t) : eq;
}

function compileNode(node: FilterNode, scope: Scope): Pred {
  switch (node.kind) {
    case 'compare':
      return compileLeaf(node.path, node.op, node.value, scope);
    case 'present':
      return compileLeaf(node.path, 'pr', null, scope);
    case 'valuePath': {
      if (scope.kind === 'element') {
        throw ScimError.invalidFilter(`Nested value filters are not allowed (RFC7644 §3.4.2.2 valFilter)`);
      }
      return compileAccess(node.path, scope, true).bind(always);
    }
    case 'not': {
      const inner = compileNode(node.filter, scope);
      return (t) => !inner(t);
    }
    case 'and':
    case 'or': {
      // Flatten the chain iteratively (hand-built ASTs may be deep) and evaluate left to right.
      const parts: Pred[] = [];
      const stack: FilterNode[] = [node];
      while (stack.length > 0) {
        const n = stack.pop() as FilterNode;
        if (n.kind === node.kind) stack.push(n.right, n.left);
        else parts.push(compileNode(n, scope));
      }
      if (parts.length === 2) {
        const [a, b] = parts;
        return node.kind === 'and' ? (t) => a(t) && b(t) : (t) => a(t) || b(t);
      }
      if (node.kind === 'and') {
        return (t) => {
          for (let i = 0; i < parts.length; i++) if (!parts[i](t)) return false;
          return true;
        };
      }
      return (t) => {
        for (let i = 0; i < parts.length; i++) if (parts[i](t)) return true;
        return false;
      };
    }
  }
}

/** Compiles a filter into a predicate over a resource's SCIM JSON; throws ScimError invalidFilter for schema errors. */
export function compileFilter(
  node: FilterNode,
  resolver: AttributeResolver,
  options?: CompileOptions,
): (resource: Record<string, unknown>) => boolean {
  const pred = compileNode(node, { kind: 'resource', resolver, read: options?.read ?? defaultRead });
  return pred;
}

/** Compiles a value filter (the inside of `attr[...]`) into a predicate over one element of `parent`. */
export function compileElementFilter(
  filter: FilterNode,
  parent: ResolvedAttribute,
  resolver: AttributeResolver,
): (element: unknown) => boolean {
  if (parent.def.type !== 'complex') {
    throw ScimError.invalidFilter(
      `A value filter "${parent.canonical}[...]" needs a complex attribute; "${parent.canonical}" is of type ${parent.def.type}`,
    );
  }
  return compileNode(filter, { kind: 'element', resolver, parent });
}

/** Whether one element of the multi-valued attribute `parent` matches a value filter (for PATCH `emails[type eq "work"]`). */
export function matchElement(
  filter: FilterNode,
  element: unknown,
  parent: ResolvedAttribute,
  resolver: AttributeResolver,
): boolean {
  return compileElementFilter(filter, parent, resolver)(element);
}

/** One `path eq value` term of a conjunction, for index planning. */
export interface EqualityTerm {
  path: AttrPath;
  value: string | number | boolean;
}

/**
 * For a filter made only of `and`-combined `eq` comparisons with non-null values, the list of
 * its terms in order; undefined otherwise. Terms are necessary conditions: a store that uses
 * them to pick candidates must still run the compiled filter on each candidate.
 */
export function equalityTerms(node: FilterNode): EqualityTerm[] | undefined {
  const terms: EqualityTerm[] = [];
  const stack: FilterNode[] = [node];
  while (stack.length > 0) {
    const n = stack.pop() as FilterNode;
    if (n.kind === 'and') {
      stack.push(n.right, n.left);
    } else if (n.kind === 'compare' && n.op === 'eq' && n.value !== null) {
      terms.push({ path: n.path, value: n.value });
    } else {
      return undefined;
    }
  }
  return terms;
}
