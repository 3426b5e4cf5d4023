/**
 * A private PostgreSQL server for tests: initdb into a fresh temp dir, listening on 127.0.0.1 on a
 * free port, with a password-authenticated role and a database of its own.
 *
 *   const pg = await startPostgres();            // { url, host, port, user, password, database }
 *   await pg.admin('CREATE TABLE t (id int)');    // as the superuser, over the server's Unix socket
 *   await pg.stop(); await pg.start();            // target down / back (data kept)
 *   await pg.kill();                              // SIGKILL the postmaster and its backends (a crash)
 *   await pg.close();                             // always, in afterAll: stops it and removes the dir
 *
 * PostgreSQL refuses to run as root, so when the tests run as root (as here and in CI) initdb and
 * pg_ctl run as the `postgres` OS user (`runuser`) and the temp dir is chowned to it. TCP
 * connections need the role's password (scram-sha-256 in pg_hba.conf), so a wrong password really
 * fails; the superuser `postgres` is trusted on the Unix socket only, which lives in the temp dir.
 * fsync is off by default (throw-away data): a killed server keeps what it committed, a machine
 * crash would not; pass `settings: { fsync: 'on' }` when a test needs real durability.
 * `tls: { certPem, keyPem }` turns TLS on (plain TCP still accepted), for tests of CA checks.
 * `startStandby(primary)` adds a streaming standby (pg_basebackup over the primary's socket) that
 * `promote()` turns into a primary: a failover on one machine.
 * A process exit hook stops the server if a test run dies before `close()`.
 */
import { freePort, logTail, sleep } from './common.js';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** Re-exported: other harnesses and tests import it from here. */
export { freePort } from './common.js';

export interface PostgresServerOptions {
  /** Database owned by `user`; default `app`. */
  database?: string;
  /** Login role with a password; default `scim`. */
  user?: string;
  /** Default: random. */
  password?: string;
  /** Extra postgresql.conf settings (`name: value`, value written verbatim, quote strings yourself). */
  settings?: Record<string, string>;
  /** Turns TLS on with this certificate and key (PEM); plain connections keep working. */
  tls?: { certPem: string; keyPem: string };
}

export interface PostgresServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** `postgres://user:password@127.0.0.1:port/database` (password URL-encoded). */
  readonly url: string;
  /** Directory holding the data dir, the socket and the log. */
  readonly dir: string;
  /** Whether the server is up (as far as this harness knows). */
  readonly running: boolean;
  /** Runs one statement as the superuser over the Unix socket; `database` defaults to the server's. */
  admin<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[], database?: string): Promise<R[]>;
  /** Creates another database owned by `user`; returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Clean shutdown (`pg_ctl stop -m fast`); the data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** SIGKILL the postmaster and every backend: a crash. `start()` then recovers. */
  kill(): Promise<void>;
  /** SIGSTOP the postmaster and every backend: a hung server (connections open, nothing answers). */
  freeze(): Promise<void>;
  /** SIGCONT what freeze() stopped. */
  thaw(): Promise<void>;
  /** Immediate shutdown and removal of the temp dir. Safe to call twice. */
  close(): Promise<void>;
}

/** Finds the binaries: $PG_BIN, else the newest /usr/lib/postgresql/<version>/bin. */
function binDir(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error('PostgreSQL binaries not found: install the postgresql package or set PG_BIN');
  return join(root, versions[0], 'bin');
}


const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Runs a PostgreSQL binary as the `postgres` OS user when we are root (PostgreSQL refuses root). */
function asPostgres(bin: string, args: string[]): [string, string[]] {
  return isRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
}

async function pgExec(bin: string, args: string[], timeoutMs = 60_000): Promise<void> {
  const [cmd, argv] = asPostgres(bin, args);
  await run(cmd, argv, { timeout: timeoutMs });
}


/** Whether a process still runs (a zombie waiting for its re-parented reaper counts as gone). */
function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Direct children of a process, from /proc (no `ps` needed). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 is the ppid; the command name (field 2) may contain spaces, so split after ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // The process went away while we looked.
    }
  }
  return out;
}

