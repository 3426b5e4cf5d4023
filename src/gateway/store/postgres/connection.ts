/**
 * Connecting to PostgreSQL: the pools, the password's sources, the bounds on every wait, failover
 * between several hosts, and the one rule for messages: a database URL is only ever shown with its
 * password replaced (redactUrl).
 *
 * node-postgres takes one host per pool and leaves an error on a checked-out connection unhandled
 * (it crashes the process). `Database` adds what an instance of a shared gateway needs on top:
 * an error listener on every connection, a connect and statement timeout so a hung server gives a
 * 503 instead of a hung request, and libpq's multi-host URLs (`postgres://u@h1:5432,h2:5432/db
 * ?target_session_attrs=read-write`): a connection goes to the first host that answers and, with
 * read-write, is not a standby. See docs/decisions/0015-postgres-failover.md.
 */
import pg from 'pg';

/** Where the database password may come from, besides the URL itself and PGPASSWORD. */
export type PasswordSource = () => Promise<string | undefined>;

export interface DatabaseOptions {
  /** postgres://user[:password]@host:port[,host2:port2...]/database[?sslmode=...&target_session_attrs=read-write] */
  url: string;
  /** Asked when neither the URL nor PGPASSWORD holds a password (the secret store's `store:databasePassword`). */
  password?: PasswordSource;
  /** Connections of this pool; default 10. */
  max?: number;
  /** Name in pg_stat_activity. */
  applicationName?: string;
  /**
   * Send a statement before the previous one's answer is back, when the caller does so (a
   * commit's independent statements): one round trip for several. Off by default.
   */
  pipeline?: boolean;
  /** Short reads (`query(..., { shared: true })`) share this many pipelined connections of the pool (default 0: none). */
  sharedReaders?: number;
  /**
   * Longest wait for one statement, ms (default 10 s); a connection attempt waits at most half of
   * it per host. Past it the caller gets DatabaseUnavailableError (a 503 for a SCIM request).
   * 0: statements are not bounded (a migration or a backup), connection attempts wait 10 s.
   */
  timeoutMs?: number;
  logger?: { warn(o: object, msg?: string): void; info?(o: object, msg?: string): void };
}

export type TargetSessionAttrs = 'any' | 'read-write' | 'primary';

export interface ParsedDatabaseUrl {
  /** Every host:port of the URL, in order. */
  hosts: Array<{ host: string; port: number }>;
  /** The URL with the first host only (what node-postgres parses); other hosts are swapped in. */
  base: URL;
  targetSessionAttrs: TargetSessionAttrs;
}

/** The URL with its password replaced by `***`: safe for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const { base, hosts } = parseDatabaseUrl(url);
    const u = new URL(base.toString());
    if (u.password) u.password = '***';
    for (const key of [...u.searchParams.keys()]) if (/pass|secret|key/i.test(key)) u.searchParams.set(key, '***');
    if (hosts.length === 1) return u.toString();
    // put the host list back where the parse took the first host
    const all = hosts.map((h) => `${h.host}:${h.port}`).join(',');
    return u.toString().replace(`@${u.host}`, `@${all}`).replace(`//${u.host}`, `//${all}`);
  } catch {
    // Not a URL we can parse: drop anything between "://user:" and "@".
    return url.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
  }
}

/** Removes every occurrence of the password from a message (drivers sometimes echo parts of the URL). */
export function redactMessage(message: string, url: string): string {
  let out = message;
  try {
    const password = decodeURIComponent(parseDatabaseUrl(url).base.password);
    if (password.length >= 3) out = out.split(password).join('***');
  } catch {
    /* not a URL: nothing known to redact */
  }
  return out.split(url).join(redactUrl(url));
}

/**
 * Splits a libpq-style URL whose authority may list several hosts (`h1:5432,h2:5433`), which the
 * WHATWG URL parser refuses. The error never contains the password.
 */
