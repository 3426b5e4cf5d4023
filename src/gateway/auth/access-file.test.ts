/** access.lock: an edit of access.json is never blocked by a lock whose process is gone. */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupDirs, tempDir } from '../../../test/helpers/temp.js';
import { readAccess, updateAccess } from './access-file.js';

afterEach(cleanupDirs);

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('access.lock', () => {
  it('takes over at once a lock left by a process that was killed mid-edit', async () => {
    const dir = await tempDir('access-test-');
    readAccess(dir);
    writeFileSync(join(dir, 'access.lock'), String(deadPid()));
    const t0 = Date.now();
    updateAccess(dir, (d) => void (d.connections[0].firstRequestAt = '2026-11-23T00:00:00.000Z'));
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(readAccess(dir).connections[0].firstRequestAt).toBe('2026-11-23T00:00:00.000Z');
  });

  it('takes over a lock holding its own pid: a previous incarnation, as in a restarted container', async () => {
    const dir = await tempDir('access-test-');
    writeFileSync(join(dir, 'access.lock'), String(process.pid));
    const t0 = Date.now();
    updateAccess(dir, () => undefined);
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it('waits for a live holder, then names the lock', async () => {
    const dir = await tempDir('access-test-');
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
    try {
      writeFileSync(join(dir, 'access.lock'), String(holder.pid));
      expect(() => updateAccess(dir, () => undefined)).toThrow(/access\.lock is held by another process/);
    } finally {
      holder.kill('SIGKILL');
    }
  }, 15_000);
});
