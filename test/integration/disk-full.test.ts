/**
 * A full disk, for real: the data dir is a small tmpfs. Writes past the last byte answer 503 with a
 * SCIM error, nothing half-written survives, reads keep working, writes resume when space returns,
 * and everything acknowledged is there after a restart. Then only the audit log's disk is full:
 * writes go on, and their audit records reach the log once it has space, without a restart.
 * Needs root (mount); CI runs as root.
 */
import { execFileSync } from 'node:child_process';
import { get } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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

// The second case: a data dir on the ordinary disk whose audit.jsonl lives on a small tmpfs of
// its own (a symlink, as an admin who keeps the audit log on another volume might set it up).
const auditDataDir = mkdtempSync(join(tmpdir(), 'scim-bridge-auditfull-'));
const auditMount = mkdtempSync(join(tmpdir(), 'scim-bridge-auditvol-'));
let auditMounted = false;
if (mounted) {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', auditMount], { stdio: 'pipe' });
  auditMounted = true;
  writeFileSync(join(auditMount, 'audit.jsonl'), '', { mode: 0o600 });
  symlinkSync(join(auditMount, 'audit.jsonl'), join(auditDataDir, 'audit.jsonl'));
}

afterAll(() => {
  if (mounted) execFileSync('umount', ['-l', mountPoint]);
  if (auditMounted) execFileSync('umount', ['-l', auditMount]);
  rmSync(mountPoint, { recursive: true, force: true });
  rmSync(auditDataDir, { recursive: true, force: true });
  rmSync(auditMount, { recursive: true, force: true });
});

/**
 * A value of the gateway's /metrics. A new connection each time: the CLI runs in between block
 * this process for seconds, long enough for the server to close an idle keep-alive connection.
 */
async function metric(adminUrl: string, name: string): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    get(`${adminUrl}/metrics`, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
}

async function waitForMetric(adminUrl: string, name: string, value: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while ((await metric(adminUrl, name)) !== value && Date.now() < deadline) await new Promise((res) => setTimeout(res, 200));
  expect(await metric(adminUrl, name), name).toBe(value);
}

/** The ids of the users whose user.create record the audit log holds (read with the CLI, as an auditor would). */
function auditedCreates(dir: string): Set<string | undefined> {
  const exportFile = join(tmpdir(), `scim-bridge-full-audit-${process.pid}.jsonl`); // megabytes: not through a pipe
  const exported = runCli(['audit', 'export', '--data-dir', dir, '--output', exportFile]);
  expect(exported.status, exported.stderr).toBe(0);
  const lines = readFileSync(exportFile, 'utf8');
  rmSync(exportFile, { force: true });
  return new Set(
    lines
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { action: string; resource?: { id: string } })
      .filter((r) => r.action === 'user.create')
      .map((r) => r.resource?.id),
  );
}

const adminUrlOf = (output: string) => /Admin console:\s+(\S+)/.exec(output)![1];

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

      // The audit log shares the full disk. Whatever it could not take of the acknowledged
      // changes waited in the store journal and reaches it now, without a restart.
      const adminUrl = adminUrlOf(serve.output());
      await waitForMetric(adminUrl, 'scim_bridge_audit_behind', 0, 20_000);
      expect(await metric(adminUrl, 'scim_bridge_audit_records_left_out_total')).toBe(0);
      const created = auditedCreates(dataDir);
      expect(acknowledged.filter((id) => !created.has(id)), 'acknowledged creates without their audit record').toEqual([]);
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
      // and the audit chain over it all is intact
      const verify = runCli(['audit', 'verify', '--data-dir', dataDir]);
      expect(verify.stdout).toMatch(/^OK: /);
    } finally {
      await stopChild(again.child);
    }
  });

  it('when only the audit log is out of space, writes go on and their records reach it once space returns, without a restart', { timeout: 120_000 }, async () => {
    const made = runCli(['token', 'create', '--name', 'audit-full', '--data-dir', auditDataDir]);
    expect(made.status).toBe(0);
    const auditToken = made.stdout.trim().split('\n').pop()!;
    const serve = await startServe(['--data-dir', auditDataDir, '--port', '0', '--admin-port', '0', '--host', '127.0.0.1'], { SCIM_BRIDGE_RATE_LIMIT_PER_TOKEN: '0', SCIM_BRIDGE_BACKUP_CRON: '' });
    const client = new ScimClient(serve.scimUrl, auditToken);
    const adminUrl = adminUrlOf(serve.output());
    const acknowledged: string[] = [];
    const padding = 'y'.repeat(8_000); // each create's audit record carries it: 1 MB fills in ~120
    try {
      for (let i = 0; i < 400 && (await metric(adminUrl, 'scim_bridge_audit_behind')) === 0; i++) {
        const r = await client.post('/Users', user(`audit${i}@example.com`, { title: padding }));
        expect(r.status).toBe(201); // the store has space: every write is acknowledged
        acknowledged.push(r.body.id);
      }
      expect(await metric(adminUrl, 'scim_bridge_audit_behind'), 'the audit disk never filled').toBe(1);
      expect(await metric(adminUrl, 'scim_bridge_audit_records_lost_total')).toBe(0); // they wait in the journal
      // writes go on while the audit log cannot take their records
      for (let i = 0; i < 30; i++) {
        const r = await client.post('/Users', user(`behind${i}@example.com`, { title: padding }));
        expect(r.status).toBe(201);
        acknowledged.push(r.body.id);
      }
      const beforeSpace = auditedCreates(auditDataDir);
      expect(acknowledged.filter((id) => !beforeSpace.has(id)).length).toBeGreaterThan(30);

      execFileSync('mount', ['-o', 'remount,size=64m', auditMount]);
      await waitForMetric(adminUrl, 'scim_bridge_audit_behind', 0, 30_000); // retried every 5 s
      const afterSpace = auditedCreates(auditDataDir);
      expect(acknowledged.filter((id) => !afterSpace.has(id)), 'acknowledged creates without their audit record').toEqual([]);
      expect(serve.output()).toMatch(/the audit sink accepts records again/);
      // and from here on each write's record goes straight in
      const after = await client.post('/Users', user('after-audit@example.com'));
      expect(after.status).toBe(201);
      const deadline = Date.now() + 5_000;
      while (!auditedCreates(auditDataDir).has(after.body.id) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
      expect(auditedCreates(auditDataDir).has(after.body.id)).toBe(true);
    } finally {
      await stopChild(serve.child);
    }
    const verify = runCli(['audit', 'verify', '--data-dir', auditDataDir]);
    expect(verify.stdout).toMatch(/^OK: /);
  });
});