export function parseDatabaseUrl(url: string): ParsedDatabaseUrl {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  if (!scheme) throw new Error(`databaseUrl is not a URL (${redactLoose(url)}); expected postgres://user@host:5432/database`);
  if (!['postgres', 'postgresql'].includes(scheme[1].toLowerCase())) {
    throw new Error(`databaseUrl must start with postgres:// or postgresql:// (got ${scheme[1]}://…)`);
  }
  const rest = url.slice(scheme[0].length);
  const slash = rest.search(/[/?#]/);
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const tail = slash === -1 ? '' : rest.slice(slash);
  const at = authority.lastIndexOf('@');
  const userinfo = at === -1 ? '' : authority.slice(0, at + 1);
  const hostList = authority.slice(at + 1);
  const hosts: Array<{ host: string; port: number }> = [];
  for (const part of hostList.split(',')) {
    const m = /^(\[[^\]]+\]|[^:]*)(?::(\d+))?$/.exec(part);
    if (!m || m[1] === '') throw new Error(`databaseUrl has an invalid host list "${hostList}"; expected host:port[,host:port...]`);
    hosts.push({ host: m[1], port: m[2] ? Number(m[2]) : 5432 });
  }
  let base: URL;
  try {
    base = new URL(`postgres://${userinfo}${hosts[0].host}:${hosts[0].port}${tail}`);
  } catch {
    throw new Error(`databaseUrl is not a URL (${redactLoose(url)}); expected postgres://user@host:5432/database`);
  }
  const attrs = (base.searchParams.get('target_session_attrs') ?? 'any').toLowerCase();
  if (attrs !== 'any' && attrs !== 'read-write' && attrs !== 'primary') {
    throw new Error(`databaseUrl: target_session_attrs "${attrs}" is not supported; use read-write (or primary, or any)`);
  }
  // libpq's keyword, not a server setting: node-postgres must not see it
  base.searchParams.delete('target_session_attrs');
  return { hosts, base, targetSessionAttrs: attrs };
}

function redactLoose(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
}

/** Validates the URL; the error never contains the password. */
export function checkDatabaseUrl(url: string): ParsedDatabaseUrl {
  return parseDatabaseUrl(url);
}

/**
 * The database could not be used: unreachable, shut down, hung past the timeout, out of
 * connections or disk, or a standby. Nothing was committed, unless `committing` (the answer to
 * COMMIT was lost: the outcome is unknown).
 */
export class DatabaseUnavailableError extends Error {
  constructor(
    message: string,
    readonly committing = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DatabaseUnavailableError';
  }
}

/** A server that refuses writes (a standby) where read-write was asked for. */
class ReadOnlyServerError extends Error {
  readonly code = 'READ_ONLY_SERVER';
}

function pgCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

const NODE_NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'READ_ONLY_SERVER']);
const LOST_MESSAGES = /Connection terminated|Query read timeout|timeout exceeded when trying to connect|not queryable|Client was closed|Connection ended unexpectedly/i;

/** The connection is gone or in an unknown state (it must be destroyed, not reused). */
export function isConnectionLost(err: unknown): boolean {
  const code = pgCode(err);
  if (code !== undefined && (/^(08|57P0)/.test(code) || NODE_NETWORK_CODES.has(code) || code === '25006')) return true;
  return err instanceof Error && LOST_MESSAGES.test(err.message);
}

/**
 * The database cannot serve the request now, through no fault of the request: a lost connection,
 * a statement cancelled by the timeout (57014), too many connections or a full disk (53xxx).
 */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true;
  const code = pgCode(err);
  return isConnectionLost(err) || code === '57014' || (code !== undefined && code.startsWith('53'));
}

/** The SASL error node-postgres gives when the server asks for a password and none was configured. */
function isMissingPassword(err: unknown): boolean {
  return err instanceof Error && /client password must be a string/i.test(err.message);
}

const MISSING_PASSWORD =
  'The database asks for a password and none is configured: put it in databaseUrl, set PGPASSWORD, or store it with `printf %s "$DB_PASSWORD" | scim-bridge secrets set store databasePassword` (on every instance)';

