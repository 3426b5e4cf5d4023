/**
 * Distinguished names (RFC 4514): parse, format with escaping, normalise for comparison, and
 * render the connector's DN templates. Hand-written because ldapts only builds DNs (with LDAPv2
 * quoting for edge spaces) and cannot parse them; see docs/decisions/0008-ldap-dn-handling.md.
 */

/** One `type=value` pair; `value` is unescaped (the real characters). */
export interface Ava {
  type: string;
  value: string;
}

/** A relative DN: one or more pairs joined by `+`. */
export type Rdn = Ava[];

/** Thrown for a string that is not a DN; the message says where it went wrong. */
export class DnSyntaxError extends Error {
  constructor(dn: string, reason: string) {
    super(`invalid DN "${dn}": ${reason}`);
    this.name = 'DnSyntaxError';
  }
}

const HEX = /^[0-9a-fA-F]{2}$/;
/** Characters that RFC 4514 §2.4 lets a backslash escape as themselves. */
const ESCAPABLE = new Set([' ', '"', '#', '+', ',', ';', '<', '=', '>', '\\']);

/** Parses an RFC 4514 string into RDNs, most specific first. Lenient about spaces around `,` `+` `=`. */
export function parseDN(dn: string): Rdn[] {
  const rdns: Rdn[] = [];
  if (dn.trim() === '') return rdns;
  let i = 0;
  const n = dn.length;
  const skipSpaces = (): void => {
    while (i < n && dn[i] === ' ') i++;
  };
  let rdn: Rdn = [];
  for (;;) {
    skipSpaces();
    const typeStart = i;
    while (i < n && dn[i] !== '=' && dn[i] !== ',' && dn[i] !== '+') i++;
    const type = dn.slice(typeStart, i).trim();
    if (i >= n || dn[i] !== '=') throw new DnSyntaxError(dn, `expected "=" after "${type}"`);
    if (!/^([A-Za-z][A-Za-z0-9-]*|\d+(\.\d+)*)$/.test(type)) throw new DnSyntaxError(dn, `bad attribute type "${type}"`);
    i++; // '='
    skipSpaces();
    let value: string;
    if (dn[i] === '#') {
      // hexstring (a BER encoding): kept as its text; only compared, never written back as one.
      const start = i;
      i++;
      while (i < n && /[0-9a-fA-F]/.test(dn[i]!)) i++;
      value = dn.slice(start, i);
      skipSpaces();
    } else {
      const bytes: number[] = [];
      let pendingSpaces = 0; // unescaped trailing spaces are not part of the value
      while (i < n && dn[i] !== ',' && dn[i] !== '+' && dn[i] !== ';') {
        const ch = dn[i]!;
        if (ch === '\\') {
          const next = dn.slice(i + 1, i + 3);
          for (; pendingSpaces > 0; pendingSpaces--) bytes.push(0x20);
          if (HEX.test(next)) {
            bytes.push(parseInt(next, 16));
            i += 3;
          } else if (i + 1 < n && ESCAPABLE.has(dn[i + 1]!)) {
            bytes.push(...Buffer.from(dn[i + 1]!, 'utf8'));
            i += 2;
          } else {
            throw new DnSyntaxError(dn, `bad escape at position ${i}`);
          }
          continue;
        }
        // RFC 4514 §3: '=' may stand unescaped in a value; these may not.
        if (ch === '"' || ch === '<' || ch === '>') throw new DnSyntaxError(dn, `unescaped "${ch}" at position ${i}`);
        if (ch === ' ') {
          pendingSpaces++;
          i++;
        } else {
          for (; pendingSpaces > 0; pendingSpaces--) bytes.push(0x20);
          // Whole code points: a character outside the BMP is two UTF-16 units.
          const whole = String.fromCodePoint(dn.codePointAt(i)!);
          bytes.push(...Buffer.from(whole, 'utf8'));
          i += whole.length;
        }
      }
      value = Buffer.from(bytes).toString('utf8');
    }
    rdn.push({ type, value });
    if (i >= n) break;
    const sep = dn[i]!;
    i++;
    if (sep === ',' || sep === ';') {
      rdns.push(rdn);
      rdn = [];
      if (i >= n) throw new DnSyntaxError(dn, 'ends with a separator');
    }
  }
  rdns.push(rdn);
  return rdns;
}

/**
 * Escapes an attribute value for a DN (RFC 4514 §2.4). The backslash itself is written as `\5C`:
 * ldapts splits a new DN at the first comma not preceded by a backslash, which `\\,` would fool.
 */
