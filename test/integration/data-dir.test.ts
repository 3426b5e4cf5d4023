/**
 * A data directory another local user could write to is not trusted: the gateway and the CLI
 * refuse it, and a running gateway refuses a token file it did not write. POSIX only (Windows
 * has no mode bits; docs/install.md).
 */
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createToken, hashToken } from '../../src/gateway/auth/index.js';
import { loadConfig } from '../../src/gateway/config.js';
import { startGateway } from '../../src/gateway/server.js';
import { runCli } from '../helpers/cli.js';
import { ScimClient, startTestGateway, waitFor, type TestGateway } from '../helpers/gateway.js';

const posix = process.platform !== 'win32';
const root = process.getuid?.() === 0;
/** Another local user: `nobody`. Only root can hand a file to another user. */
const OTHER_UID = 65534;

const dirs: string[] = [];
let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dataDir(): string {
  const parent = mkdtempSync(join(tmpdir(), 'scim-bridge-datadir-'));
  dirs.push(parent);
  const dir = join(parent, 'data');
  mkdirSync(dir, { mode: 0o700 });
  return dir;
}

function start(dir: string) {
  return startGateway(loadConfig({ env: {}, flags: { dataDir: dir, port: 0, adminPort: 0, host: '127.0.0.1', logLevel: 'silent', secretsBackend: 'file' } }), { logger: pino({ level: 'silent' }) });
}

/** What another user would plant: access.json holding a token of theirs. */
function plantedAccess(token: string): string {
  return JSON.stringify({
    format: 1,
    connections: [{ id: 'default', name: 'default', createdAt: new Date().toISOString() }],
    tokens: [{ id: 'tok_planted', name: 'planted', connection: 'default', hash: hashToken(token), prefix: token.slice(0, 8), createdAt: new Date().toISOString() }],
  });
}
const ATTACKER_TOKEN = 'scb_' + 'Q'.repeat(43);

describe.skipIf(!posix)('a data directory others can write to', () => {
  it('stops the gateway from starting, naming the directory, its mode and the fix', async () => {
    const dir = dataDir();
    chmodSync(dir, 0o777);
    const err = await start(dir).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toContain(`${dir} is writable by group and others (mode 0777)`);
    expect(err?.message).toMatch(/another local user could have replaced/);
    expect(err?.message).toContain(`chmod -R go-w "${dir}"`);
  });

  it('refuses a group-writable file in it, and the CLI refuses it too', async () => {
    const dir = dataDir();
    createToken(dir, { name: 'IdP' });
    chmodSync(join(dir, 'access.json'), 0o664);
    await expect(start(dir)).rejects.toThrow(`${join(dir, 'access.json')} is writable by group (mode 0664)`);
    const cli = runCli(['token', 'list', '--data-dir', dir]);
    expect(cli.status).toBe(1);
    expect(cli.stderr).toContain(`${join(dir, 'access.json')} is writable by group (mode 0664)`);
  });

  it.skipIf(!root)("refuses a file that belongs to another user, even one the gateway's user could overwrite", async () => {
    const dir = dataDir();
    mkdirSync(join(dir, 'backups'), { mode: 0o700 });
    writeFileSync(join(dir, 'backups', 'note.txt'), 'x', { mode: 0o600 });
    chownSync(join(dir, 'backups', 'note.txt'), OTHER_UID, OTHER_UID);
    await expect(start(dir)).rejects.toThrow(`${join(dir, 'backups', 'note.txt')} belongs to uid ${OTHER_UID}`);
  });

  it.skipIf(!root)("lets root's commands use a service user's directory (sudo scim-bridge token list)", () => {
    const dir = dataDir();
    createToken(dir, { name: 'IdP' });
    for (const path of [dir, join(dir, 'access.json')]) chownSync(path, 4321, 4321);
    const cli = runCli(['token', 'list', '--data-dir', dir]);
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stdout).toContain('IdP');
  });

  it('starts on a private directory (0700, files 0600) and on a readable one (0755)', async () => {
    const dir = dataDir();
    createToken(dir, { name: 'IdP' });
    chmodSync(dir, 0o755);
    const g = await start(dir);
    await g.stop();
  });
});

describe.skipIf(!posix)('a running gateway whose token file was replaced by someone else', () => {
  it.skipIf(!root)("refuses the planted file's tokens and every other token until the file is its own again", async () => {
    gw = await startTestGateway({ lockoutFailures: 0 });
    const file = join(gw.dataDir, 'access.json');
    const own = readFileSync(file);
    expect((await gw.client.get('/Users')).status).toBe(200);
    // The attack: a loosened directory, and another user's access.json swapped in.
    chmodSync(gw.dataDir, 0o777);
    writeFileSync(`${file}.planted`, plantedAccess(ATTACKER_TOKEN), { mode: 0o644 });
    chownSync(`${file}.planted`, OTHER_UID, OTHER_UID);
    renameSync(`${file}.planted`, file);
    const attacker = new ScimClient(gw.base, ATTACKER_TOKEN);
    await waitFor(async () => (await gw!.client.get('/Users')).status === 503, 3_000, 'the gateway to stop trusting access.json');
    expect((await attacker.get('/Users')).status).toBe(503);
    // Put right by the admin: the gateway recovers by itself.
    chmodSync(gw.dataDir, 0o700);
    writeFileSync(`${file}.own`, own, { mode: 0o600 });
    renameSync(`${file}.own`, file);
    await waitFor(async () => (await gw!.client.get('/Users')).status === 200, 3_000, 'the own token to work again');
    expect((await attacker.get('/Users')).status).toBe(401);
  });

  it('refuses tokens while access.json is writable by others', async () => {
    gw = await startTestGateway({ lockoutFailures: 0 });
    const file = join(gw.dataDir, 'access.json');
    chmodSync(file, 0o666);
    await waitFor(async () => (await gw!.client.get('/Users')).status === 503, 3_000, 'the gateway to stop trusting access.json');
    chmodSync(file, 0o600);
    await waitFor(async () => (await gw!.client.get('/Users')).status === 200, 3_000, 'the token to work again');
  });
});
