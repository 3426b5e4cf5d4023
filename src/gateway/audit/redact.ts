/**
 * Secrets never reach the audit file: attributes that hold one keep the fact that they changed,
 * not their value.
 */
import { canonicalJson, type AuditChange } from './record.js';

/** What a masked value reads as in the audit log. */
export const REDACTED = '[REDACTED]';

/** Normalised names (lower case, no `_`/`-`) that hold secrets. */
const SECRET_NAMES = new Set(['password', 'secret', 'token', 'apikey', 'bindpassword', 'clientsecret', 'accesstoken', 'refreshtoken', 'privatekey']);
/** Suffixes that make a name secret too (`adminPassword`, `oauthClientSecret`, `api_key`). */
const SECRET_SUFFIXES = ['password', 'secret', 'apikey', 'accesstoken', 'refreshtoken', 'privatekey'];

/** True when an attribute or key name designates a secret (case-insensitive). */
export function isSecretName(name: string): boolean {
  // the last segment of a path such as `urn:…:User:password` or `config.bindPassword`
  const last = name.split(/[.:/[\]]/).filter(Boolean).pop() ?? name;
  const n = last.toLowerCase().replace(/[-_]/g, '');
  return SECRET_NAMES.has(n) || SECRET_SUFFIXES.some((s) => n.endsWith(s));
}

/** Deep copy of a value with every secret-named key masked. */
export function redactValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => redactValue(v));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = isSecretName(k) ? (v === undefined || v === null ? v : REDACTED) : redactValue(v);
  }
  return out;
}

/** Masks secret attributes (and secret keys nested in values) in a list of changes. */
export function redactChanges(changes: readonly AuditChange[]): AuditChange[] {
  return changes.map((c) => {
    const out: AuditChange = { attribute: c.attribute };
    const secret = isSecretName(c.attribute);
    // a secret keeps "it was set / it was cleared", which auditors need, but never its value
    if (c.before !== undefined) out.before = secret && c.before !== null ? REDACTED : redactValue(c.before);
    if (c.after !== undefined) out.after = secret && c.after !== null ? REDACTED : redactValue(c.after);
    return out;
  });
}

/** SCIM tokens (`scb_…`) pasted into free text, such as an error detail. */
const TOKEN_IN_TEXT = /scb_[A-Za-z0-9_-]{8,}/g;

/** Masks SCIM tokens in free text. */
export function redactText(text: string): string {
  return text.replace(TOKEN_IN_TEXT, `scb_${REDACTED}`);
}

/**
 * The changed top-level attributes between two versions of a resource (only those that differ),
 * ready for a draft's `changes`; redaction happens in `append`.
 */
export function changesBetween(before: Record<string, unknown> | undefined, after: Record<string, unknown> | undefined): AuditChange[] {
  const b = before ?? {};
  const a = after ?? {};
  const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])].sort();
  const out: AuditChange[] = [];
  for (const k of keys) {
    if (k === 'meta') continue; // lastModified/version change on every write and say nothing
    // most attributes of an update are unchanged strings and booleans: === spares serialising them
    if (b[k] === a[k] || canonicalJson(b[k]) === canonicalJson(a[k])) continue;
    const c: AuditChange = { attribute: k };
    if (b[k] !== undefined) c.before = b[k];
    if (a[k] !== undefined) c.after = a[k];
    out.push(c);
  }
  return out;
}