export function escapeDNValue(value: string): string {
  let out = '';
  const chars = [...value];
  chars.forEach((ch, idx) => {
    if (ch === '\\') out += '\\5C';
    else if (ch === '\0') out += '\\00';
    else if ('"+,;<>='.includes(ch)) out += `\\${ch}`;
    else if (ch === '#' && idx === 0) out += '\\#';
    else if (ch === ' ' && (idx === 0 || idx === chars.length - 1)) out += '\\ ';
    else out += ch;
  });
  return out;
}

/**
 * Formats RDNs as an RFC 4514 string, escaping every value (a leading `#` too: a value is never
 * sent as a BER hexstring, so a cn of "#41" stays those three characters).
 */
export function formatDN(rdns: Rdn[]): string {
  return rdns.map((rdn) => rdn.map(({ type, value }) => `${type}=${escapeDNValue(value)}`).join('+')).join(',');
}

/**
 * A comparison form: types and values lower-cased, insignificant spaces removed, multi-valued
 * RDNs sorted. Naming attributes (uid, cn, ou, dc, o) match case-insensitively in every directory
 * we target, so two DNs are the same entry when their normal forms are equal.
 */
export function normalizeDN(dn: string): string {
  try {
    return formatDN(
      parseDN(dn).map((rdn) =>
        rdn
          .map(({ type, value }) => ({ type: type.toLowerCase(), value: value.trim().replace(/\s+/g, ' ').toLowerCase() }))
          .sort((a, b) => (a.type + '=' + a.value < b.type + '=' + b.value ? -1 : 1)),
      ),
    );
  } catch {
    return dn.trim().toLowerCase();
  }
}

/** True when both strings name the same entry. */
export function sameDN(a: string, b: string): boolean {
  return normalizeDN(a) === normalizeDN(b);
}

/** The parent of a DN (`ou=people,dc=example,dc=org` for `uid=ada,ou=people,...`). */
export function parentDN(dn: string): string {
  return formatDN(parseDN(dn).slice(1));
}

/** True when `dn` is `base` or below it. */
export function isUnder(dn: string, base: string): boolean {
  const d = parseDN(dn).map((r) => normalizeDN(formatDN([r])));
  const b = parseDN(base).map((r) => normalizeDN(formatDN([r])));
  if (b.length > d.length) return false;
  return b.every((rdn, idx) => rdn === d[d.length - b.length + idx]);
}

/** Replaces the parent of `dn`, keeping its RDN (moving an entry to another OU). */
export function withParent(dn: string, parent: string): string {
  return formatDN([parseDN(dn)[0]!, ...parseDN(parent)]);
}

/** A parsed DN template such as `uid={uid},ou=people,dc=example,dc=org`. */
export interface DnTemplate {
  source: string;
  rdns: Rdn[];
  /** Attribute names the template reads, in order of appearance. */
  placeholders: string[];
  /** The attribute type(s) of the first RDN: those values live in the DN, not in a modify. */
  rdnTypes: string[];
}

const PLACEHOLDER = /\{([A-Za-z][A-Za-z0-9-]*)\}/g;

/** Parses a template; placeholders `{attr}` may stand anywhere inside a value. */
export function parseTemplate(source: string): DnTemplate {
  const rdns = parseDN(source);
  if (rdns.length === 0) throw new DnSyntaxError(source, 'a DN template cannot be empty');
  const placeholders: string[] = [];
  for (const rdn of rdns) for (const { value } of rdn) for (const m of value.matchAll(PLACEHOLDER)) placeholders.push(m[1]!);
  return { source, rdns, placeholders, rdnTypes: rdns[0]!.map((a) => a.type) };
}

/**
 * Renders a template: each `{attr}` becomes the attribute's value, then every value is escaped
 * (RFC 4514), so a userName such as `o'brien,ou=admins` stays inside its RDN.
 * `lookup` returns undefined for a missing attribute; that throws, naming it.
 */
export function renderTemplate(template: DnTemplate, lookup: (attr: string) => string | undefined): string {
  return formatDN(
    template.rdns.map((rdn) =>
      rdn.map(({ type, value }) => ({
        type,
        value: value.replace(PLACEHOLDER, (_, name: string) => {
          const v = lookup(name);
          if (v === undefined || v === '') throw new MissingPlaceholderError(template.source, name);
          return v;
        }),
      })),
    ),
  );
}

/** A template placeholder without a value. */
export class MissingPlaceholderError extends Error {
  constructor(
    readonly template: string,
    readonly attribute: string,
  ) {
    super(`the DN template "${template}" needs attribute "${attribute}", which has no value: map it or change the template`);
    this.name = 'MissingPlaceholderError';
  }
}