/** Starts a private PostgreSQL; see the file comment. */
export async function startPostgres(options: PostgresServerOptions = {}): Promise<PostgresServer> {
  const st = prepareDir(options.database ?? 'app', options.user ?? 'scim', options.password ?? randomBytes(12).toString('hex'));
  const { dir, dataDir } = st;
  try {
    await pgExec(join(st.bin, 'initdb'), ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '-N', '-E', 'UTF8', '--locale=C']);
    writeFileSync(
      join(dataDir, 'pg_hba.conf'),
      // replication over the socket: startStandby's pg_basebackup and the standby's WAL stream
      ['local all all trust', 'local replication all trust', 'host all all 127.0.0.1/32 scram-sha-256', ''].join('\n'),
    );
    if (options.tls) {
      // PostgreSQL wants its key owned by its own user and unreadable by others.
      writeFileSync(join(dataDir, 'server.crt'), options.tls.certPem);
      writeFileSync(join(dataDir, 'server.key'), options.tls.keyPem, { mode: 0o600 });
      if (isRoot) {
        const { uid, gid } = postgresIds();
        for (const f of ['server.crt', 'server.key']) chownSync(join(dataDir, f), uid, gid);
      }
    }
    const settings: Record<string, string> = {
      ...(options.tls ? { ssl: 'on', ssl_cert_file: "'server.crt'", ssl_key_file: "'server.key'" } : {}),
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: `'${dir}'`,
      password_encryption: "'scram-sha-256'",
      // Committed data survives a killed server (the WAL reaches the OS), not a machine crash.
      fsync: 'off',
      full_page_writes: 'off',
      max_connections: '50',
      shared_buffers: '32MB',
      ...options.settings,
    };
    await startOnFreePort(st, settings);
    const admin0 = new pg.Client({ host: dir, port: st.port, user: 'postgres', database: 'postgres' });
    await admin0.connect();
    try {
      await admin0.query(`CREATE ROLE ${admin0.escapeIdentifier(st.user)} LOGIN PASSWORD ${admin0.escapeLiteral(st.password)}`);
      await admin0.query(`CREATE DATABASE ${admin0.escapeIdentifier(st.database)} OWNER ${admin0.escapeIdentifier(st.user)}`);
    } finally {
      await admin0.end();
    }
  } catch (err) {
    st.emergencyStop();
    process.removeListener('exit', st.emergencyStop);
    throw err;
  }
  return serverHandle(st);
}

/**
 * A streaming standby of `primary` (same role, password and databases), read-only until promoted.
 * With `synchronous: true` the primary waits for it on every commit (an acknowledged write is on
 * both), as docs/scaling.md asks of a failover setup.
 */
export async function startStandby(primary: PostgresServer, options: { synchronous?: boolean } = {}): Promise<PostgresServer & { promote(): Promise<void> }> {
  const st = prepareDir(primary.database, primary.user, primary.password);
  try {
    await pgExec(join(st.bin, 'pg_basebackup'), ['-h', primary.dir, '-p', String(primary.port), '-U', 'postgres', '-D', st.dataDir, '-R', '-X', 'stream', '-c', 'fast']);
    if (options.synchronous) {
      await primary.admin("ALTER SYSTEM SET synchronous_standby_names = '*'");
      await primary.admin('SELECT pg_reload_conf()');
    }
    await startOnFreePort(st, { unix_socket_directories: `'${st.dir}'`, synchronous_standby_names: "''" });
    if (options.synchronous) {
      // wait until the primary sees it as its synchronous standby
      for (let i = 0; i < 400; i++) {
        const rows = await primary.admin<{ n: string }>("SELECT count(*)::text AS n FROM pg_stat_replication WHERE sync_state = 'sync'");
        if (rows[0].n === '1') break;
        await sleep(50);
      }
    }
  } catch (err) {
    st.emergencyStop();
    process.removeListener('exit', st.emergencyStop);
    throw err;
  }
  const handle = serverHandle(st);
  return Object.assign(handle, {
    async promote() {
      await pgExec(join(st.bin, 'pg_ctl'), ['-D', st.dataDir, 'promote', '-w', '-t', '30']);
    },
  });
}

interface HandleState {
  bin: string;
  dir: string;
  dataDir: string;
  logFile: string;
  port: number;
  user: string;
  password: string;
  database: string;
  running: boolean;
  emergencyStop(): void;
}

