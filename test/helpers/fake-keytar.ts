/**
 * A keytar stand-in for the keychain check's child process: values in memory, and it refuses to
 * load where ELECTRON_RUN_AS_NODE is set, as the desktop app (runAsNode fuse off) would ignore it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './temp.js';

/** Writes the stand-in module and returns its path (pass it as `keytarModule`). */
export async function fakeKeytar(): Promise<string> {
  const file = join(await tempDir('fake-keytar-'), 'fake-keytar.cjs');
  writeFileSync(
    file,
    `'use strict';
if (process.env.ELECTRON_RUN_AS_NODE) throw new Error('started with ELECTRON_RUN_AS_NODE, which a fused app ignores');
const values = new Map();
module.exports = {
  async setPassword(s, a, p) { values.set(s + '/' + a, p); },
  async getPassword(s, a) { return values.get(s + '/' + a) ?? null; },
  async deletePassword(s, a) { return values.delete(s + '/' + a); },
  async findCredentials(s) { return [...values].filter(([k]) => k.startsWith(s + '/')).map(([k, password]) => ({ account: k.slice(s.length + 1), password })); },
};
`,
  );
  return file;
}
