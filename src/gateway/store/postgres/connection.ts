/**
 * Connecting to PostgreSQL: the pool, the password's sources and the one rule for messages:
 * a database URL is only ever shown with its password replaced (redactUrl).
 */
import pg from 'pg';

/** Where the database password may come from, besides the URL itself and PGPASSWORD. */
export type PasswordSource = () => Promise<string | undefined>;

export interface PoolOptions {
  /** postgres://user[:password]@host:port/database[?sslmode=...] */
  url: string;
  /** Asked when neither the URL nor PGPASSWORD holds a password (the secret store's `store:databasePassword`). */
  password?: PasswordSource;
  /** Connections per instance; default 10. */
  max?: number;
  /** Name in pg_stat_activity. */
  applicationName?: string;
}

/** The URL with its password replaced by `***`: safe for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const key of [...u.searchParams.keys()]) if (/pass|secret|key/i.test(key)) u.searchParams.set(key, '***');
    return u.toString();
  } catch {
    // Not a URL we can parse: drop anything between "://user:" and "@".
    return url.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
  }
}

/** Removes every occurrence of the password from a message (drivers sometimes echo parts of the URL). */
export function redactMessage(message: string, url: string): string {
  let out = message;
  try {
    const password = decodeURIComponent(new URL(url).password);
    if (password.length >= 3) out = out.split(password).join('***');
  } catch {
    /* not a URL: nothing known to redact */
  }
  return out.split(url).join(redactUrl(url));
}

/** Validates the URL; the error never contains the password. */
export function checkDatabaseUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`databaseUrl is not a URL (${redactUrl(url)}); expected postgres://user@host:5432/database`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new Error(`databaseUrl must start with postgres:// (got ${u.protocol}//…)`);
  }
  return u;
}

/**
 * A pool with every session in UTC (date-time filters and `meta` comparisons must not depend on
 * the server's zone). The password is the URL's, else PGPASSWORD (read by pg itself), else the
 * password source's, asked once here. pg lets a connection string's empty password override a
 * password given beside it, so a password from the source travels inside the (never logged) URL.
 */
export async function createPool(options: PoolOptions): Promise<pg.Pool> {
  const u = checkDatabaseUrl(options.url);
  if (!u.password && !process.env.PGPASSWORD && options.password) {
    const pw = await options.password();
    if (pw) u.password = encodeURIComponent(pw);
  }
  return new pg.Pool({
    connectionString: u.toString(),
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'scim-bridge',
    options: '-c TimeZone=UTC -c statement_timeout=60000',
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
}