/** A fresh temp dir owned by the postgres OS user, and the exit hook that removes it. */
function prepareDir(database: string, user: string, password: string): HandleState {
  const dir = mkdtempSync(join(tmpdir(), 'scim-pg-'));
  if (isRoot) {
    const { uid, gid } = postgresIds();
    chownSync(dir, uid, gid);
  }
  const st: HandleState = {
    bin: binDir(),
    dir,
    dataDir: join(dir, 'data'),
    logFile: join(dir, 'server.log'),
    port: 0,
    user,
    password,
    database,
    running: false,
    emergencyStop: () => {
      try {
        const [cmd, argv] = asPostgres(join(st.bin, 'pg_ctl'), ['-D', st.dataDir, 'stop', '-m', 'immediate', '-w', '-t', '10']);
        if (st.running) execFileSync(cmd, argv, { stdio: 'ignore', timeout: 15_000 });
      } catch {
        // Nothing more we can do while the process exits.
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  process.once('exit', st.emergencyStop);
  return st;
}

async function startServer(st: HandleState): Promise<void> {
  try {
    await pgExec(join(st.bin, 'pg_ctl'), ['-D', st.dataDir, 'start', '-w', '-t', '30', '-l', st.logFile]);
  } catch (err) {
    throw new Error(`PostgreSQL did not start on 127.0.0.1:${st.port}: ${(err as Error).message}\n${logTail(st.logFile)}`);
  }
  st.running = true;
}

/** Appends the settings and a free port to postgresql.conf and starts; up to three ports (another process may take one first). */
async function startOnFreePort(st: HandleState, settings: Record<string, string>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    st.port = await freePort();
    appendFileSync(join(st.dataDir, 'postgresql.conf'), `\n${Object.entries({ ...settings, port: String(st.port) }).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`);
    try {
      await startServer(st);
      return;
    } catch (err) {
      if (attempt >= 3 || !/could not bind|Address already in use/i.test((err as Error).message)) throw err;
    }
  }
}

/** Signals the postmaster and its children (children first: once the postmaster dies they are re-parented). */
function signalServer(dataDir: string, signal: NodeJS.Signals): number[] {
  const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const victims = [...childrenOf(pid), pid];
  for (const p of victims) {
    try {
      process.kill(p, signal);
    } catch {
      // Already gone.
    }
  }
  return victims;
}

/** The control surface of a running server (a primary or a standby). */
function serverHandle(st: HandleState): PostgresServer {
  const { dir, dataDir, user, password, database, emergencyStop } = st;
  const port = st.port;
  let closed = false;
  let frozen = false;
  const ctl = (args: string[], timeoutMs?: number) => pgExec(join(st.bin, 'pg_ctl'), ['-D', dataDir, ...args], timeoutMs);
  const admin = async <R extends Record<string, unknown>>(sql: string, params: unknown[] = [], db = database): Promise<R[]> => {
    const client = new pg.Client({ host: dir, port, user: 'postgres', database: db });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as R[];
    } finally {
      await client.end();
    }
  };

  const urlFor = (db: string): string => `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(db)}`;

  return {
    host: '127.0.0.1',
    get port() {
      return port;
    },
    user,
    password,
    database,
    get url() {
      return urlFor(database);
    },
    dir,
    get running() {
      return st.running;
    },
    admin,
    async createDatabase(name) {
      const client = new pg.Client({ host: dir, port, user: 'postgres', database: 'postgres' });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)} OWNER ${client.escapeIdentifier(user)}`);
      } finally {
        await client.end();
      }
      return urlFor(name);
    },
    async stop() {
      if (!st.running) return;
      await ctl(['stop', '-m', 'fast', '-w', '-t', '30']);
      st.running = false;
    },
    async start() {
      if (st.running) return;
      await startServer(st);
    },
    async kill() {
      if (!st.running) return;
      const victims = signalServer(dataDir, 'SIGKILL');
      for (let i = 0; i < 200 && victims.some(pidAlive); i++) await sleep(25);
      // A killed postmaster may linger as a zombie until init reaps it, and PostgreSQL refuses to
      // start while the PID in its lock files exists: remove the stale locks, as an admin would.
      for (const stale of [join(dataDir, 'postmaster.pid'), join(dir, `.s.PGSQL.${port}.lock`), join(dir, `.s.PGSQL.${port}`)]) {
        rmSync(stale, { force: true });
      }
      st.running = false;
    },
    async freeze() {
      if (!st.running || frozen) return;
      signalServer(dataDir, 'SIGSTOP');
      frozen = true;
    },
    async thaw() {
      if (!frozen) return;
      signalServer(dataDir, 'SIGCONT');
      frozen = false;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (frozen) signalServer(dataDir, 'SIGCONT');
      try {
        if (st.running) await ctl(['stop', '-m', 'immediate', '-w', '-t', '30']);
      } catch {
        // Fall through to the exit hook's last attempt.
        emergencyStop();
      } finally {
        st.running = false;
        process.removeListener('exit', emergencyStop);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

function postgresIds(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('no "postgres" OS user: install the postgresql package (it creates one)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
