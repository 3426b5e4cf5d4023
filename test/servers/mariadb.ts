/**
 * A private MariaDB server for tests: mariadb-install-db into a fresh temp dir, mariadbd on
 * 127.0.0.1 on a free port with its socket in the temp dir, a user with a password and a
 * database of its own.
 *
 *   const db = await startMariadb();              // { url, host, port, user, password, database }
 *   await db.admin('CREATE TABLE t (id int)');    // as root, over the Unix socket
 *   await db.stop(); await db.start();            // target down / back (data kept)
 *   await db.kill();                              // SIGKILL: a crash; start() recovers
 *   await db.close();                             // always, in afterAll: stops it, removes the dir
 *
 * `--no-defaults` keeps the machine's /etc/mysql configuration out. The user is created for
 * `%` and `localhost` with a password (mysql_native_password), so a wrong password really fails.
 * Durability is relaxed (innodb_flush_log_at_trx_commit=2: a killed server keeps what it
 * committed, a machine crash might not). A process exit hook kills the server if a run dies
 * before `close()`.
 */
import { freePort, logTail, sleep } from './common.js';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';

const run = promisify(execFile);

export interface MariadbServerOptions {
  /** Default `app`. */
  database?: string;
  /** Default `scim`. */
  user?: string;
  /** Default: random. */
  password?: string;
  /** Extra mariadbd options, e.g. `['--max-connections=20']`. */
  args?: string[];
}

export interface MariadbServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** `mysql://user:password@127.0.0.1:port/database` (password URL-encoded). */
  readonly url: string;
  /** The Unix socket (root connects there without a password). */
  readonly socket: string;
  readonly dir: string;
  readonly running: boolean;
  /** Runs one statement as root over the socket; `database` defaults to the server's. */
  admin<R = Record<string, unknown>>(sql: string, params?: unknown[], database?: string): Promise<R[]>;
  /** Creates another database and grants it to `user`. */
  createDatabase(name: string): Promise<void>;
  /** Clean shutdown (SIGTERM, waits for exit); the data stays. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
  /** Kills the server and removes the temp dir. Safe to call twice. */
  close(): Promise<void>;
}



const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Starts a private MariaDB; see the file comment. */
export async function startMariadb(options: MariadbServerOptions = {}): Promise<MariadbServer> {
  const database = options.database ?? 'app';
  const user = options.user ?? 'scim';
  const password = options.password ?? randomBytes(12).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'scim-mariadb-'));
  const dataDir = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  const errorLog = join(dir, 'error.log');
  let port = 0;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let closed = false;

  const killNow = (): void => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const onExit = (): void => {
    killNow();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  const tail = (): string => logTail(errorLog, 15, '(no error log)');

  const rootConnection = () => mysql.createConnection({ socketPath: socket, user: 'root', password: '', multipleStatements: false });

  const startServer = async (): Promise<void> => {
    const args = [
      '--no-defaults',
      ...(isRoot ? ['--user=root'] : []),
      `--datadir=${dataDir}`,
      `--socket=${socket}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--pid-file=${join(dir, 'mysqld.pid')}`,
      `--log-error=${errorLog}`,
      `--tmpdir=${dir}`,
      '--skip-name-resolve',
      // Debian's /etc/mysql sets utf8mb4; --no-defaults would otherwise fall back to latin1.
      '--character-set-server=utf8mb4',
      '--collation-server=utf8mb4_general_ci',
      '--skip-log-bin',
      '--innodb-buffer-pool-size=32M',
      '--innodb-log-file-size=16M',
      '--innodb-flush-log-at-trx-commit=2',
      '--max-connections=60',
      ...(options.args ?? []),
    ];
    const proc = spawn('mariadbd', args, { stdio: 'ignore' });
    child = proc;
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    proc.once('error', () => undefined);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`mariadbd exited while starting on 127.0.0.1:${port}\n${tail()}`);
      }
      try {
        const c = await rootConnection();
        await c.end();
        return;
      } catch {
        if (Date.now() > deadline) {
          killNow();
          throw new Error(`mariadbd did not accept connections on ${socket} within 30 s\n${tail()}`);
        }
        await sleep(100);
      }
    }
  };

  const admin = async <R>(sql: string, params: unknown[] = [], db = database): Promise<R[]> => {
    const c = await rootConnection();
    try {
      await c.query(`USE \`${db.replace(/`/g, '``')}\``);
      const [rows] = await c.query(sql, params);
      return (Array.isArray(rows) ? rows : []) as R[];
    } finally {
      await c.end();
    }
  };

  try {
    await run(
      'mariadb-install-db',
      ['--no-defaults', ...(isRoot ? ['--user=root'] : []), `--datadir=${dataDir}`, '--auth-root-authentication-method=normal', '--skip-test-db'],
      { timeout: 60_000 },
    );
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await startServer();
        break;
      } catch (err) {
        if (attempt >= 3 || !/Address already in use|Can't start server/i.test((err as Error).message)) throw err;
      }
    }
    const c = await rootConnection();
    try {
      await c.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4`);
      for (const host of ['%', 'localhost']) {
        await c.query('CREATE USER ?@? IDENTIFIED BY ?', [user, host, password]);
        await c.query(`GRANT ALL ON \`${database}\`.* TO ?@?`, [user, host]);
      }
    } finally {
      await c.end();
    }
  } catch (err) {
    onExit();
    process.removeListener('exit', onExit);
    throw err;
  }

  const running = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null;

  return {
    host: '127.0.0.1',
    get port() {
      return port;
    },
    user,
    password,
    database,
    get url() {
      return `mysql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
    },
    socket,
    dir,
    get running() {
      return running();
    },
    admin,
    async createDatabase(name) {
      await admin(`CREATE DATABASE \`${name.replace(/`/g, '``')}\``, [], 'mysql');
      for (const host of ['%', 'localhost']) await admin(`GRANT ALL ON \`${name.replace(/`/g, '``')}\`.* TO ?@?`, [user, host], 'mysql');
    },
    async stop() {
      if (!running()) return;
      child!.kill('SIGTERM');
      const timer = setTimeout(killNow, 20_000);
      await exited;
      clearTimeout(timer);
    },
    async start() {
      if (running()) return;
      await startServer();
    },
    async kill() {
      if (!running()) return;
      killNow();
      await exited;
    },
    async close() {
      if (closed) return;
      closed = true;
      killNow();
      await exited;
      process.removeListener('exit', onExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
