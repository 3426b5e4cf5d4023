/**
 * The desktop app's life: one instance per user, the gateway started in-process once Electron is
 * ready, the console opened (logged in for the local user), the tray kept up to date, and a quit
 * (menu, tray, Cmd+Q, SIGTERM, SIGINT) that waits for gateway.stop() (requests drained, store
 * flushed) before the process exits, within a time limit.
 *
 * Electron's `app`, the gateway starter and the windows are injected: the tests drive this with
 * a fake app and a real gateway.
 */
import { HIDDEN_ARG } from './login-item.js';
import { consoleOriginOf, isConsoleUrl } from './navigation-policy.js';
import type { ConsoleWindows } from './console-windows.js';
import type { DesktopStatus } from './tray-status.js';

/** The parts of Electron's `app` the lifecycle uses. */
export interface DesktopApp {
  requestSingleInstanceLock(): boolean;
  whenReady(): Promise<unknown>;
  on(event: 'second-instance', listener: (event: unknown, argv: string[]) => void): unknown;
  on(event: 'activate' | 'window-all-closed', listener: () => void): unknown;
  on(event: 'before-quit', listener: (event: { preventDefault(): void }) => void): unknown;
  quit(): void;
  exit(code?: number): void;
}

/** The `admin` part of the gateway the desktop uses: a one-time URL that logs the local user in. */
export interface LocalLoginIssuer {
  issueLocalLogin?: () => { url: string } | Promise<{ url: string }>;
}

/** The parts of a started Gateway (src/gateway/server.ts) the desktop uses. */
export interface DesktopGateway {
  scimUrl: string;
  adminUrl: string;
  store: { stats(): Promise<{ outboxPending: number; outboxDead: number }> };
  stop(): Promise<void>;
  admin?: LocalLoginIssuer;
}

export interface SignalSource {
  on(signal: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
}

export interface LifecycleLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface StartFailure {
  title: string;
  message: string;
}

export interface DesktopOptions {
  app: DesktopApp;
  startGateway(): Promise<DesktopGateway>;
  windows: ConsoleWindows;
  /** Shown when the gateway cannot start (index.ts: a dialog); the app then exits with code 1. */
  showStartFailure(failure: StartFailure): void | Promise<void>;
  onStatus?(status: DesktopStatus): void;
  /** Started at login: stay in the tray until asked for the window. */
  startHidden?: boolean;
  /** Default: process. */
  signals?: SignalSource;
  logger?: LifecycleLogger;
  /** How long a quit waits for gateway.stop() before exiting anyway (default 20 s). */
  shutdownTimeoutMs?: number;
  /** How often the tray status is refreshed (default 5 s). */
  statusIntervalMs?: number;
  /** Named in the start-failure message. */
  logFile?: string;
  /** Last words before app.exit (index.ts: flush the log file). */
  beforeExit?(code: number): void;
}

export type RunOutcome = 'primary' | 'secondary' | 'failed';

export interface Desktop {
  /** Takes the single-instance lock, starts the gateway, opens the console. */
  run(): Promise<RunOutcome>;
  /** Brings the console to the front, or opens it (logged in) if it is not open. */
  showConsole(): Promise<void>;
  /** Stops the gateway (waiting for the flush, within the time limit), then exits; resolves with the exit code. */
  quit(reason: string): Promise<number>;
  status(): DesktopStatus;
  refreshStatus(): Promise<DesktopStatus>;
  gateway(): DesktopGateway | undefined;
}

const silentLogger: LifecycleLogger = { info() {}, warn() {}, error() {} };

/** A start failure in words an admin can act on. */
export function describeStartFailure(err: unknown, logFile?: string): StartFailure {
  const e = err as { code?: unknown; name?: unknown; message?: unknown };
  const text = typeof e?.message === 'string' ? e.message : String(err);
  const details = logFile ? `\n\nDetails are in the log: ${logFile}` : '';
  let message: string;
  if (e?.code === 'EADDRINUSE' || e?.code === 'EACCES') {
    const port = /:(\d+)\s*$/.exec(text)?.[1];
    const which = port ? `Port ${port}` : 'A port SCIM Bridge needs';
    message =
      (e.code === 'EADDRINUSE' ? `${which} is already in use by another program` : `${which} may not be opened by this user`) +
      ' (SCIM Bridge running as a service or with `npm start`?). Stop that program, or choose other ports with SCIM_BRIDGE_PORT and SCIM_BRIDGE_ADMIN_PORT (or "port" and "adminPort" in the config file).';
  } else if (e?.name === 'StoreLockedError' || /\(store\.lock\)/.test(text)) {
    // startGateway re-throws the store's open error as a plain Error: recognised by its text too.
    message = `${text}\n\nIs SCIM Bridge already running, as a service or with \`npm start\`, on this data directory?`;
  } else if (e?.name === 'ConfigError') {
    message = `The configuration is not valid: ${text}`;
  } else {
    message = text;
  }
  return { title: 'SCIM Bridge could not start', message: message + details };
}

/**
 * Where the console window starts: the gateway's one-time local-login URL when the admin module
 * offers one (the local user is logged in without a password), else the console's front page.
 * A URL off the console origin is refused. The URL carries a secret: it is never logged.
 */
export async function consoleEntryUrl(gateway: DesktopGateway, logger: LifecycleLogger = silentLogger): Promise<string> {
  const admin = gateway.admin;
  if (!admin || typeof admin.issueLocalLogin !== 'function') return gateway.adminUrl;
  try {
    const issued: unknown = await admin.issueLocalLogin();
    const url = typeof issued === 'object' && issued !== null ? (issued as { url?: unknown }).url : undefined;
    if (typeof url === 'string' && isConsoleUrl(url, consoleOriginOf(gateway.adminUrl))) return url;
    logger.warn({}, 'the local login URL is not on the console origin: opening the console without it');
  } catch (err) {
    logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not issue a local login: opening the console without it');
  }
  return gateway.adminUrl;
}

type StopResult = 'stopped' | 'timeout' | 'failed';

function stopWithin(gateway: DesktopGateway, ms: number, logger: LifecycleLogger): Promise<StopResult> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), ms);
    gateway.stop().then(
      () => {
        clearTimeout(timer);
        resolve('stopped');
      },
      (err: unknown) => {
        clearTimeout(timer);
        logger.error({ err }, 'the gateway did not stop cleanly');
        resolve('failed');
      },
    );
  });
}