/** Shared between a Database and its forks: which host connections go to now. */
interface HostState {
  current: number;
}

/** A database over one or several hosts; see the file comment. */
export class Database {
  private readonly pools = new Map<number, pg.Pool>();
  private readonly forks: Database[] = [];
  private ended = false;

  private constructor(
    private readonly parsed: ParsedDatabaseUrl,
    /** The URL as configured, for redaction. */
    readonly url: string,
    private readonly password: string | undefined,
    private readonly options: DatabaseOptions,
    private readonly hostState: HostState,
    private readonly parent?: Database,
  ) {}

  /** Parses the URL and asks the password source once; connects lazily. */
  static async open(options: DatabaseOptions): Promise<Database> {
    const parsed = parseDatabaseUrl(options.url);
    let password: string | undefined;
    if (!parsed.base.password && !process.env.PGPASSWORD && options.password) password = await options.password();
    return new Database(parsed, options.url, password, options, { current: 0 });
  }

  /** Another pool on the same database and host choice (its own connections: locks, heartbeats); ended with this one. */
  fork(options: { max: number; applicationName?: string; timeoutMs?: number; pipeline?: boolean; sharedReaders?: number }): Database {
    const fork = new Database(this.parsed, this.url, this.password, { ...this.options, ...options }, this.hostState, this);
    this.forks.push(fork);
    return fork;
  }

  /** Where the database is, safe to log. */
  get location(): string {
    return redactUrl(this.url);
  }

  /** The host connections go to now (host:port). */
  get currentHost(): string {
    const h = this.parsed.hosts[this.hostState.current];
    return `${h.host}:${h.port}`;
  }

  get timeoutMs(): number {
    return this.options.timeoutMs ?? 10_000;
  }

  private poolFor(index: number): pg.Pool {
    let pool = this.pools.get(index);
    if (pool) return pool;
    const u = new URL(this.parsed.base.toString());
    const h = this.parsed.hosts[index];
    u.hostname = h.host;
    u.port = String(h.port);
    // pg lets a connection string's empty password override a password given beside it, so a
    // password from the source travels inside the (never logged) URL.
    if (!u.password && this.password) u.password = encodeURIComponent(this.password);
    const timeout = this.timeoutMs;
    const checkWritable = this.parsed.targetSessionAttrs !== 'any';
    pool = new pg.Pool({
      connectionString: u.toString(),
      max: this.options.max ?? 10,
      application_name: this.options.applicationName ?? 'scim-bridge',
      // statement_timeout: the server cancels a slow statement cleanly; query_timeout (a little
      // later) is the client's own bound for a server that does not answer at all (frozen).
      // idle_in_transaction_session_timeout: a frozen gateway cannot hold its row locks forever.
      options: `-c TimeZone=UTC -c statement_timeout=${timeout} -c idle_in_transaction_session_timeout=${timeout === 0 ? 0 : Math.max(60_000, timeout * 6)}`,
      ...(timeout > 0 ? { query_timeout: timeout + 2_000 } : {}),
      connectionTimeoutMillis: timeout === 0 ? 10_000 : Math.max(1_000, Math.floor(timeout / 2)),
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      ...(this.options.pipeline ? { pipeline: true } : {}),
      ...(checkWritable
        ? {
            onConnect: async (client: pg.PoolClient) => {
              const r = await client.query<{ ro: string }>("SELECT current_setting('transaction_read_only') AS ro, pg_is_in_recovery()::text AS standby");
              const row = r.rows[0] as unknown as { ro: string; standby: string };
              if (row.standby === 'true' || row.ro === 'on') throw new ReadOnlyServerError(`${h.host}:${h.port} is a standby (read-only)`);
            },
          }
        : {}),
    } as pg.PoolConfig);
    const log = this.options.logger;
    // An error on a connection that is checked out has no listener of node-postgres's own: without
    // this one it would crash the process (a database shut down under load).
    pool.on('connect', (client) => client.on('error', (err) => log?.warn({ err: redactMessage(err.message, this.url), host: `${h.host}:${h.port}` }, 'store: a database connection failed; it is replaced')));
    pool.on('error', (err) => log?.warn({ err: redactMessage(err.message, this.url), host: `${h.host}:${h.port}` }, 'store: an idle database connection failed; it is replaced'));
    this.pools.set(index, pool);
    return pool;
  }

