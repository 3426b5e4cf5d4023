/**
 * Request templates of the `rest` connector: `{{name}}` placeholders, substituted by lookup only
 * (no expressions, no eval). A value lands JSON-encoded in a body, percent-encoded in a URL and
 * as plain text in a header (CR/LF refused), so a userName can never change the request's shape.
 * Also the JSON pointer / dotted path reader used for keys and response fields.
 */

/** A JSON value as configured for a body template. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Values a template may reference; `attributes` is the one nested object. */
export type TemplateScope = Record<string, unknown>;

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const WHOLE = /^\{\{\s*([^{}]*?)\s*\}\}$/;
// A root name, optionally followed by `.attributeName` (attribute names as the mapping defines them).
const NAME = /^([A-Za-z][A-Za-z0-9_]*)(?:\.([A-Za-z0-9_:@-]+))?$/;

/** A placeholder that names something the template's operation does not have. */
export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

/** Every placeholder name used in a string. */
function namesIn(text: string): string[] {
  return [...text.matchAll(PLACEHOLDER)].map((m) => m[1]);
}

/** Every placeholder name used anywhere in a template (strings of a JSON body included). */
export function placeholdersOf(template: unknown): string[] {
  if (typeof template === 'string') return namesIn(template);
  if (Array.isArray(template)) return template.flatMap(placeholdersOf);
  if (typeof template === 'object' && template !== null) return Object.values(template).flatMap(placeholdersOf);
  return [];
}

/**
 * Checks that every placeholder is well formed and its root is one of `roots` (for example
 * `userName`, `attributes`, `key`); throws a TemplateError naming the first bad one.
 */
export function checkPlaceholders(template: unknown, roots: readonly string[], where: string): void {
  for (const name of placeholdersOf(template)) {
    const m = NAME.exec(name);
    if (!m) throw new TemplateError(`${where}: "{{${name}}}" is not a placeholder (use names like {{userName}} or {{attributes.mail}})`);
    if (!roots.includes(m[1])) {
      throw new TemplateError(`${where}: unknown placeholder "{{${name}}}" (available here: ${roots.map((r) => `{{${r}}}`).join(', ')})`);
    }
    if (m[2] !== undefined && m[1] !== 'attributes') throw new TemplateError(`${where}: "{{${name}}}": only {{attributes.<name>}} has fields`);
  }
}

/** The value a placeholder names; undefined when absent. Lookups use own properties only. */
function lookup(name: string, scope: TemplateScope): unknown {
  const m = NAME.exec(name);
  if (!m) throw new TemplateError(`"{{${name}}}" is not a placeholder`);
  if (!Object.hasOwn(scope, m[1])) return undefined;
  const root = scope[m[1]];
  if (m[2] === undefined) return root;
  if (typeof root !== 'object' || root === null || !Object.hasOwn(root, m[2])) return undefined;
  return (root as Record<string, unknown>)[m[2]];
}

