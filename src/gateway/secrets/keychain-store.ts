/**
 * The keychain backend over keytar (an optional native dependency): macOS Keychain, Windows
 * Credential Manager, or a Secret Service (GNOME Keyring, KWallet) on Linux.
 *
 * keytar can misbehave where the session bus is odd: it hangs forever on a bus that accepts but
 * does not answer, and `findCredentials` crashes the process (SIGSEGV, keytar issue #477) when
 * the collection is locked. So the probe and `list()` run in a short-lived child process that
 * is killed on a deadline and whose crash costs only itself; get/set/delete run in-process,
 * each raced against a timeout.
 *
 * The child is keychain-child.cjs. Under `serve` it runs in Node's own binary; in the desktop app
 * the Electron shell hands in a launcher built on Electron's utility process, because the app's
 * runAsNode fuse is off (with it on, any local program could run code as the app and read its
 * keychain items).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { assertAccount, assertSecretValue, isSecretAccount } from './account.js';
import { describeCause, SecretStoreError, type SecretStoreErrorCode } from './errors.js';
import type { SecretBackendSetting, SecretStore, SecretStoreStatus } from './types.js';

/** The part of keytar's API the store uses. */
export interface KeytarApi {
  getPassword(service: string, account: string): Promise<string | null>;
  setPassword(service: string, account: string, password: string): Promise<void>;
  deletePassword(service: string, account: string): Promise<boolean>;
}

/** Outcome of locating keytar: its resolved path, or why it is not there. */
export type KeytarLocation = { ok: true; path: string } | { ok: false; reason: string };

/** Finds keytar without loading it (loading is left to the probe child). */
export function locateKeytar(specifier = 'keytar'): KeytarLocation {
  try {
    return { ok: true, path: createRequire(import.meta.url).resolve(specifier) };
  } catch {
    return {
      ok: false,
      reason: `the optional keychain module "${specifier}" is not installed (its native build needs libsecret-1-dev on Linux; then run "npm rebuild keytar")`,
    };
  }
}

/** Loads keytar into this process (after a successful probe). */
export async function loadKeytar(path: string): Promise<KeytarApi> {
  const mod = (await import(pathToFileURL(path).href)) as { default?: KeytarApi } & Partial<KeytarApi>;
  const api = (mod.default ?? mod) as KeytarApi;
  if (typeof api.getPassword !== 'function' || typeof api.setPassword !== 'function' || typeof api.deletePassword !== 'function') {
    throw new Error(`${path} does not look like keytar`);
  }
  return api;
}

/** What the child reports. */
type ChildReport = { ok: true; accounts?: string[] } | { ok: false; stage: 'load' | 'keychain'; message: string };

/** Outcome of a probe or a child-side list. */
export type KeychainCheck = { ok: true; accounts?: string[] } | { ok: false; reason: string; code: SecretStoreErrorCode };

/** The child's program: a file next to this module (copied to dist by the build). */
export const KEYCHAIN_CHILD_SCRIPT = fileURLToPath(new URL('./keychain-child.cjs', import.meta.url));

/** A started keychain check: its output, a way to kill it, and its end. */
export interface KeychainChild {
  stdout: NodeJS.ReadableStream | null;
  stderr: NodeJS.ReadableStream | null;
  kill(): void;
  /** Once, when the child has ended and its output is read: the exit code, or the signal's name. */
  onClose(listener: (code: number | null, signal: string | null) => void): void;
  /** The child could not be started. */
  onError(listener: (err: Error) => void): void;
}

/** Starts `script` with `args` in a separate process, with piped stdout and stderr. */
export type KeychainChildLauncher = (script: string, args: string[]) => KeychainChild;

/**
 * Node's own binary, or none inside Electron: there process.execPath is the app itself, and
 * without ELECTRON_RUN_AS_NODE (a fuse the desktop app turns off) spawning it starts the app again.
 */
