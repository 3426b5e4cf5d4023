/** Shared helpers for the secret store's tests: temp dirs, a capturing logger, leak checks. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir as sharedTempDir } from '../../../test/helpers/temp.js';

export { cleanupDirs, captureLogger, type CapturedLog } from '../../../test/helpers/temp.js';

/** A fresh temp directory, removed by cleanupDirs. */
export const tempDir = (prefix = 'secrets-test-'): Promise<string> => sharedTempDir(prefix);

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
