/**
 * The audit record: its zod schema, its canonical JSON and its hash.
 *
 * A record's line in the file is the canonical JSON (keys sorted at every level, no whitespace)
 * of the whole record. `hash` is the SHA-256 of the canonical JSON of the record without `hash`,
 * and `prevHash` is the previous record's `hash`, so an edit anywhere breaks the chain from there.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** prevHash of the first record ever written. */
export const GENESIS_HASH = '0'.repeat(64);

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);

const actorSchema = z.object({
  kind: z.enum(['scim-token', 'admin', 'system', 'connector']),
  id: z.string(),
  name: z.string().optional(),
});

const resourceSchema = z.object({
  type: z.string(),
  id: z.string(),
  display: z.string().optional(),
});

const changeSchema = z.object({
  attribute: z.string(),
  before: z.unknown().optional(),
  after: z.unknown().optional(),
});

/** What a caller hands to `append`: everything but seq, time and the hashes. */
export const auditDraftSchema = z.object({
  actor: actorSchema,
  connection: z.string().optional(),
  action: z.string().min(1),
  resource: resourceSchema.optional(),
  changes: z.array(changeSchema).optional(),
  result: z.enum(['success', 'failure']),
  detail: z.string().optional(),
  requestId: z.string().optional(),
  storeSeq: z.number().int().nonnegative().optional(),
});

/** A record as stored: validated on every read. */
export const auditRecordSchema = auditDraftSchema.extend({
  seq: z.number().int().positive(),
  time: z.iso.datetime(),
  prevHash: hex64,
  hash: hex64,
});

/** Who made a change. */
export type AuditActor = z.infer<typeof actorSchema>;
/** One changed attribute, before and after (secrets masked). */
export type AuditChange = z.infer<typeof changeSchema>;
/** A record before the log assigns seq, time and hashes. */
export type AuditDraft = z.infer<typeof auditDraftSchema>;
/** A stored audit record. */
export type AuditRecord = z.infer<typeof auditRecordSchema>;

/**
 * JSON with object keys sorted at every level: the same record always gives the same bytes.
 * Built into one string without intermediate arrays: it runs for every audited write.
 */
export function canonicalJson(value: unknown): string {
  let out = '';
  const write = (v: unknown): void => {
    if (v === null || typeof v !== 'object') {
      const s = JSON.stringify(v);
      // undefined and functions have no JSON form; they are dropped from objects, null in arrays
      out += s === undefined ? 'null' : s;
      return;
    }
    if (Array.isArray(v)) {
      out += '[';
      for (let i = 0; i < v.length; i++) {
        if (i > 0) out += ',';
        write(v[i]);
      }
      out += ']';
      return;
    }
    const obj = v as Record<string, unknown>;
    const keys = Object.keys(obj).sort();
    out += '{';
    let first = true;
    for (const k of keys) {
      const x = obj[k];
      if (x === undefined || typeof x === 'function') continue;
      if (!first) out += ',';
      first = false;
      out += JSON.stringify(k);
      out += ':';
      write(x);
    }
    out += '}';
  };
  write(value);
  return out;
}

/** SHA-256 (hex) of the canonical JSON of a record without its `hash`. */
export function recordHash(record: Omit<AuditRecord, 'hash'> & { hash?: string }): string {
  const { hash: _hash, ...rest } = record;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/**
 * The record with its hash, and its line: one canonical serialisation where hashing and encoding
 * separately take two (this runs for every audited write). `hash` sorts after the keys written
 * before it and before the rest, so the line is the hashed text with `"hash":"…"` spliced in
 * between the two halves, byte for byte what `encodeRecord` writes.
 */
export function sealRecord(base: Omit<AuditRecord, 'hash'>): { record: AuditRecord; line: string } {
  const head: Record<string, unknown> = {};
  const tail: Record<string, unknown> = {};
  for (const k of Object.keys(base)) {
    if (k === 'hash') continue;
    if (k < 'hash') head[k] = (base as Record<string, unknown>)[k];
    else tail[k] = (base as Record<string, unknown>)[k];
  }
  const h = canonicalJson(head).slice(1, -1);
  const t = canonicalJson(tail).slice(1, -1);
  const hash = createHash('sha256')
    .update(`{${h}${h && t ? ',' : ''}${t}}`)
    .digest('hex');
  const line = `{${h}${h ? ',' : ''}"hash":"${hash}"${t ? ',' : ''}${t}}\n`;
  return { record: { ...base, hash } as AuditRecord, line };
}

/** The record's line in the file, newline included. */
export function encodeRecord(record: AuditRecord): string {
  return canonicalJson(record) + '\n';
}

/**
 * Fast path for lines as the log writes them (canonical JSON): the hashed text is the line
 * without its `"hash":"…",` member, so it need not be rebuilt from the parsed record. Any other
 * change to the line changes the hashed text, so a match is as strong as the slow path's.
 */
function lineHashMatches(line: string, hash: string): boolean {
  const member = `"hash":"${hash}",`;
  const at = line.lastIndexOf(member);
  if (at <= 0 || line[at - 1] !== ',') return false;
  const text = line.slice(0, at) + line.slice(at + member.length);
  return createHash('sha256').update(text).digest('hex') === hash;
}

/** Result of checking one line on its own (the chain is checked by the caller). */
export type DecodedLine = { ok: true; record: AuditRecord } | { ok: false; reason: string; seq?: number };

/** Parses, validates and re-hashes one line (without its newline). */
export function decodeRecord(line: string): DecodedLine {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { ok: false, reason: 'not valid JSON' };
  }
  const seq = typeof parsed === 'object' && parsed !== null && Number.isSafeInteger((parsed as { seq?: unknown }).seq)
    ? (parsed as { seq: number }).seq
    : undefined;
  const result = auditRecordSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    return { ok: false, seq, reason: `not an audit record (${issue.path.join('.') || 'record'}: ${issue.message})` };
  }
  // hash over what was parsed, not the zod output: zod drops unknown keys, an attacker's added key must count
  if (!lineHashMatches(line, result.data.hash) && recordHash(parsed as AuditRecord) !== result.data.hash) {
    return { ok: false, seq, reason: 'hash mismatch: the record was edited after it was written' };
  }
  return { ok: true, record: result.data };
}
