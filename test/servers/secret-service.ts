/**
 * A real Secret Service for tests: a private D-Bus session bus (dbus-daemon) in a temp dir and
 * gnome-keyring-daemon on it, its login keyring created and unlocked with a password given on
 * stdin. Nothing touches the user's own bus or keyrings: the bus has its own socket, no service
 * activation (so no stray keyring daemon is ever started behind our back), and the keyring
 * daemon's HOME and XDG dirs are inside the temp dir. Both processes are stopped by `stop()`,
 * and killed when the test process exits should a test forget.
 *
 * Debian packages: dbus-x11 (dbus-daemon, dbus-send), gnome-keyring; keytar's build needs
 * libsecret-1-dev.
 */
import { sleep } from './common.js';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DBUS_DAEMON = 'dbus-daemon';
const DBUS_SEND = 'dbus-send';
const KEYRING_DAEMON = 'gnome-keyring-daemon';
const SECRETS_NAME = 'org.freedesktop.secrets';
const LOGIN_COLLECTION = '/org/freedesktop/secrets/collection/login';

/** A private session bus. */
export interface SessionBus {
  dir: string;
  /** The value for DBUS_SESSION_BUS_ADDRESS. */
  address: string;
  stop(): Promise<void>;
}

/** A private bus with gnome-keyring-daemon serving the Secret Service API on it. */
export interface SecretService extends SessionBus {
  /** Locks the login collection over D-Bus (as a screen lock or `secret-tool lock` would). */
  lock(): Promise<void>;
  /** Whether the login collection is locked now. */
  isLocked(): Promise<boolean>;
}

export interface SecretServiceOptions {
  /** Create and unlock the login keyring with a password on stdin; default true. */
  unlock?: boolean;
  /** Deadline for each start-up step; default 10 s. */
  startTimeoutMs?: number;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Why a Secret Service cannot be started here, or undefined when it can. */
export function secretServiceUnavailableReason(): string | undefined {
  for (const bin of [DBUS_DAEMON, DBUS_SEND, KEYRING_DAEMON]) {
    const found = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
    if (found.status !== 0) return `${bin} is not installed (Debian: apt-get install dbus-x11 gnome-keyring)`;
  }
  return undefined;
}

function busConfig(socket: string): string {
  // Like /usr/share/dbus-1/session.conf, minus service directories: no auto-activation.
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`;
}


async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    running.delete(child);
    return;
  }
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const killed = await Promise.race([exited.then(() => true), sleep(3_000).then(() => false)]);
  if (!killed) {
    child.kill('SIGKILL');
    await Promise.race([exited, sleep(2_000)]);
  }
  running.delete(child);
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-5).join(' | ');
}

/** Runs dbus-send on `address` with a deadline; resolves to its stdout. */
function dbusSend(address: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      DBUS_SEND,
      ['--session', '--print-reply', ...args],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', DBUS_SESSION_BUS_ADDRESS: address }, timeout: 3_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`dbus-send ${args.slice(1, 3).join(' ')} failed: ${stderr || err.message}`)) : resolve(stdout)),
    );
  });
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>, diagnostics: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}; ${diagnostics()}`);
}

/** Starts a private session bus in a new temp dir (without a Secret Service on it). */
export async function startSessionBus(options: { startTimeoutMs?: number } = {}): Promise<SessionBus> {
  const timeoutMs = options.startTimeoutMs ?? 10_000;
  const dir = await mkdtemp(join(tmpdir(), 'secret-service-'));
  const socket = join(dir, 'bus');
  await writeFile(join(dir, 'bus.conf'), busConfig(socket));
  const daemon = spawn(DBUS_DAEMON, ['--config-file', join(dir, 'bus.conf'), '--nofork', '--print-address=1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(daemon);
  let out = '';
  let err = '';
  daemon.on('error', (e) => (err += `\n${e.message}`));
  daemon.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  daemon.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4096)));
  const stop = async (): Promise<void> => {
    await stopProcess(daemon);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      'dbus-daemon to print its address',
      timeoutMs,
      async () => {
        if (daemon.exitCode !== null) throw new Error(`dbus-daemon exited with ${daemon.exitCode}`);
        return out.includes('\n');
      },
      () => `dbus-daemon stderr: ${tail(err)}`,
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return { dir, address: out.split('\n')[0].trim(), stop };
}

/**
 * Starts a bus and gnome-keyring-daemon with the secrets component. With `unlock` (default) the
 * login keyring is created and unlocked from a password on stdin, so libsecret can store items
 * without any prompt; without it, the keyring stays locked (a desktop session nobody unlocked).
 */
export async function startSecretService(options: SecretServiceOptions = {}): Promise<SecretService> {
  const timeoutMs = options.startTimeoutMs ?? 10_000;
  const unlock = options.unlock ?? true;
  const bus = await startSessionBus({ startTimeoutMs: timeoutMs });
  const home = join(bus.dir, 'home');
  const runtime = join(bus.dir, 'run');
  await mkdir(join(home, 'data'), { recursive: true });
  await mkdir(runtime, { recursive: true });
  await chmod(runtime, 0o700);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    LANG: 'C.UTF-8',
    HOME: home,
    XDG_DATA_HOME: join(home, 'data'),
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_CACHE_HOME: join(home, 'cache'),
    XDG_RUNTIME_DIR: runtime,
    DBUS_SESSION_BUS_ADDRESS: bus.address,
  };
  const args = ['--foreground', '--components=secrets', ...(unlock ? ['--unlock'] : [])];
  const keyring = spawn(KEYRING_DAEMON, args, { env, stdio: [unlock ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  running.add(keyring);
  let log = '';
  const collect = (d: string): void => void (log = (log + d).slice(-4096));
  keyring.on('error', (e) => collect(`\n${e.message}`));
  keyring.stdout!.setEncoding('utf8').on('data', collect);
  keyring.stderr!.setEncoding('utf8').on('data', collect);
  keyring.stdin?.on('error', () => undefined); // EPIPE when the daemon dies at once: reported below
  if (unlock) keyring.stdin!.end('test-keyring-password'); // read to EOF, like `printf pw | ...`

  const stop = async (): Promise<void> => {
    await stopProcess(keyring);
    await bus.stop();
  };
  const isLocked = async (): Promise<boolean> => {
    const reply = await dbusSend(bus.address, [
      `--dest=${SECRETS_NAME}`,
      LOGIN_COLLECTION,
      'org.freedesktop.DBus.Properties.Get',
      'string:org.freedesktop.Secret.Collection',
      'string:Locked',
    ]);
    return /boolean true/.test(reply);
  };
  try {
    const diagnostics = (): string => `gnome-keyring-daemon output: ${tail(log)}`;
    await waitFor(
      `${SECRETS_NAME} on the bus`,
      timeoutMs,
      async () => {
        if (keyring.exitCode !== null) throw new Error(`gnome-keyring-daemon exited with ${keyring.exitCode}`);
        const reply = await dbusSend(bus.address, ['--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.NameHasOwner', `string:${SECRETS_NAME}`]);
        return /boolean true/.test(reply);
      },
      diagnostics,
    );
    if (unlock) await waitFor('the login keyring to be unlocked', timeoutMs, async () => !(await isLocked()), diagnostics);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    dir: bus.dir,
    address: bus.address,
    stop,
    isLocked,
    lock: async () => {
      await dbusSend(bus.address, [`--dest=${SECRETS_NAME}`, '/org/freedesktop/secrets', 'org.freedesktop.Secret.Service.Lock', `array:objpath:${LOGIN_COLLECTION}`]);
    },
  };
}
