/**
 * When a revoke takes effect on a running gateway, and what the gateway does when it cannot read
 * its token file. (The console's revoke: admin-api.test.ts; the CLI's on a live gateway: cli.test.ts.)
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startServe, stopChild } from '../helpers/cli.js';
import { ScimClient, startTestGateway, waitFor, type TestGateway } from '../helpers/gateway.js';

/** Replaces a file the way an editor or `cp` over it would not: a new inode, in one step. */
function replaceFile(path: string, content: Buffer | string): void {
  writeFileSync(`${path}.new`, content, { mode: 0o600 });
  renameSync(`${path}.new`, path);
}

describe('a token file the gateway cannot read', () => {
  let gw: TestGateway;
  afterAll(async () => gw?.stop());

  it('refuses every token with 503 and Retry-After until it can read the file again', async () => {
    gw = await startTestGateway();
    const file = join(gw.dataDir, 'access.json');
    expect((await gw.client.get('/Users')).status).toBe(200);
    const good = readFileSync(file);
    replaceFile(file, '{ "format": 1, "connections": [');
    await waitFor(async () => (await gw.client.get('/Users')).status !== 200, 3_000, 'the token to be refused');
    const refused = await gw.client.get('/Users');
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.body.detail).toMatch(/cannot check tokens/);
    replaceFile(file, good);
    await waitFor(async () => (await gw.client.get('/Users')).status === 200, 3_000, 'the token to work again');
  });
});

describe('token revoke from the CLI', () => {
  it('exits 1 and says so when the running gateway does not confirm the revocation', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scim-bridge-revoke-hung-'));
    const token = runCli(['token', 'create', '--name', 'Hung', '--data-dir', dir]).stdout.trimEnd().split('\n').pop()!;
    const serve = await startServe(['--data-dir', dir, '--port', '0', '--admin-port', '0', '--host', '127.0.0.1']);
    try {
      const client = new ScimClient(serve.scimUrl, token);
      expect((await client.get('/Users')).status).toBe(200);
      // A gateway that does not run (stopped by a debugger, swapped out) cannot confirm.
      serve.child.kill('SIGSTOP');
      const id = JSON.parse(runCli(['token', 'list', '--json', '--data-dir', dir]).stdout)[0].id;
      const r = runCli(['token', 'revoke', id, '--data-dir', dir]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`access.json records the revocation of token .*, but the running gateway \\(process ${serve.child.pid}\\) has not confirmed it`));
      serve.child.kill('SIGCONT');
      await waitFor(async () => (await client.get('/Users')).status === 401, 3_000, 'the revoked token to be refused');
    } finally {
      serve.child.kill('SIGCONT');
      expect(await stopChild(serve.child)).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
