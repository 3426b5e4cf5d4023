/**
 * The keychain backend against a real Secret Service: gnome-keyring-daemon on a private D-Bus
 * session bus (test/servers/secret-service.ts). Results are checked by asking the keyring
 * directly through keytar, not through the store. The bus address is set in this file's own
 * worker process (vitest forks one per file) before keytar's first call, because libsecret
 * keeps the first bus it connects to for the life of the process.
 *
 * Skipped, with the reason, where keytar or the daemons are not installed; under CI=true that
 * is a failure instead, since CI installs them (.ci/run).
 */
import { readdir } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { secretServiceUnavailableReason, startSecretService, type SecretService } from '../../../test/servers/secret-service.js';
import { copySecrets, MAX_SECRET_BYTES, openFileSecretStore, openSecretStore, SECRETS_FILE, SecretStoreError, testing, type SecretStore } from './index.js';
import type { KeytarApi } from './keychain-store.js';
import { captureLogger, cleanupDirs, errorText, filesUnder, leaksIn, tempDir } from './secrets.fixture.js';

interface KeytarFull extends KeytarApi {
  findCredentials(service: string): Promise<Array<{ account: string; password: string }>>;
}

let service: SecretService | undefined;
let keytar: KeytarFull | undefined;
let skipReason: string | undefined;

beforeAll(async () => {
  const located = testing.locateKeytar();
  skipReason = located.ok ? secretServiceUnavailableReason() : located.reason;
  if (!skipReason && located.ok) {
    try {
      const mod = (await import(pathToFileURL(located.path).href)) as { default: KeytarFull };
      keytar = mod.default;
    } catch (err) {
      skipReason = `keytar is installed but does not load: ${(err as Error).message}`;
    }
  }
  if (skipReason) {
    if (process.env.CI) throw new Error(`CI installs keytar's build deps, gnome-keyring and dbus-x11, so the keychain tests must run: ${skipReason}`);
    return;
  }
  service = await startSecretService();
  process.env.DBUS_SESSION_BUS_ADDRESS = service.address;
  delete process.env.DISPLAY;
}, 60_000);

afterAll(async () => {
  await service?.stop();
  await cleanupDirs();
});

function needKeychain(ctx: TestContext): KeytarFull {
  if (skipReason || !keytar) ctx.skip(`no real Secret Service here: ${skipReason ?? 'keytar not loaded'}`);
  return keytar!;
}

const SECRETS = ['ldap-Bind-pw-7f3a!', 'pg pass with spaces & ümlauts', 'sk_live_51HxYzKeychainValue'];