/** Text form of a value inside a longer string: lists joined with commas, absent = empty. */
function asText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.map(asText).join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Where a URL template's path ends (its query or fragment starts). */
function pathEnd(template: string): number {
  const end = template.search(/[?#]/);
  return end === -1 ? template.length : end;
}

/**
 * A path segment that URL parsers resolve instead of sending: "." and ".." (also percent-encoded,
 * which the WHATWG URL parser decodes for this purpose), and "" (many servers collapse "//").
 */
const UNSAFE_SEGMENT = /^(?:|\.|%2e|\.\.|\.%2e|%2e\.|%2e%2e)$/i;

/**
 * Substitutes placeholders in a URL path/query: each value percent-encoded (RFC 3986 unreserved
 * kept). encodeURIComponent leaves "." alone, so a value of ".." would still climb a level
 * (`/accounts/{{externalId}}/disable` -> `/disable`): a path segment that a value turns into ".",
 * ".." or "" is refused, naming the placeholders.
 */
export function renderUrl(template: string, scope: TemplateScope): string {
  const fill = (text: string) => text.replace(PLACEHOLDER, (_, name: string) => encodeURIComponent(asText(lookup(name, scope))));
  const end = pathEnd(template);
  const path = template
    .slice(0, end)
    .split('/')
    .map((segment, i) => {
      const names = namesIn(segment);
      const rendered = fill(segment);
      if (i > 0 && names.length > 0 && UNSAFE_SEGMENT.test(rendered)) {
        const which = names.map((n) => `{{${n}}}`).join(', ');
        const why = rendered === '' ? 'is empty' : `is "${rendered}", which would address another endpoint`;
        throw new TemplateError(`URL ${template}: a path segment made of ${which} ${why}; refused`);
      }
      return rendered;
    })
    .join('/');
  return path + fill(template.slice(end));
}

/**
 * Renders a URL template below `base` and checks that the result still starts with the
 * template's literal prefix (the text before its first placeholder): whatever a value holds, the
 * call goes to the endpoint the template names, with the connector's credentials.
 */
export function renderUrlUnder(base: string, template: string, scope: TemplateScope): string {
  const url = base + renderUrl(template, scope);
  const first = template.indexOf('{{');
  const literal = template.slice(0, Math.min(first === -1 ? template.length : first, pathEnd(template)));
  const expected = new URL(base + literal);
  const actual = new URL(url);
  if (actual.origin !== expected.origin || !actual.pathname.startsWith(expected.pathname)) {
    throw new TemplateError(`URL ${template}: the values make the path ${actual.pathname}, outside ${expected.pathname}; refused`);
  }
  return url;
}

/** Substitutes placeholders in a header value; a value with CR or LF is refused (header injection). */
export function renderHeader(template: string, scope: TemplateScope, header: string): string {
  return template.replace(PLACEHOLDER, (_, name: string) => {
    const text = asText(lookup(name, scope));
    if (/[\r\n]/.test(text)) throw new TemplateError(`header "${header}": the value of {{${name}}} contains a line break`);
    return text;
  });
}

/** Marks a body member to drop: a whole-value placeholder whose value is absent. */
const ABSENT = Symbol('absent');

/**
 * Renders a JSON body template. A string that is exactly one placeholder takes the value with its
 * type (`"{{active}}"` -> true, `"{{members}}"` -> an array); inside a longer string the value is
 * text. An object member whose whole-value placeholder is absent is left out. The result is
 * serialised with JSON.stringify, so values are always JSON-encoded.
 */
export function renderBody(template: JsonValue, scope: TemplateScope): JsonValue {
  const visit = (node: JsonValue): JsonValue | typeof ABSENT => {
    if (typeof node === 'string') {
      const whole = WHOLE.exec(node);
      if (whole) {
        const value = lookup(whole[1], scope);
        if (value === undefined) return ABSENT;
        return toJson(value);
      }
      return node.replace(PLACEHOLDER, (_, name: string) => asText(lookup(name, scope)));
    }
    if (Array.isArray(node)) return node.map(visit).map((v) => (v === ABSENT ? null : v));
    if (typeof node === 'object' && node !== null) {
      const out: Record<string, JsonValue> = {};
      for (const [k, v] of Object.entries(node)) {
        const r = visit(v);
        if (r !== ABSENT) out[k] = r;
      }
      return out;
    }
    return node;
  };
  const result = visit(template);
  return result === ABSENT ? null : result;
}

function toJson(value: unknown): JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === 'object') {
    const out: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (v !== undefined) out[k] = toJson(v);
    return out;
  }
  return asText(value);
}

/**
 * Reads a field of a JSON document: a JSON pointer (RFC 6901, `/data/id`, `~1` and `~0` escapes)
 * or a dotted path (`data.id`, `items.0.id`). `''` and `/` are not the same: `''` is the whole document.
 */
export function readPath(doc: unknown, path: string): unknown {
  if (path === '') return doc;
  const parts = path.startsWith('/')
    ? path
        .slice(1)
        .split('/')
        .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    : path.split('.');
  let cur: unknown = doc;
  for (const part of parts) {
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9]\d*)$/.test(part)) return undefined;
      cur = cur[Number(part)];
    } else if (typeof cur === 'object' && cur !== null && Object.hasOwn(cur, part)) {
      cur = (cur as Record<string, unknown>)[part];
    } else {
      return undefined;
    }
  }
  return cur;
}