  /**
   * A connection from the current host, else the next that answers (and is writable, with
   * target_session_attrs=read-write). Throws DatabaseUnavailableError when none does.
   */
  async connect(): Promise<pg.PoolClient> {
    if (this.ended) throw new DatabaseUnavailableError('The store is closed.');
    const n = this.parsed.hosts.length;
    const start = this.hostState.current;
    let last: unknown;
    for (let i = 0; i < n; i++) {
      const index = (start + i) % n;
      try {
        const client = await this.poolFor(index).connect();
        if (index !== this.hostState.current) {
          this.hostState.current = index;
          this.options.logger?.warn({ host: this.currentHost, database: this.location }, 'store: connected to another database host (failover)');
        }
        return client;
      } catch (err) {
        if (isMissingPassword(err)) throw new Error(MISSING_PASSWORD);
        if (!isConnectionLost(err)) throw err;
        last = err;
      }
    }
    throw new DatabaseUnavailableError(this.describe(last), false, { cause: last });
  }

  /** A message about a failure, with the password removed and the location named. */
  describe(err: unknown): string {
    const message = redactMessage(err instanceof Error ? err.message : String(err), this.url);
    return `The database ${this.location} cannot be reached (${message})`;
  }

  /** Releases a connection; a lost one is destroyed, and a standby moves the choice on to the next host. */
  private release(client: pg.PoolClient, err: unknown): void {
    const lost = err !== undefined && isConnectionLost(err);
    if (lost && pgCode(err) === '25006' && this.parsed.hosts.length > 1) {
      this.hostState.current = (this.hostState.current + 1) % this.parsed.hosts.length;
    }
    client.release(lost);
  }

