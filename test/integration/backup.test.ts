/** Backups: taken while the gateway runs, pruned, restored with the CLI; a corrupt store names the last backup. */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startServe, stopChild } from '../helpers/cli.js';
import { ScimClient, startTestGateway, user } from '../helpers/gateway.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'scim-bridge-backup-'));
  dirs.push(d);
  return d;
};

describe('backups', () => {
  it('the running gateway backs itself up without stopping writes, and prunes to backupKeep', async () => {
    const gw = await startTestGateway({ backupKeep: 2 });
    try {
      // A console-managed connection and a connector secret travel with the backup; the key file never does.
      await gw.gateway.secrets!.set('demo-b:accessKey', 'kept-in-the-file');
      await gw.gateway.connections.upsert('sales', { connectors: [] });
      for (let i = 0; i < 3; i++) {
        await gw.client.post('/Users', user(`b${i}@example.com`));
        // writes keep flowing while the backup is taken
        await Promise.all([gw.gateway.jobs.backupNow(), gw.client.post('/Users', user(`during${i}@example.com`))]);
        await new Promise((r) => setTimeout(r, 5)); // distinct timestamps
      }
      const backups = readdirSync(join(gw.dataDir, 'backups'));
      expect(backups).toHaveLength(2);
      for (const b of backups) {
        for (const name of ['db.json', 'access.json', 'connections.json', 'secrets.enc.json']) expect(existsSync(join(gw.dataDir, 'backups', b, name)), `${b}/${name}`).toBe(true);
        expect(existsSync(join(gw.dataDir, 'backups', b, 'secrets.key'))).toBe(false);
      }
    } finally {
      await gw.stop();
    }
  });

  it('backup and restore from the CLI; a corrupt store refuses to start and names the last backup', async () => {
    const dir = tempDir();
    const token = runCli(['token', 'create', '--name', 'b', '--data-dir', dir]).stdout.trimEnd().split('\n').pop()!;
    const args = ['--data-dir', dir, '--port', '0', '--admin-port', '0', '--host', '127.0.0.1'];
    let serve = await startServe(args);
    const kept = (await new ScimClient(serve.scimUrl, token).post('/Users', user('kept@example.com'))).body;
    expect(await stopChild(serve.child)).toBe(0);

    const backup = runCli(['backup', '--data-dir', dir]);
    expect(backup.status, backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(/Backed up 1 users and 0 groups to .*backups/);

    serve = await startServe(args);
    await new ScimClient(serve.scimUrl, token).post('/Users', user('lost-by-restore@example.com'));
    expect(await stopChild(serve.child)).toBe(0);

    // Damage the store (a clean stop compacted everything into db.json): it is refused, never skipped.
    writeFileSync(join(dir, 'db.json'), '{"format":1,"seq":');
    const refused = runCli(['serve', ...args]);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/db\.json is corrupt/);
    expect(refused.stderr).toMatch(/The last backup is .*backups.*scim-bridge restore --from/);

    const from = /restore --from "([^"]+)"/.exec(refused.stderr)![1];
    const restore = runCli(['restore', '--from', from, '--data-dir', dir]);
    expect(restore.status, restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(/Restored 1 users and 0 groups/);

    serve = await startServe(args);
    try {
      const c = new ScimClient(serve.scimUrl, token);
      expect((await c.get(`/Users/${kept.id}`)).status).toBe(200);
      expect((await c.get('/Users')).body.totalResults).toBe(1);
    } finally {
      await stopChild(serve.child);
    }
  }, 60_000);

  it('restore refuses while a gateway holds the data directory', async () => {
    const dir = tempDir();
    runCli(['token', 'create', '--name', 'b', '--data-dir', dir]);
    expect(runCli(['backup', '--data-dir', dir, '--to', join(dir, 'mine')]).status).toBe(0);
    const serve = await startServe(['--data-dir', dir, '--port', '0', '--admin-port', '0', '--host', '127.0.0.1']);
    try {
      const r = runCli(['restore', '--from', join(dir, 'mine'), '--data-dir', dir]);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(new RegExp(String(serve.child.pid)));
      const b = runCli(['backup', '--data-dir', dir]);
      expect(b.status).not.toBe(0);
    } finally {
      await stopChild(serve.child);
    }
  });
});
