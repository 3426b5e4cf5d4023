import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServe, stopChild } from '../helpers/cli.js';
import { ScimClient, keepRequesting, user, waitFor } from '../helpers/gateway.js';

let dataDir: string;
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'scim-bridge-cli-'));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('scim-bridge CLI', () => {
  it('token create prints the token alone on the last line; list never shows it', () => {
    const r = runCli(['token', 'create', '--name', 'Okta', '--data-dir', dataDir]);
    expect(r.status, r.stderr).toBe(0);
    const last = r.stdout.trimEnd().split('\n').pop()!;
    expect(last).toMatch(/^scb_[A-Za-z0-9_-]{43}$/);
    const list = runCli(['token', 'list', '--data-dir', dataDir, '--json']);
    expect(list.status).toBe(0);
    const tokens = JSON.parse(list.stdout);
    expect(tokens).toHaveLength(1);
    expect(tokens[0]).toMatchObject({ name: 'Okta', connection: 'default', prefix: last.slice(0, 8) });
    expect(list.stdout).not.toContain(last);
    expect(JSON.stringify(tokens[0])).not.toMatch(/hash/);
    const human = runCli(['token', 'list', '--data-dir', dataDir]);
    expect(human.stdout).toMatch(/Okta\s+default\s+scb_/);
  });

  it('refuses a token for an unknown connection with a message naming it, then works once created', () => {
    const bad = runCli(['token', 'create', '--name', 'Entra', '--connection', 'hr', '--data-dir', dataDir]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/no connection "hr".*connection create hr/s);
    expect(runCli(['connection', 'create', 'hr', '--data-dir', dataDir]).status).toBe(0);
    expect(runCli(['token', 'create', '--name', 'Entra', '--connection', 'hr', '--data-dir', dataDir]).status).toBe(0);
  });

  it('names the bad key for bad configuration from flags, environment and config file', () => {
    const flag = runCli(['serve', '--data-dir', dataDir, '--port', 'eighty']);
    expect(flag.status).toBe(2);
    expect(flag.stderr).toMatch(/"port".*--port/);
    const env = runCli(['serve', '--data-dir', dataDir], { SCIM_BRIDGE_ADMIN_PORT: '99999' });
    expect(env.stderr).toMatch(/"adminPort".*SCIM_BRIDGE_ADMIN_PORT/);
    const unknownEnv = runCli(['serve', '--data-dir', dataDir], { SCIM_BRIDGE_PROT: '1' });
    expect(unknownEnv.stderr).toMatch(/Unknown environment variable SCIM_BRIDGE_PROT/);
    const file = join(dataDir, 'bad-config.json');
    writeFileSync(file, JSON.stringify({ limits: { maxResults: -3 } }));
    const cfg = runCli(['serve', '--config', file]);
    expect(cfg.stderr).toMatch(/"limits.maxResults".*config file/);
    writeFileSync(file, JSON.stringify({ prot: 1 }));
    expect(runCli(['serve', '--config', file]).stderr).toMatch(/unknown key\(s\) prot/);
  });

  it('token revoke returns once the running gateway refuses the token', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scim-bridge-revoke-'));
    const created = runCli(['token', 'create', '--name', 'Revokable', '--data-dir', dir]);
    const token = created.stdout.trimEnd().split('\n').pop()!;
    const serve = await startServe(['--data-dir', dir, '--port', '0', '--admin-port', '0', '--host', '127.0.0.1']);
    try {
      const client = new ScimClient(serve.scimUrl, token);
      expect((await client.post('/Users', user('alive@example.com'))).status).toBe(201);
      const id = JSON.parse(runCli(['token', 'list', '--json', '--data-dir', dir]).stdout)[0].id;
      const revoked = runCli(['token', 'revoke', id, '--data-dir', dir]);
      // The very first requests after the command returned are refused (401, then 429 once the
      // address counts as guessing tokens).
      const idp = keepRequesting(client);
      await waitFor(() => idp.sent.length >= 20, 5_000, 'requests after the revoke');
      await idp.stop();
      expect(idp.sent.filter((r) => r.status !== 401 && r.status !== 429)).toEqual([]);
      expect(revoked.status, revoked.stderr).toBe(0);
      expect(revoked.stdout).toMatch(/the running gateway \(process \d+\) refuses it from now on/);
      // A token created while the gateway runs works without a restart.
      const fresh = runCli(['token', 'create', '--name', 'Fresh', '--data-dir', dir]).stdout.trimEnd().split('\n').pop()!;
      await waitFor(async () => (await new ScimClient(serve.scimUrl, fresh).get('/Users')).status === 200, 1_000, 'the new token');
    } finally {
      expect(await stopChild(serve.child)).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('restart keeps everything: users, groups, versions, and last-used times', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scim-bridge-restart-'));
    const token = runCli(['token', 'create', '--name', 'Restart', '--data-dir', dir]).stdout.trimEnd().split('\n').pop()!;
    const args = ['--data-dir', dir, '--port', '0', '--admin-port', '0', '--host', '127.0.0.1'];
    let serve = await startServe(args);
    let client = new ScimClient(serve.scimUrl, token);
    const u = (await client.post('/Users', user('persist@example.com', { displayName: 'Persist' }))).body;
    const g = (await client.post('/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Persisted', members: [{ value: u.id }] })).body;
    await client.patch(`/Users/${u.id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] });
    expect(await stopChild(serve.child)).toBe(0);
    serve = await startServe(args);
    client = new ScimClient(serve.scimUrl, token);
    try {
      const again = (await client.get(`/Users/${u.id}`)).body;
      expect(again).toMatchObject({ userName: 'persist@example.com', active: false, meta: { version: 'W/"2"' }, groups: [{ value: g.id }] });
      expect((await client.get(`/Groups/${g.id}`)).body.members.map((m: any) => m.value)).toEqual([u.id]);
      const listed = JSON.parse(runCli(['token', 'list', '--json', '--data-dir', dir]).stdout);
      expect(listed[0].lastUsedAt).toBeTruthy();
      const conns = JSON.parse(runCli(['connection', 'list', '--json', '--data-dir', dir]).stdout);
      expect(conns[0].firstRequestAt).toBeTruthy();
    } finally {
      await stopChild(serve.child);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
