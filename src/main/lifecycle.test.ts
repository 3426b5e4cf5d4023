/**
 * The desktop lifecycle with a fake Electron `app` and windows, and a real gateway on port 0 in a
 * temp data dir: single instance, the console opened and revealed, the tray status, and a quit
 * that exits only after the gateway has stopped and released its store.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createToken } from '../gateway/auth/index.js';
import { loadConfig } from '../gateway/config.js';
import { startGateway, type Gateway } from '../gateway/server.js';
import { acquireStoreLock, createLowdbStore } from '../gateway/store/index.js';
import { createConsoleWindows, type ConsoleWindowLike } from './console-windows.js';
import { consoleEntryUrl, createDesktop, describeStartFailure, type DesktopGateway, type DesktopOptions } from './lifecycle.js';
import { consoleOriginOf, isConsoleUrl } from './navigation-policy.js';
import type { DesktopStatus } from './tray-status.js';

/** Electron's `app` as far as the lifecycle sees it: events, the instance lock, quit and exit. */
class FakeApp extends EventEmitter {
  calls: string[] = [];
  exitCode: number | undefined;
  readonly exited: Promise<number>;
  private resolveExit!: (code: number) => void;
  constructor(private readonly lock = true) {
    super();
    this.exited = new Promise((r) => (this.resolveExit = r));
  }
  requestSingleInstanceLock() {
    this.calls.push('requestSingleInstanceLock');
    return this.lock;
  }
  whenReady() {
    return Promise.resolve();
  }
  /** Like Electron: 'before-quit' first; a listener may prevent the quit. */
  quit() {
    this.calls.push('quit');
    let prevented = false;
    this.emit('before-quit', { preventDefault: () => (prevented = true) });
    if (!prevented) this.calls.push('quit:not-prevented');
  }
  exit(code = 0) {
    this.calls.push(`exit(${code})`);
    this.exitCode = code;
    this.resolveExit(code);
  }
}

/** A BrowserWindow as the window manager sees it, recording what is done to it. */
class FakeWindow extends EventEmitter implements ConsoleWindowLike {
  calls: string[] = [];
  urls: string[] = [];
  destroyed = false;
  minimized = false;
  isDestroyed = () => this.destroyed;
  isMinimized = () => this.minimized;
  restore = () => void this.calls.push('restore');
  show = () => void this.calls.push('show');
  focus = () => void this.calls.push('focus');
  destroy = () => {
    this.destroyed = true;
    this.emit('closed');
  };
  async loadURL(url: string) {
    this.urls.push(url);
    this.emit('ready-to-show');
  }
  /** The user closes the window. */
  close() {
    this.destroyed = true;
    this.emit('closed');
  }
}

const dirs: string[] = [];
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'scim-bridge-desktop-'));
  dirs.push(d);
  return d;
}

function configFor(dataDir: string, overrides: Record<string, unknown> = {}) {
  return loadConfig({
    env: {},
    flags: { dataDir, port: 0, adminPort: 0, host: '127.0.0.1', logLevel: 'silent', backupCron: '', auditCron: '', reconcileCron: '', ...overrides },
  });
}

function realStarter(dataDir: string, started: Gateway[] = []) {
  return async () => {
    const gw = await startGateway(configFor(dataDir), { logger: pino({ level: 'silent' }) });
    started.push(gw);
    cleanups.push(() => gw.stop()); // idempotent: a no-op when the desktop already stopped it
    return gw;
  };
}

interface Harness {
  app: FakeApp;
  windows: FakeWindow[];
  statuses: DesktopStatus[];
  failures: Array<{ title: string; message: string }>;
  signals: EventEmitter;
  desktop: ReturnType<typeof createDesktop>;
}

function harness(overrides: Partial<DesktopOptions> & { startGateway: DesktopOptions['startGateway']; lock?: boolean }): Harness {
  const app = new FakeApp(overrides.lock ?? true);
  const windows: FakeWindow[] = [];
  const statuses: DesktopStatus[] = [];
  const failures: Array<{ title: string; message: string }> = [];
  const signals = new EventEmitter();
  const desktop = createDesktop({
    app,
    windows: createConsoleWindows(() => {
      const w = new FakeWindow();
      windows.push(w);
      return w;
    }),
    showStartFailure: (f) => void failures.push(f),
    onStatus: (s) => void statuses.push(s),
    signals,
    statusIntervalMs: 30,
    ...overrides,
  });
  cleanups.push(async () => {
    // Leave nothing running: a test that did not quit quits here.
    if (app.exitCode === undefined && desktop.status().state !== 'failed') await desktop.quit('test cleanup');
  });
  return { app, windows, statuses, failures, signals, desktop };
}