describe('keychain secret store (gnome-keyring on a private bus)', () => {
  let store: SecretStore;
  const logger = captureLogger();
  let dataDir: string;

  it('auto picks the keychain when a Secret Service answers, and creates nothing in the data dir', async (ctx) => {
    needKeychain(ctx);
    dataDir = await tempDir();
    const started = Date.now();
    store = await openSecretStore({ dataDir, backend: 'auto', logger });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(store.backend).toBe('keychain');
    expect(store.describe()).toEqual({
      backend: 'keychain',
      requested: 'auto',
      service: 'scim-bridge',
      location: 'Secret Service (GNOME Keyring, KWallet), service "scim-bridge"',
    });
    expect(logger.lines.filter((l) => l.level === 'warn')).toEqual([]);
    expect(logger.lines.map((l) => l.msg)).toContain('connector secrets: OS keychain');
  });

  it('stores in the keyring under service "scim-bridge" and account "<connector>:<field>"', async (ctx) => {
    const kt = needKeychain(ctx);
    await store.set('ldap-main:bindPassword', SECRETS[0]);
    await store.set('pg:password', SECRETS[1]);
    expect(await kt.getPassword('scim-bridge', 'ldap-main:bindPassword')).toBe(SECRETS[0]);
    expect(await kt.getPassword('scim-bridge', 'pg:password')).toBe(SECRETS[1]);
    expect(await store.get('ldap-main:bindPassword')).toBe(SECRETS[0]);
    expect(await store.has('pg:password')).toBe(true);
    expect(await store.get('ldap-main:missing')).toBeUndefined();
    expect(await store.has('ldap-main:missing')).toBe(false);

    await store.set('pg:password', SECRETS[2]);
    expect(await kt.getPassword('scim-bridge', 'pg:password')).toBe(SECRETS[2]);

    // Written by someone else (e.g. an earlier version or an admin tool): read through the store.
    await kt.setPassword('scim-bridge', 'rest:auth.apiKey', 'set-directly');
    expect(await store.get('rest:auth.apiKey')).toBe('set-directly');
  });

  it('lists accounts only, ignoring malformed accounts and other services', async (ctx) => {
    const kt = needKeychain(ctx);
    await kt.setPassword('scim-bridge', 'not an account', 'x');
    await kt.setPassword('some-other-app', 'ldap-other:bindPassword', 'x');
    const accounts = await store.list();
    expect(accounts).toEqual(['ldap-main:bindPassword', 'pg:password', 'rest:auth.apiKey']);
    expect(JSON.stringify(accounts)).not.toContain(SECRETS[0]);
  });

  it('deletes in the keyring, and round-trips a 64 KiB value', async (ctx) => {
    const kt = needKeychain(ctx);
    expect(await store.delete('rest:auth.apiKey')).toBe(true);
    expect(await store.delete('rest:auth.apiKey')).toBe(false);
    expect(await kt.getPassword('scim-bridge', 'rest:auth.apiKey')).toBeNull();

    const big = 'k'.repeat(MAX_SECRET_BYTES - 2) + 'é'; // multi-byte at the edge
    await store.set('big:cert', big);
    expect(await kt.getPassword('scim-bridge', 'big:cert')).toBe(big);
    expect(await store.get('big:cert')).toBe(big);
    const err = await store.set('big:cert', `${big}x`).catch((e: unknown) => e);
    expect((err as SecretStoreError).code).toBe('invalid-value');
    await store.delete('big:cert');
  });

  it('with backend "keychain" forced, opens the keychain', async (ctx) => {
    needKeychain(ctx);
    const forced = await openSecretStore({ dataDir: await tempDir(), backend: 'keychain' });
    expect(forced.backend).toBe('keychain');
    expect(forced.describe().requested).toBe('keychain');
    expect(await forced.get('ldap-main:bindPassword')).toBe(SECRETS[0]);
  });

  it('copies secrets from the encrypted file into the keychain', async (ctx) => {
    const kt = needKeychain(ctx);
    const fileDir = await tempDir();
    const file = await openFileSecretStore({ dataDir: fileDir });
    await file.set('csv:sftpPassword', 'from-the-file');
    await file.set('pg:password', 'older-file-value');
    expect(await copySecrets(file, store, { overwrite: false })).toEqual({ copied: ['csv:sftpPassword'], skipped: ['pg:password'] });
    expect(await kt.getPassword('scim-bridge', 'csv:sftpPassword')).toBe('from-the-file');
    expect(await kt.getPassword('scim-bridge', 'pg:password')).toBe(SECRETS[2]);
    expect(await copySecrets(file, store)).toEqual({ copied: ['csv:sftpPassword', 'pg:password'], skipped: [] });
    expect(await kt.getPassword('scim-bridge', 'pg:password')).toBe('older-file-value');
    await store.set('pg:password', SECRETS[2]);
  });

  it('leaves no secret in the data dir or the log', async (ctx) => {
    needKeychain(ctx);
    expect(await readdir(dataDir)).toEqual([]);
    expect(leaksIn(logger.text(), SECRETS)).toEqual([]);
    for (const f of await filesUnder(dataDir)) expect(leaksIn(f.content, SECRETS), f.path).toEqual([]);
  });

  it('auto keeps using an encrypted file that already holds secrets, even with a keychain reachable', async (ctx) => {
    needKeychain(ctx);
    const dir = await tempDir();
    const file = await openFileSecretStore({ dataDir: dir });
    await file.set('ldap-main:bindPassword', 'kept-in-file');
    const store = await openSecretStore({ dataDir: dir });
    expect(store.backend).toBe('file');
    expect(store.describe().fallbackReason).toContain('already holds 1 secret');
    expect(await store.get('ldap-main:bindPassword')).toBe('kept-in-file');
    expect(await readdir(dir)).toContain(SECRETS_FILE);
  });

  // Last: the keyring stays locked from here on.
  it('once the keyring is locked: list fails cleanly (no crash), reads do not pretend "not set", auto falls back', async (ctx) => {
    needKeychain(ctx);
    await service!.lock();
    expect(await service!.isLocked()).toBe(true);

    // keytar's findCredentials crashes its process on a locked collection; it runs in a child.
    const listed = await store.list().catch((e: unknown) => e);
    expect(listed).toBeInstanceOf(SecretStoreError);
    expect((listed as SecretStoreError).code).toBe('keychain-locked');
    expect((listed as Error).message).toContain('locked');

    // libsecret answers "nothing" for a locked item; the store says locked instead.
    const read = await store.get('ldap-main:bindPassword').catch((e: unknown) => e);
    expect((read as SecretStoreError).code).toBe('keychain-locked');
    const write = await store.set('ldap-main:bindPassword', 'new-value-while-locked').catch((e: unknown) => e);
    expect((write as SecretStoreError).code).toBe('keychain-locked');
    expect(errorText(write)).not.toContain('new-value-while-locked');

    const logger2 = captureLogger();
    const dir = await tempDir();
    const fallback = await openSecretStore({ dataDir: dir, logger: logger2 });
    expect(fallback.backend).toBe('file');
    expect(fallback.describe().fallbackReason).toMatch(/^the OS keychain is locked: /);
    expect(logger2.lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([fallback.describe().warning]);

    const forced = await openSecretStore({ dataDir: dir, backend: 'keychain' }).catch((e: unknown) => e);
    expect((forced as SecretStoreError).code).toBe('keychain-locked');
    expect((forced as Error).message).toContain('secretsBackend is "keychain"');
  });
});
