/**
 * A full disk, for real: the data dir is a small tmpfs. Writes past the last byte answer 503 with a
 * SCIM error, nothing half-written survives, reads keep working, writes resume when space returns,
 * and everything acknowledged is there after a restart. Needs root (mount); CI runs as root.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScimClient, user } from '../helpers/gateway.js';
import { runCli, startServe, stopChild } from '../helpers/cli.js';

const mountPoint = mkdtempSync(join(tmpdir(), 'scim-bridge-full-'));
const dataDir = join(mountPoint, 'data');
let mounted = false;
let why = '';
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mountPoint], { stdio: 'pipe' });
  mounted = true;
} catch (err) {
  why = `cannot mount a tmpfs here (${(err as Error).message.split('\n')[0]}); run as root to prove the disk-full behaviour`;
}

afterAll(() => {
  if (mounted) execFileSync('umount', ['-l', mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

describe.skipIf(!mounted)(`disk full ${why}`, () => {
  let token = '';
  beforeAll(() => {
    const r = runCli(['token', 'create', '--name', 'disk', '--data-dir', dataDir]);
    expect(r.status).toBe(0);
    token = r.stdout.trim().split('\n').pop()!;
  });

  it('answers 503 when the disk is full, loses nothing acknowledged, and recovers when space returns', { timeout: 120_000 }, async () => {
    const serve = await startServe(['--data-dir', dataDir, '--port', '0', '--admin-port', '0', '--host', '127.0.0.1'], { SCIM_BRIDGE_RATE_LIMIT_PER_TOKEN: '0', SCIM_BRIDGE_BACKUP_CRON: '' });
    const client = new ScimClient(serve.scimUrl, token);
    const acknowledged: string[] = [];
    const refusals: Array<{ status: number; body: any }> = [];
    // ~16 KB per user: a 3 MB disk fills within a couple of hundred creates.
    const padding = 'x'.repeat(16_000);
    try {
      for (let i = 0; i < 600 && refusals.length < 20; i++) {
        const r = await client.post('/Users', user(`full${i}@example.com`, { title: padding }));
        if (r.status === 201) acknowledged.push(r.body.id);
        else refusals.push({ status: r.status, body: r.body });
      }
      expect(refusals.length, 'the disk never filled').toBeGreaterThan(0);
      for (const r of refusals) {
        expect(r.status).toBe(503);
        expect(r.body.schemas).toEqual(['urn:ietf:params:scim:api:messages:2.0:Error']);
        expect(r.body.detail).toMatch(/space|disk|ENOSPC/i);
      }
      expect(serve.child.exitCode).toBeNull();
      // Reads go on while writes cannot.
      expect((await client.get(`/Users/${acknowledged[0]}`)).status).toBe(200);

      // Space returns: writes go through again.
      execFileSync('mount', ['-o', 'remount,size=64m', mountPoint]);
      let back = 0;
      for (let i = 0; i < 20 && back === 0; i++) {
        const r = await client.post('/Users', user(`after${i}@example.com`));
        if (r.status === 201) {
          acknowledged.push(r.body.id);
          back++;
        } else {
          expect(r.status).toBe(503);
          await new Promise((res) => setTimeout(res, 250));
        }
      }
      expect(back).toBe(1);
    } finally {
      await stopChild(serve.child);
    }

    // A restart opens the store; every acknowledged user is there.
    const again = await startServe(['--data-dir', dataDir, '--port', '0', '--admin-port', '0', '--host', '127.0.0.1'], { SCIM_BRIDGE_RATE_LIMIT_PER_TOKEN: '0' });
    try {
      const c = new ScimClient(again.scimUrl, token);
      const list = await c.get('/Users?count=1000&attributes=id');
      const ids = new Set(list.body.Resources.map((u: { id: string }) => u.id));
      expect(acknowledged.filter((id) => !ids.has(id))).toEqual([]);
      expect(list.body.totalResults).toBe(acknowledged.length);
    } finally {
      await stopChild(again.child);
    }
  });
});