/** Waits for a condition (events, not sleeps), failing after `ms`. */
async function waitFor(condition: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function readyz(adminUrl: string): Promise<number> {
  try {
    return (await fetch(adminUrl + '/readyz', { signal: AbortSignal.timeout(2000) })).status;
  } catch {
    return 0; // refused: nothing listens
  }
}

describe('starting', () => {
  it('starts the gateway in-process and opens the console on its origin', async () => {
    const h = harness({ startGateway: realStarter(tempDataDir()) });
    expect(await h.desktop.run()).toBe('primary');
    const gw = h.desktop.gateway()!;
    expect(await readyz(gw.adminUrl)).toBe(200);
    expect(h.windows).toHaveLength(1);
    const [url] = h.windows[0].urls;
    expect(isConsoleUrl(url, consoleOriginOf(gw.adminUrl))).toBe(true);
    expect(h.windows[0].calls).toEqual(['show', 'focus']); // shown once ready
    expect(h.desktop.status()).toMatchObject({ state: 'running', scimUrl: gw.scimUrl, outboxPending: 0, outboxDead: 0 });
    expect(h.statuses[0]).toEqual({ state: 'starting' });
  });

  it('keeps the tray status fresh while running', async () => {
    const h = harness({ startGateway: realStarter(tempDataDir()) });
    await h.desktop.run();
    const before = h.statuses.length;
    await waitFor(() => h.statuses.length > before + 2);
    expect(h.statuses.at(-1)).toMatchObject({ state: 'running', outboxPending: 0, outboxDead: 0 });
  });

  it('started at login: stays in the tray until asked for the console', async () => {
    const h = harness({ startGateway: realStarter(tempDataDir()), startHidden: true });
    await h.desktop.run();
    expect(h.windows).toHaveLength(0);
    h.app.emit('second-instance');
    await waitFor(() => h.windows.length === 1);
  });

  it('refuses to start on a data directory another gateway holds, says why, and exits 1', async () => {
    const dataDir = tempDataDir();
    const other = await startGateway(configFor(dataDir), { logger: pino({ level: 'silent' }) });
    cleanups.push(() => other.stop());
    const h = harness({ startGateway: realStarter(dataDir), logFile: '/var/log/x/gateway.log' });
    expect(await h.desktop.run()).toBe('failed');
    expect(h.failures).toHaveLength(1);
    expect(h.failures[0].title).toBe('SCIM Bridge could not start');
    expect(h.failures[0].message).toMatch(/is in use by process \d+/);
    expect(h.failures[0].message).toMatch(/already running/);
    expect(h.failures[0].message).toContain('Details are in the log: /var/log/x/gateway.log');
    expect(h.app.exitCode).toBe(1);
    expect(h.windows).toHaveLength(0);
    expect(h.statuses.map((s) => s.state)).toEqual(['starting', 'failed', 'stopping']);
    expect(h.statuses[1].problem).toMatch(/is in use by process/);
  });
});

describe('single instance', () => {
  it('a second instance quits at once, without starting a gateway', async () => {
    let started = 0;
    const h = harness({
      lock: false,
      startGateway: async () => {
        started++;
        throw new Error('must not start');
      },
    });
    expect(await h.desktop.run()).toBe('secondary');
    expect(h.app.calls).toEqual(['requestSingleInstanceLock', 'quit', 'quit:not-prevented']);
    expect(started).toBe(0);
    expect(h.windows).toHaveLength(0);
  });

  it('the first instance, told of a second launch, brings its window back instead of opening another', async () => {
    const h = harness({ startGateway: realStarter(tempDataDir()) });
    await h.desktop.run();
    const win = h.windows[0];
    win.minimized = true;
    win.calls = [];
    h.app.emit('second-instance', {}, ['scim-bridge'], '/');
    expect(win.calls).toEqual(['restore', 'show', 'focus']);
    expect(h.windows).toHaveLength(1);
  });

  it('a second start at login (--hidden) while running leaves the window alone', async () => {
    const h = harness({ startGateway: realStarter(tempDataDir()), startHidden: true });
    await h.desktop.run();
    h.app.emit('second-instance', {}, ['/opt/SCIM Bridge/scim-bridge-desktop', '--hidden'], '/');
    await new Promise((r) => setTimeout(r, 20));
    expect(h.windows).toHaveLength(0);
  });

  it('after the window was closed, a second launch opens a new one, logged in again', async () => {
    const h = harness({ startGateway: realStarter(tempDataDir()) });
    await h.desktop.run();
    h.windows[0].close();
    expect(h.desktop.gateway()).toBeDefined(); // closing the window leaves the gateway running
    expect(await readyz(h.desktop.gateway()!.adminUrl)).toBe(200);
    h.app.emit('second-instance');
    await waitFor(() => h.windows.length === 2);
    expect(h.windows[1].urls).toHaveLength(1);
  });

  it('keeps running when the last window closes (a window-all-closed listener is what stops Electron quitting)', async () => {
    const h = harness({ startGateway: realStarter(tempDataDir()) });
    await h.desktop.run();
    expect(h.app.listenerCount('window-all-closed')).toBe(1);
    h.windows[0].close();
    h.app.emit('window-all-closed');
    expect(h.app.exitCode).toBeUndefined();
  });
});

describe('quitting', () => {
  it('holds the quit until gateway.stop() has flushed and released the store, then exits 0', async () => {
    const dataDir = tempDataDir();
    const h = harness({ startGateway: realStarter(dataDir) });
    await h.desktop.run();
    const gw = h.desktop.gateway()!;
    const { token } = createToken(dataDir, { name: 'test' });
    const created = await fetch(gw.scimUrl + '/Users', {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/scim+json' },
      body: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'ann@example.com' }),
    });
    expect(created.status).toBe(201);

    // Record when stop() settles, against when exit is called.
    const order: string[] = [];
    const realStop = gw.stop.bind(gw);
    gw.stop = async () => {
      order.push('stop:begin');
      await realStop();
      order.push('stop:end');
    };
    const exitCalled = h.app.exited.then(() => order.push('exit'));

    h.app.quit();
    expect(h.app.calls).not.toContain('quit:not-prevented'); // held until the gateway stopped
    expect(await h.app.exited).toBe(0);
    await exitCalled;
    expect(order).toEqual(['stop:begin', 'stop:end', 'exit']);
    expect(h.windows[0].destroyed).toBe(true);
    expect(await readyz(gw.adminUrl)).toBe(0);

    // The store was closed: its lock is free and the user is on disk.
    const lock = await acquireStoreLock(dataDir);
    await lock.release();
    const store = createLowdbStore({ dataDir, logger: { info() {}, warn() {}, error() {} } });
    await store.open();
    try {
      expect((await store.stats()).users).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('SIGTERM stops the gateway the same way', async () => {
    const h = harness({ startGateway: realStarter(tempDataDir()) });
    await h.desktop.run();
    const adminUrl = h.desktop.gateway()!.adminUrl;
    h.signals.emit('SIGTERM');
    expect(await h.app.exited).toBe(0);
    expect(await readyz(adminUrl)).toBe(0);
  });

  it('a second quit while stopping does not stop twice', async () => {
    const h = harness({ startGateway: realStarter(tempDataDir()) });
    await h.desktop.run();
    let stops = 0;
    const gw = h.desktop.gateway()!;
    const realStop = gw.stop.bind(gw);
    gw.stop = () => {
      stops++;
      return realStop();
    };
    h.app.quit();
    h.signals.emit('SIGINT');
    h.app.quit();
    expect(await h.app.exited).toBe(0);
    expect(stops).toBe(1);
    expect(h.app.calls.filter((c) => c.startsWith('exit'))).toEqual(['exit(0)']);
  });

  it('exits 1 after the time limit when the gateway does not stop', async () => {
    const started: Gateway[] = [];
    const start = realStarter(tempDataDir(), started);
    const h = harness({
      shutdownTimeoutMs: 300,
      startGateway: async () => ({ ...(await start()), stop: () => new Promise<void>(() => undefined) }),
    });
    await h.desktop.run();
    const t0 = Date.now();
    h.app.quit();
    expect(await h.app.exited).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(started).toHaveLength(1); // the real gateway is stopped by the cleanup
  });

  it('a quit during start waits for the gateway to be up, then stops it', async () => {
    const started: Gateway[] = [];
    const start = realStarter(tempDataDir(), started);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const h = harness({
      startGateway: async () => {
        await gate;
        return start();
      },
    });
    const running = h.desktop.run();
    await new Promise((r) => setTimeout(r, 10));
    h.app.quit();
    release();
    await running;
    expect(await h.app.exited).toBe(0);
    expect(await readyz(started[0].adminUrl)).toBe(0);
    expect(h.windows).toHaveLength(0);
  });

  it('runs beforeExit (the log flush) with the exit code, just before exit', async () => {
    const seen: string[] = [];
    const h = harness({ startGateway: realStarter(tempDataDir()), beforeExit: (code) => void seen.push(`beforeExit(${code})`) });
    await h.desktop.run();
    const exited = h.app.exited.then(() => seen.push('exit'));
    h.app.quit();
    await exited;
    expect(seen).toEqual(['beforeExit(0)', 'exit']);
  });
});

describe('consoleEntryUrl (logging the local user in)', () => {
  async function realGateway(): Promise<Gateway> {
    const gw = await startGateway(configFor(tempDataDir()), { logger: pino({ level: 'silent' }) });
    cleanups.push(() => gw.stop());
    return gw;
  }

  it('uses the gateway own local-login URL when it offers one, else the console front page', async () => {
    const gw = await realGateway();
    const url = await consoleEntryUrl(gw);
    expect(isConsoleUrl(url, consoleOriginOf(gw.adminUrl))).toBe(true);
    const admin = (gw as DesktopGateway).admin;
    if (typeof admin?.issueLocalLogin !== 'function') {
      expect(url).toBe(gw.adminUrl);
      return;
    }
    // The contract the desktop relies on: opening the URL signs the local user in, once.
    const first = await fetch(url, { redirect: 'manual' });
    expect(first.status).toBeGreaterThanOrEqual(300);
    expect(first.status).toBeLessThan(400);
    expect(first.headers.get('set-cookie')).toBeTruthy();
    const location = new URL(first.headers.get('location') ?? '', url).href;
    expect(isConsoleUrl(location, consoleOriginOf(gw.adminUrl))).toBe(true); // the redirect stays on the console
    const again = await fetch(url, { redirect: 'manual' });
    expect(again.headers.get('set-cookie')).toBeNull();
  });

  it('uses an issued one-time URL on the console origin, sync or async', async () => {
    const gw = await realGateway();
    const login = `${gw.adminUrl}/login/local?code=abc`;
    expect(await consoleEntryUrl({ ...gw, admin: { issueLocalLogin: () => ({ url: login }) } })).toBe(login);
    expect(await consoleEntryUrl({ ...gw, admin: { issueLocalLogin: async () => ({ url: login }) } })).toBe(login);
  });

  it('refuses an issued URL off the console origin, and survives a failing issuer', async () => {
    const gw = await realGateway();
    const warnings: string[] = [];
    const logger = { info() {}, warn: (_o: object, m?: string) => void warnings.push(m ?? ''), error() {} };
    expect(await consoleEntryUrl({ ...gw, admin: { issueLocalLogin: () => ({ url: 'https://evil.example/login?code=abc' }) } }, logger)).toBe(gw.adminUrl);
    expect(
      await consoleEntryUrl(
        {
          ...gw,
          admin: {
            issueLocalLogin: () => {
              throw new Error('no admin account yet');
            },
          },
        },
        logger,
      ),
    ).toBe(gw.adminUrl);
    expect(warnings).toHaveLength(2);
    expect(warnings.join(' ')).not.toContain('code=abc'); // the one-time secret is never logged
  });
});

describe('describeStartFailure', () => {
  async function occupiedPortError(): Promise<NodeJS.ErrnoException> {
    const holder: Server = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => holder.close(r)));
    const port = (holder.address() as { port: number }).port;
    const second = createServer();
    return new Promise((resolve) => {
      second.once('error', (err) => resolve(err as NodeJS.ErrnoException));
      second.listen(port, '127.0.0.1');
    }).then((err) => {
      (err as NodeJS.ErrnoException & { port?: number }).port = port;
      return err as NodeJS.ErrnoException;
    });
  }

  it('names the busy port and the settings that move it', async () => {
    const err = await occupiedPortError();
    const port = (err as { port?: number }).port;
    const f = describeStartFailure(err);
    expect(f.message).toContain(`Port ${port} is already in use`);
    expect(f.message).toContain('SCIM_BRIDGE_ADMIN_PORT');
  });

  it('passes a configuration error on with its key', () => {
    let err: unknown;
    try {
      loadConfig({ env: { SCIM_BRIDGE_PORT: 'eighty' } });
    } catch (e) {
      err = e;
    }
    expect(describeStartFailure(err).message).toMatch(/^The configuration is not valid: Invalid configuration "port"/);
  });

  it('falls back to the error message', () => {
    expect(describeStartFailure(new Error('disk full')).message).toBe('disk full');
    expect(describeStartFailure('odd').message).toBe('odd');
  });
});
