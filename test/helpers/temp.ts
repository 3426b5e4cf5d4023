/** What most unit tests share: temp directories that are cleaned up, and a logger that keeps its lines. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dirs: string[] = [];

/** A fresh, empty temp directory, removed by cleanupDirs. */
export async function tempDir(prefix = 'scim-bridge-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** Removes every directory tempDir made. */
export async function cleanupDirs(): Promise<void> {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
}

/** A logger (pino's info/warn/error shape) that keeps its lines, for assertions. */
export interface CapturedLog {
  lines: Array<{ level: string; o: object; msg?: string }>;
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
  /** Everything logged, as one text (what a log file would hold). */
  text(): string;
}

export function captureLogger(): CapturedLog {
  const lines: CapturedLog['lines'] = [];
  return {
    lines,
    info: (o, msg) => lines.push({ level: 'info', o, msg }),
    warn: (o, msg) => lines.push({ level: 'warn', o, msg }),
    error: (o, msg) => lines.push({ level: 'error', o, msg }),
    text: () => lines.map((l) => JSON.stringify(l)).join('\n'),
  };
}