export function defaultKeychainLauncher(versions: Partial<Record<string, string>> = process.versions): KeychainChildLauncher | undefined {
  if (versions.electron) return undefined;
  return (script, args) => {
    const env = { ...process.env };
    delete env.ELECTRON_RUN_AS_NODE;
    const child = spawn(process.execPath, [script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    return {
      stdout: child.stdout,
      stderr: child.stderr,
      kill: () => child.kill('SIGKILL'),
      onClose: (listener) => child.on('close', listener),
      onError: (listener) => child.on('error', listener),
    };
  };
}

const MAX_CHILD_OUTPUT = 4 * 1024 * 1024;

function firstLine(text: string, max = 300): string {
  const line = text.trim().split('\n')[0] ?? '';
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

function probeAccountName(): string {
  // Not a valid account (leading "."), so list() never reports a probe left by a killed child.
  return `.probe-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/** Runs the probe (and for `list` the listing) in a child process killed after `timeoutMs`. */
export function runKeychainChild(keytarPath: string, service: string, command: 'probe' | 'list', timeoutMs: number, launch = defaultKeychainLauncher()): Promise<KeychainCheck> {
  return new Promise((resolvePromise) => {
    if (!launch) {
      resolvePromise({ ok: false, code: 'keychain-unavailable', reason: 'the desktop app did not provide a way to run the keychain check' });
      return;
    }
    let child: KeychainChild;
    try {
      child = launch(KEYCHAIN_CHILD_SCRIPT, [keytarPath, service, command, probeAccountName()]);
    } catch (err) {
      resolvePromise({ ok: false, code: 'keychain-error', reason: `the keychain check could not start: ${(err as Error).message}` });
      return;
    }
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < MAX_CHILD_OUTPUT) stdout += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-4096);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill();
    }, timeoutMs);
    const finish = (check: KeychainCheck): void => {
      clearTimeout(timer);
      resolvePromise(check);
    };
    child.onError((err) => finish({ ok: false, code: 'keychain-error', reason: `the keychain check could not start: ${err.message}` }));
    child.onClose((code, signal) => {
      if (timedOut) {
        finish({ ok: false, code: 'keychain-timeout', reason: `the keychain did not answer within ${timeoutMs} ms (a D-Bus session bus or Secret Service that does not respond?)` });
        return;
      }
      let report: ChildReport | undefined;
      try {
        report = JSON.parse(stdout) as ChildReport;
      } catch {
        report = undefined;
      }
      if (!report) {
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        const detail = firstLine(stderr.replace(/^\(process:\d+\): /gm, ''));
        finish({ ok: false, code: 'keychain-error', reason: `the keychain check ${how}${detail ? ` (${detail})` : ''}; the keychain is probably locked or broken` });
        return;
      }
      if (report.ok) {
        finish(report.accounts ? { ok: true, accounts: report.accounts } : { ok: true });
      } else if (report.stage === 'load') {
        finish({ ok: false, code: 'keychain-unavailable', reason: `the optional keychain module keytar could not be loaded: ${firstLine(report.message)}` });
      } else {
        const locked = /locked/i.test(report.message);
        finish({
          ok: false,
          code: locked ? 'keychain-locked' : 'keychain-unavailable',
          reason: locked ? `the OS keychain is locked: ${firstLine(report.message)}` : `no OS keychain is reachable: ${firstLine(report.message)}`,
        });
      }
    });
  });
}

/** A human name for the platform's keychain. */
export function keychainName(platform: NodeJS.Platform = process.platform): string {
  if (platform === 'darwin') return 'macOS Keychain';
  if (platform === 'win32') return 'Windows Credential Manager';
  return 'Secret Service (GNOME Keyring, KWallet)';
}

/** Options of the keychain store. */
export interface KeychainStoreOptions {
  api: KeytarApi;
  keytarPath: string;
  service: string;
  requested: SecretBackendSetting;
  /** Deadline of each in-process keychain call. */
  opTimeoutMs: number;
  /** Deadline of the child that lists accounts. */
  listTimeoutMs: number;
  /** How that child is started (the desktop app's launcher; Node's binary by default). */
  launchChild?: KeychainChildLauncher;
}

/** The keychain backend's store. */
export class KeychainSecretStore implements SecretStore {
  readonly backend = 'keychain' as const;
  private readonly options: KeychainStoreOptions;
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;

  constructor(options: KeychainStoreOptions) {
    this.options = options;
  }

  describe(): SecretStoreStatus {
    return {
      backend: 'keychain',
      requested: this.options.requested,
      service: this.options.service,
      location: `${keychainName()}, service "${this.options.service}"`,
    };
  }

  async get(account: string): Promise<string | undefined> {
    this.assertOpen();
    assertAccount(account);
    const value = await this.call(`reading ${account}`, () => this.options.api.getPassword(this.options.service, account));
    if (value !== null) return value;
    // A locked Secret Service answers "nothing" to reads: make sure this is a real absence.
    await this.assertWritable();
    return undefined;
  }

  async has(account: string): Promise<boolean> {
    return (await this.get(account)) !== undefined;
  }

  async set(account: string, value: string): Promise<void> {
    this.assertOpen();
    assertAccount(account);
    assertSecretValue(account, value);
    await this.call(`saving ${account}`, () => this.options.api.setPassword(this.options.service, account, value), value);
  }

  async delete(account: string): Promise<boolean> {
    this.assertOpen();
    assertAccount(account);
    return this.call(`deleting ${account}`, () => this.options.api.deletePassword(this.options.service, account));
  }

  async list(): Promise<string[]> {
    this.assertOpen();
    const check = await this.track(runKeychainChild(this.options.keytarPath, this.options.service, 'list', this.options.listTimeoutMs, this.options.launchChild ?? defaultKeychainLauncher()));
    if (!check.ok) throw new SecretStoreError(check.code, `Cannot list the secrets in the keychain: ${check.reason}.`);
    return [...new Set((check.accounts ?? []).filter(isSecretAccount))].sort();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('The secret store is closed.');
  }

  /** Store, read back and delete a probe value: fails on a locked or read-only keychain. */
  private async assertWritable(): Promise<void> {
    const { api, service } = this.options;
    const probe = probeAccountName();
    const nonce = randomBytes(16).toString('hex');
    await this.call('checking the keychain', () => api.setPassword(service, probe, nonce));
    const back = await this.call('checking the keychain', () => api.getPassword(service, probe));
    await this.call('checking the keychain', () => api.deletePassword(service, probe));
    if (back !== nonce) throw new SecretStoreError('keychain-error', 'The keychain did not return the value just stored in it.');
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    p.finally(() => this.inFlight.delete(p)).catch(() => undefined);
    return p;
  }

  /** Runs a keychain call against the deadline; errors name the action, never the value. */
  private call<T>(what: string, fn: () => Promise<T>, value?: string): Promise<T> {
    const { opTimeoutMs } = this.options;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SecretStoreError('keychain-timeout', `The keychain did not answer within ${opTimeoutMs} ms while ${what}.`)), opTimeoutMs);
    });
    const work = Promise.resolve()
      .then(fn)
      .catch((err: unknown) => {
        const message = describeCause(err, value);
        const code: SecretStoreErrorCode = /locked/i.test(message) ? 'keychain-locked' : 'keychain-error';
        throw new SecretStoreError(code, `The keychain failed while ${what}: ${message}`);
      });
    return this.track(Promise.race([work, deadline]).finally(() => clearTimeout(timer)));
  }
}
