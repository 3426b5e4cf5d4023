/** Shared helpers for the secret store's tests: temp dirs, a capturing logger, leak checks. */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecretsLogger } from './types.js';

const dirs: string[] = [];

/** A fresh temp directory, removed by cleanupDirs. */
export async function tempDir(prefix = 'secrets-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** Removes every directory tempDir made. */
export async function cleanupDirs(): Promise<void> {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
}

/** A logger that keeps its lines. */
export interface CapturedLog extends SecretsLogger {
  lines: Array<{ level: string; o: object; msg?: string }>;
  /** Everything logged, as one text (what a log file would hold). */
  text(): string;
}

export function captureLogger(): CapturedLog {
  const lines: CapturedLog['lines'] = [];
  return {
    lines,
    info: (o, msg) => lines.push({ level: 'info', o, msg }),
    warn: (o, msg) => lines.push({ level: 'warn', o, msg }),
    text: () => lines.map((l) => JSON.stringify(l)).join('\n'),
  };
}

/** Every regular file under `dir`, recursively, with its content. */
export async function filesUnder(dir: string): Promise<Array<{ path: string; content: Buffer }>> {
  const out: Array<{ path: string; content: Buffer }> = [];
  const walk = async (d: string): Promise<void> => {
    for (const name of await readdir(d)) {
      const p = join(d, name);
      const s = await stat(p);
      if (s.isDirectory()) await walk(p);
      else if (s.isFile()) out.push({ path: p, content: await readFile(p) });
    }
  };
  await walk(dir);
  return out;
}

/** The forms a secret could leak in: as is, URL-encoded, base64 and hex of its UTF-8 bytes. */
export function leakForms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  return [secret, encodeURIComponent(secret), bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('hex')];
}

/** The secrets (in any leak form) found in `text`. */
export function leaksIn(text: string | Buffer, secrets: string[]): string[] {
  const hay = Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8');
  return secrets.filter((s) => leakForms(s).some((form) => hay.includes(Buffer.from(form, 'utf8'))));
}

/** Text of an error: name, message, stack, and its causes (what a log line would show). */
export function errorText(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let i = 0; cur !== undefined && i < 5; i++) {
    if (cur instanceof Error) {
      parts.push(`${cur.name}: ${cur.message}`, cur.stack ?? '', JSON.stringify(cur));
      cur = cur.cause;
    } else {
      parts.push(String(cur));
      cur = undefined;
    }
  }
  return parts.join('\n');
}