export function createDesktop(opts: DesktopOptions): Desktop {
  const { app, windows } = opts;
  const logger = opts.logger ?? silentLogger;
  const shutdownTimeoutMs = opts.shutdownTimeoutMs ?? 20_000;
  const statusIntervalMs = opts.statusIntervalMs ?? 5_000;

  let status: DesktopStatus = { state: 'starting' };
  let gw: DesktopGateway | undefined;
  let starting: Promise<DesktopGateway> | undefined;
  let consoleWanted = !opts.startHidden;
  let statusTimer: ReturnType<typeof setInterval> | undefined;
  let exiting: Promise<number> | undefined;

  const publish = (next: DesktopStatus) => {
    status = next;
    opts.onStatus?.(status);
  };

  async function refreshStatus(): Promise<DesktopStatus> {
    if (status.state !== 'running' || !gw) return status;
    const g = gw;
    try {
      const stats = await g.store.stats();
      if (status.state === 'running') publish({ state: 'running', scimUrl: g.scimUrl, outboxPending: stats.outboxPending, outboxDead: stats.outboxDead });
    } catch (err) {
      logger.warn({ err }, 'could not read the gateway status');
      if (status.state === 'running') publish({ ...status, problem: 'status unavailable' });
    }
    return status;
  }

  async function showConsole(): Promise<void> {
    if (windows.reveal()) return;
    if (status.state === 'starting') {
      consoleWanted = true; // opened once the gateway is up
      return;
    }
    if (status.state !== 'running' || !gw) return;
    windows.open(await consoleEntryUrl(gw, logger));
  }

  function quit(reason: string): Promise<number> {
    exiting ??= (async () => {
      logger.info({ reason }, 'quitting: stopping the gateway (draining requests, flushing the store)');
      const previous = status;
      publish({ ...previous, state: 'stopping' });
      if (statusTimer) clearInterval(statusTimer);
      windows.closeAll();
      // A quit during start waits for the gateway to be up, then stops it.
      const g = gw ?? (await starting?.then((started) => started, () => undefined));
      if (!g) return previous.state === 'failed' ? 1 : 0;
      const result = await stopWithin(g, shutdownTimeoutMs, logger);
      if (result === 'timeout') logger.error({ timeoutMs: shutdownTimeoutMs }, 'the gateway did not stop in time; exiting anyway (acknowledged changes are in the journal)');
      else if (result === 'stopped') logger.info({}, 'gateway stopped');
      return result === 'stopped' ? 0 : 1;
    })().then((code) => {
      opts.beforeExit?.(code);
      app.exit(code);
      return code;
    });
    return exiting;
  }

  async function run(): Promise<RunOutcome> {
    if (!app.requestSingleInstanceLock()) {
      // Another instance holds the lock; it receives 'second-instance' and shows its window.
      app.quit();
      return 'secondary';
    }
    // A second launch brings the window back, unless it is another start at login (--hidden).
    app.on('second-instance', (_event, argv) => {
      if (!(Array.isArray(argv) && argv.includes(HIDDEN_ARG))) void showConsole();
    });
    app.on('activate', () => void showConsole()); // macOS: the dock icon clicked
    // Having a listener stops Electron from quitting when the window closes: the gateway keeps
    // running in the tray until the admin chooses Quit.
    app.on('window-all-closed', () => undefined);
    app.on('before-quit', (event: { preventDefault(): void }) => {
      // Hold the quit until the gateway has stopped; quit() ends with app.exit, which does not
      // come back here.
      event.preventDefault();
      void quit('quit requested');
    });
    const signals = opts.signals ?? process;
    signals.on('SIGTERM', () => void quit('SIGTERM'));
    signals.on('SIGINT', () => void quit('SIGINT'));

    await app.whenReady();
    publish({ state: 'starting' });
    const start = opts.startGateway();
    starting = start;
    try {
      gw = await start;
    } catch (err) {
      const failure = describeStartFailure(err, opts.logFile);
      logger.error({ err }, 'the gateway could not start');
      publish({ state: 'failed', problem: failure.message.split('\n')[0] });
      if (!exiting) {
        await opts.showStartFailure(failure);
        await quit('start failed');
      }
      return 'failed';
    }
    if (exiting) return 'primary'; // a quit arrived while starting: quit() stops it
    publish({ state: 'running', scimUrl: gw.scimUrl });
    await refreshStatus();
    statusTimer = setInterval(() => void refreshStatus(), statusIntervalMs);
    statusTimer.unref?.();
    if (consoleWanted) await showConsole();
    return 'primary';
  }

  return { run, showConsole, quit, status: () => status, refreshStatus, gateway: () => gw };
}
