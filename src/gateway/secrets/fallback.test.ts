/**
 * How `auto` falls back to the encrypted file, with real keytar and real failures: no session
 * bus at all (the headless server: "Cannot autolaunch D-Bus without X11 $DISPLAY"), a bus
 * address whose socket does not exist, a bus that accepts connections and never answers (keytar
 * hangs forever there: the probe's deadline must hold), a bus with no Secret Service on it, and
 * keytar not installed. The probe runs in a child process with this process's environment, so
 * each test sets process.env before opening; keytar is never loaded into this process.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, type TestContext } from 'vitest';
import { secretServiceUnavailableReason, startSessionBus } from '../../../test/servers/secret-service.js';
import { openSecretStore, SecretStoreError, testing } from './index.js';
import { captureLogger, cleanupDirs, tempDir } from './secrets.fixture.js';

const savedEnv = { DBUS_SESSION_BUS_ADDRESS: process.env.DBUS_SESSION_BUS_ADDRESS, DISPLAY: process.env.DISPLAY };
const keytar = testing.locateKeytar();
const linux = process.platform === 'linux';

function needKeytarOnLinux(ctx: TestContext): void {
  if (!linux) ctx.skip('the D-Bus cases exist on Linux only');
  if (!keytar.ok) {
    if (process.env.CI) throw new Error(`CI builds keytar, so this must run: ${keytar.reason}`);
    ctx.skip(keytar.reason);
  }
}

beforeEach(() => {
  delete process.env.DISPLAY;
});
afterEach(() => {
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});
afterAll(cleanupDirs);

/** Opens with `auto` and checks the common shape of a fallback; returns the reason. */
async function expectFallback(options: { probeTimeoutMs?: number; keytarModule?: string } = {}): Promise<string> {
  const dataDir = await tempDir();
  const logger = captureLogger();
  const store = await openSecretStore({ dataDir, backend: 'auto', logger, ...options });
  expect(store.backend).toBe('file');
  const status = store.describe();
  expect(status).toMatchObject({ backend: 'file', requested: 'auto', file: join(dataDir, 'secrets.enc.json'), keyFile: join(dataDir, 'secrets.key') });
  expect(status.fallbackReason).toBeTruthy();
  expect(status.warning).toContain(status.fallbackReason);
  expect(status.warning).toContain('mode 0600');
  // Loud: one warning in the log, the same text the console shows.
  const warnings = logger.lines.filter((l) => l.level === 'warn');
  expect(warnings).toHaveLength(1);
  expect(warnings[0].msg).toBe(status.warning);
  expect(warnings[0].o).toMatchObject({ secretsBackend: 'file', reason: status.fallbackReason });
  // And it works as a store.
  await store.set('ldap-main:bindPassword', 'fallback-works');
  expect(await store.get('ldap-main:bindPassword')).toBe('fallback-works');
  return status.fallbackReason!;
}

describe('auto falls back to the encrypted file when no keychain answers', () => {
  it('no session bus and no DISPLAY (a headless server)', async (ctx) => {
    needKeytarOnLinux(ctx);
    delete process.env.DBUS_SESSION_BUS_ADDRESS;
    expect(await expectFallback()).toBe('no OS keychain is reachable: Cannot autolaunch D-Bus without X11 $DISPLAY');
  });

  it('DBUS_SESSION_BUS_ADDRESS pointing at a socket that does not exist', async (ctx) => {
    needKeytarOnLinux(ctx);
    process.env.DBUS_SESSION_BUS_ADDRESS = `unix:path=${join(await tempDir(), 'no-such-bus')}`;
    const reason = await expectFallback();
    expect(reason).toMatch(/^no OS keychain is reachable: Could not connect: No such file or directory/);

    const err = await openSecretStore({ dataDir: await tempDir(), backend: 'keychain' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretStoreError);
    expect((err as SecretStoreError).code).toBe('keychain-unavailable');
    expect((err as Error).message).toContain('secretsBackend is "keychain" but no OS keychain is reachable: Could not connect');
    expect((err as Error).message).toContain('"auto" or "file"');
  });

  it('a bus that accepts connections and never answers: the probe gives up at its deadline', async (ctx) => {
    needKeytarOnLinux(ctx);
    const socket = join(await tempDir(), 'silent-bus');
    const conns: Socket[] = [];
    const server: Server = createServer((c) => {
      conns.push(c);
      c.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(socket, r));
    try {
      process.env.DBUS_SESSION_BUS_ADDRESS = `unix:path=${socket}`;
      const started = Date.now();
      const reason = await expectFallback({ probeTimeoutMs: 1_500 });
      const elapsed = Date.now() - started;
      expect(reason).toBe('the keychain did not answer within 1500 ms (a D-Bus session bus or Secret Service that does not respond?)');
      expect(elapsed).toBeGreaterThanOrEqual(1_400);
      expect(elapsed).toBeLessThan(6_000);
      expect(conns.length).toBeGreaterThan(0); // the probe really talked to this bus

      const err = await openSecretStore({ dataDir: await tempDir(), backend: 'keychain', probeTimeoutMs: 500 }).catch((e: unknown) => e);
      expect((err as SecretStoreError).code).toBe('keychain-timeout');
    } finally {
      for (const c of conns) c.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  it('a bus with no Secret Service on it', async (ctx) => {
    needKeytarOnLinux(ctx);
    const missing = secretServiceUnavailableReason();
    if (missing) {
      if (process.env.CI) throw new Error(missing);
      ctx.skip(missing);
    }
    const bus = await startSessionBus();
    try {
      process.env.DBUS_SESSION_BUS_ADDRESS = bus.address;
      expect(await expectFallback()).toBe('no OS keychain is reachable: The name org.freedesktop.secrets was not provided by any .service files');
    } finally {
      await bus.stop();
    }
  });

  it('keytar not installed (the optional native build failed)', async () => {
    const reason = await expectFallback({ keytarModule: 'keytar-that-is-not-installed' });
    expect(reason).toContain('the optional keychain module "keytar-that-is-not-installed" is not installed');
    const err = await openSecretStore({ dataDir: await tempDir(), backend: 'keychain', keytarModule: 'keytar-that-is-not-installed' }).catch((e: unknown) => e);
    expect((err as SecretStoreError).code).toBe('keychain-unavailable');
  });
});

describe('backend "file" forced by configuration', () => {
  it('never probes the keychain, logs at info, and carries no fallback warning', async () => {
    // A bus that would hang the probe: "file" must not wait for it.
    const socket = join(await tempDir(), 'silent-bus');
    const server = createServer(() => undefined);
    await new Promise<void>((r) => server.listen(socket, r));
    try {
      process.env.DBUS_SESSION_BUS_ADDRESS = `unix:path=${socket}`;
      const logger = captureLogger();
      const dataDir = await tempDir();
      const started = Date.now();
      const store = await openSecretStore({ dataDir, backend: 'file', logger, probeTimeoutMs: 5_000 });
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(store.backend).toBe('file');
      expect(store.describe().warning).toBeUndefined();
      expect(store.describe().requested).toBe('file');
      expect(logger.lines.map((l) => [l.level, l.msg])).toEqual([['info', 'connector secrets: encrypted file (forced by configuration)']]);
    } finally {
      server.close();
    }
  });
});
