/**
 * What every draft goes through once, where it enters the system: validated against the schema,
 * secrets masked, unchanged attributes dropped. A store commit does it before the draft reaches
 * its journal (so the journal never holds what the audit log would mask, and a bad draft is
 * caught while its commit is still in hand); a direct append does it on the way in.
 */
import { auditDraftSchema, canonicalJson, type AuditDraft } from './record.js';
import { redactChanges, redactText } from './redact.js';

/** A draft ready to be journaled and hashed; throws an Error that names the first problem. */
export function prepareDraft(draft: unknown): AuditDraft {
  const parsed = auditDraftSchema.safeParse(draft);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`not an audit record: ${issue ? `${issue.path.join('.') || '(record)'}: ${issue.message}` : 'invalid'}`);
  }
  const d = parsed.data;
  const out: AuditDraft = { ...d };
  // only attributes that changed: a PUT that resends everything records the difference
  if (d.changes) out.changes = redactChanges(d.changes.filter((c) => canonicalJson(c.before) !== canonicalJson(c.after)));
  if (d.detail !== undefined) out.detail = redactText(d.detail);
  return out;
}