  /**
   * One statement outside a transaction; `name` prepares it once per connection (a hot statement).
   * `shared` (with `sharedReaders`): a short read that shares a few pipelined connections with
   * others; those sent in one turn of the event loop leave in one write and come back in one read
   * (see sharedReader). Only for statements that answer in well under a millisecond: one slow
   * statement would hold up every statement behind it on that connection.
   */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = [], options: { name?: string; shared?: boolean } = {}): Promise<pg.QueryResult<R>> {
    const { name } = options;
    const shared = options.shared === true && (this.options.sharedReaders ?? 0) > 0;
    const client = shared ? await this.sharedReader() : await this.connect();
    let failure: unknown;
    try {
      if (shared) this.corkUntilNextTurn(client);
      return await client.query<R>(name ? { name, text: sql, values: params } : { text: sql, values: params });
    } catch (err) {
      failure = err;
      if (isUnavailable(err)) throw new DatabaseUnavailableError(this.describe(err), false, { cause: err });
      throw err;
    } finally {
      if (shared) {
        if (failure !== undefined && isConnectionLost(failure)) this.dropReader(client, failure);
      } else this.release(client, failure);
    }
  }

  /** Connections kept out of the pool for shared, pipelined reads, by slot (a round robin). */
  private readonly readers: Array<Promise<pg.PoolClient> | undefined> = [];
  private readonly readerSlots = new Map<pg.PoolClient, number>();
  private nextReader = 0;
  private readonly corked = new Set<pg.PoolClient>();

  /**
   * A connection many statements use at once (pipeline mode answers them in order, each on its
   * own: one failing does not fail the others). Taken from the pool for good; a lost one is
   * replaced on next use.
   */
  private sharedReader(): Promise<pg.PoolClient> {
    const slot = this.nextReader++ % this.options.sharedReaders!;
    let reader = this.readers[slot];
    if (!reader) {
      const connecting = this.connect().then((client) => {
        this.readerSlots.set(client, slot);
        return client;
      });
      connecting.catch(() => {
        if (this.readers[slot] === connecting) this.readers[slot] = undefined;
      });
      this.readers[slot] = reader = connecting;
    }
    return reader;
  }

  /** A shared connection that was lost: out of its slot, destroyed once (every statement on it fails). */
  private dropReader(client: pg.PoolClient, err: unknown): void {
    const slot = this.readerSlots.get(client);
    if (slot === undefined) return;
    this.readerSlots.delete(client);
    this.readers[slot] = undefined;
    this.release(client, err);
  }

  /** Holds a shared connection's writes until the event loop's next turn: one syscall for all. */
  private corkUntilNextTurn(client: pg.PoolClient): void {
    if (this.corked.has(client)) return;
    const stream = (client as unknown as { connection?: { stream?: { cork?(): void; uncork?(): void } } }).connection?.stream;
    if (!stream?.cork) return;
    stream.cork();
    this.corked.add(client);
    setImmediate(() => {
      this.corked.delete(client);
      stream.uncork!();
    });
  }

  /**
   * Runs `fn` between `begin` (BEGIN, possibly followed by more statements in the same list) and
   * COMMIT; rolls back on any error. `fn` gets the answer to `begin`'s last statement as a promise:
   * on a pipelined pool it may send its own statements before that answer is back, and call
   * `commitNow()` to send COMMIT right behind them (only when every failure among them raises an
   * error: PostgreSQL then answers the COMMIT with a ROLLBACK). A lost connection or a timeout is
   * a DatabaseUnavailableError (committing: the COMMIT's answer was lost).
   */
  async transaction<T>(
    fn: (client: pg.PoolClient, begun: Promise<pg.QueryResult | undefined>, tx: { commitNow(): void }) => Promise<T>,
    begin = 'BEGIN',
  ): Promise<T> {
    const client = await this.connect();
    let failure: unknown;
    let committing = false;
    let commit: Promise<unknown> | undefined;
    const tx = {
      commitNow() {
        committing = true;
        commit ??= client.query('COMMIT');
        commit.catch(() => undefined); // awaited below
      },
    };
    try {
      // What fn sends before its first await leaves in one write with BEGIN (a pipelined pool
      // puts it on the wire at once): one syscall and one wake-up of the server, not one per statement.
      const stream = (client as unknown as { connection?: { stream?: { cork?(): void; uncork?(): void } } }).connection?.stream;
      stream?.cork?.();
      let running: Promise<T>;
      let begun: Promise<pg.QueryResult | undefined>;
      try {
        begun = (client.query(begin) as unknown as Promise<pg.QueryResult | pg.QueryResult[]>).then((r) => (Array.isArray(r) ? r[r.length - 1] : undefined));
        begun.catch(() => undefined); // fn may not wait for it; it is awaited below either way
        running = fn(client, begun, tx);
      } finally {
        stream?.uncork?.();
      }
      const result = await running;
      await begun;
      committing = true;
      await (commit ?? client.query('COMMIT'));
      return result;
    } catch (err) {
      failure = err;
      if (commit) await commit.catch(() => undefined); // its answer (ROLLBACK) must be read before the connection is reused
      // On a lost connection a ROLLBACK would only wait for another timeout: the server rolls back
      // by itself when the connection closes. After an early COMMIT it finds no transaction: harmless.
      if (!isConnectionLost(err)) {
        await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
          failure = rollbackErr;
        });
      }
      if (isUnavailable(err)) throw new DatabaseUnavailableError(this.describe(err), committing && isConnectionLost(err), { cause: err });
      throw err;
    } finally {
      this.release(client, failure);
    }
  }

  async end(): Promise<void> {
    this.ended = true;
    for (const client of this.readerSlots.keys()) client.release();
    this.readerSlots.clear();
    this.readers.length = 0;
    const siblings = this.parent?.forks;
    if (siblings?.includes(this)) siblings.splice(siblings.indexOf(this), 1);
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all([...pools.map((p) => p.end().catch(() => undefined)), ...this.forks.splice(0).map((f) => f.end())]);
  }
}
