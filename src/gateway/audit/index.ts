/** The audit log: the only public surface of src/gateway/audit. */
export { createAuditLog } from './audit-log.js';
export type { AuditLog, AuditLogOptions, AuditLogger, AuditLogInternals, AuditIo, AuditQuery, AuditPage } from './audit-log.js';
export { auditRecordSchema, auditDraftSchema, canonicalJson, recordHash, GENESIS_HASH } from './record.js';
export type { AuditActor, AuditChange, AuditDraft, AuditRecord } from './record.js';
export { prepareDraft } from './draft.js';
export { redactChanges, redactText, changesBetween, isSecretName, REDACTED } from './redact.js';
export { verifyAuditLog } from './verify.js';
export type { VerifyResult } from './verify.js';
export { exportAuditLog, CSV_COLUMNS, csvRow } from './export.js';
export type { ExportOptions, ExportSummary } from './export.js';
export { ACTIVE_FILE as AUDIT_FILE, ANCHOR_FILE as AUDIT_ANCHOR_FILE } from './files.js';
export { registerAuditCommands, parseSince } from './cli.js';
export type { AuditCliFlags, AuditCliIo } from './cli.js';
