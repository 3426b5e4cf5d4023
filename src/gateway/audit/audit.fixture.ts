/** Shared helpers for the audit log's tests: temp dirs, drafts, a capturing logger. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditLogger } from './audit-log.js';
import type { AuditDraft } from './record.js';

const dirs: string[] = [];

/** A fresh temp directory, removed by cleanupDirs. */
export async function tempDir(prefix = 'audit-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** Removes every directory tempDir made. */
export async function cleanupDirs(): Promise<void> {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
}

/** A logger that keeps its lines. */
export interface CapturedLog extends AuditLogger {
  lines: Array<{ level: string; o: object; msg?: string }>;
}

/** A logger that keeps its lines, for assertions. */
export function captureLogger(): CapturedLog {
  const lines: CapturedLog['lines'] = [];
  return {
    lines,
    info: (o, msg) => lines.push({ level: 'info', o, msg }),
    warn: (o, msg) => lines.push({ level: 'warn', o, msg }),
    error: (o, msg) => lines.push({ level: 'error', o, msg }),
  };
}

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
