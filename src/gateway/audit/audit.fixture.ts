/** Shared helpers for the audit log's tests: temp dirs, drafts, a capturing logger. */
import type { AuditDraft } from './record.js';
import { tempDir as sharedTempDir } from '../../../test/helpers/temp.js';

export { cleanupDirs, captureLogger, type CapturedLog } from '../../../test/helpers/temp.js';

/** A fresh temp directory, removed by cleanupDirs. */
export const tempDir = (prefix = 'audit-test-'): Promise<string> => sharedTempDir(prefix);

/** A SCIM user.create draft made with token `tok_1`. */
export function userDraft(i: number, extra: Partial<AuditDraft> = {}): AuditDraft {
  return {
    actor: { kind: 'scim-token', id: 'tok_1', name: 'Okta' },
    connection: 'default',
    action: 'user.create',
    resource: { type: 'User', id: `u${i}`, display: `user${i}@example.com` },
    changes: [{ attribute: 'userName', after: `user${i}@example.com` }],
    result: 'success',
    storeSeq: i,
    ...extra,
  };
}

/** A controllable clock. */
export function fakeClock(start = Date.parse('2026-01-01T00:00:00.000Z')): { now: () => Date; advance(ms: number): void } {
  let t = start;
  return { now: () => new Date(t), advance: (ms) => void (t += ms) };
}
