/**
 * scripts/desktop.mjs (`npm run desktop`): without the Electron binary it explains how to get it
 * instead of a stack trace; with one it starts `electron .` and passes the exit code on. The binary
 * is stood in for by ELECTRON_OVERRIDE_DIST_PATH, the electron package's own override.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const script = join(root, 'scripts', 'desktop.mjs');

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function runScript(args: string[], overrideDir: string) {
  const env = { ...process.env, ELECTRON_OVERRIDE_DIST_PATH: overrideDir };
  return spawnSync(process.execPath, [script, ...args], { cwd: root, env, encoding: 'utf8', timeout: 20_000 });
}

describe.skipIf(process.platform === 'win32')('npm run desktop', () => {
  it('without the Electron binary: exits 1 with how to get it, and the headless alternative', () => {
    const empty = mkdtempSync(join(tmpdir(), 'no-electron-'));
    dirs.push(empty);
    for (const args of [['--check'], ['--no-build']]) {
      const r = runScript(args, empty);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^SCIM Bridge desktop: /);
      expect(r.stderr).toContain('node node_modules/electron/install.js');
      expect(r.stderr).toContain('ELECTRON_MIRROR');
      expect(r.stderr).toContain('ELECTRON_OVERRIDE_DIST_PATH');
      expect(r.stderr).toContain('npm start');
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
  });

  it('with a binary: starts it on the app folder with the given arguments and passes its exit code on', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fake-electron-'));
    dirs.push(dir);
    const exe = join(dir, 'electron');
    writeFileSync(exe, '#!/bin/sh\necho "started in $(pwd) with: $*"\nexit 7\n');
    chmodSync(exe, 0o755);

    const check = runScript(['--check'], dir);
    expect(check.status).toBe(0);
    expect(check.stdout).toBe(`Electron: ${exe}\n`);

    const r = runScript(['--no-build', '--', '--hidden'], dir);
    expect(r.stdout.trim()).toBe(`started in ${root.replace(/\/$/, '')} with: . --hidden`);
    expect(r.status).toBe(7);
  });
});
