/**
 * SCIM bearer tokens: `scb_` + 32 random bytes (base64url), shown once, stored as a SHA-256
 * hash, compared in constant time, each bound to one connection.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { accessFileStamp, readAccess, readAccessSeen, removeAccessSeen, updateAccess, writeAccessSeen, type AccessData, type ConnectionRecord, type TokenRecord } from './access-file.js';

export const TOKEN_PREFIX = 'scb_';
const TOKEN_RE = /^scb_[A-Za-z0-9_-]{43}$/;

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export interface CreatedToken {
  record: TokenRecord;
  /** The token itself: show once, never store. */
  token: string;
}

/** Connection names as they appear in URLs, config keys and file names. */
export const CONNECTION_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function createConnection(dataDir: string, name: string): ConnectionRecord {
  if (!CONNECTION_NAME_RE.test(name)) {
    throw new Error(`Connection name "${name}" is not valid: use 1-63 lower-case letters, digits, "-" or "_", starting with a letter or digit.`);
  }
  return updateAccess(dataDir, (data) => {
    if (data.connections.some((c) => c.id === name)) throw new Error(`Connection "${name}" already exists.`);
    const record: ConnectionRecord = { id: name, name, createdAt: new Date().toISOString() };
    data.connections.push(record);
    return record;
  });
}

export function createToken(dataDir: string, opts: { name: string; connection?: string; expiresAt?: Date }): CreatedToken {
  const name = opts.name.trim();
  if (name === '' || name.length > 100) throw new Error('A token needs a name of 1 to 100 characters, e.g. --name "Okta".');
  const connection = opts.connection ?? 'default';
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const record: TokenRecord = {
    id: `tok_${randomBytes(6).toString('hex')}`,
    name,
    connection,
    hash: hashToken(token),
    prefix: token.slice(0, 8),
    createdAt: new Date().toISOString(),
    ...(opts.expiresAt ? { expiresAt: opts.expiresAt.toISOString() } : {}),
  };
  updateAccess(dataDir, (data) => {
    if (!data.connections.some((c) => c.id === connection)) {
      throw new Error(
        `There is no connection "${connection}". Existing: ${data.connections.map((c) => c.id).join(', ')}. Create it with: scim-bridge connection create ${connection}`,
      );
    }
    data.tokens.push(record);
  });
  return { record, token };
}

export function revokeToken(dataDir: string, id: string): TokenRecord {
  return updateAccess(dataDir, (data) => {
    const matches = data.tokens.filter((x) => x.id === id || x.prefix === id);
    if (matches.length === 0) throw new Error(`No token with id ${id}. List them with: scim-bridge token list`);
    if (matches.length > 1) throw new Error(`${id} matches ${matches.length} tokens (${matches.map((x) => x.id).join(', ')}); revoke by id.`);
    const t = matches[0];
    if (!t.revokedAt) t.revokedAt = new Date().toISOString();
    return t;
  });
}

/**
 * Rotation: a new token with the same name and connection; the old one keeps working for
 * `graceMs` (so the IdP can be updated without a gap in provisioning), or stops at once with
 * `revokeNow`. An earlier expiry of the old token is kept.
 */
export function rotateToken(dataDir: string, id: string, opts: { graceMs: number; revokeNow?: boolean; expiresAt?: Date }): CreatedToken & { previous: TokenRecord } {
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  return updateAccess(dataDir, (data) => {
    const old = data.tokens.find((x) => x.id === id);
    if (!old) throw new Error(`No token with id ${id}. List them with: scim-bridge token list`);
    if (old.revokedAt) throw new Error(`Token ${id} is revoked; create a new token instead.`);
    if (old.replacedBy) throw new Error(`Token ${id} was already rotated (replaced by ${old.replacedBy}); rotate that one.`);
    const now = Date.now();
    if (old.expiresAt && Date.parse(old.expiresAt) <= now) throw new Error(`Token ${id} has expired; create a new token instead.`);
    const record: TokenRecord = {
      id: `tok_${randomBytes(6).toString('hex')}`,
      name: old.name,
      connection: old.connection,
      hash: hashToken(token),
      prefix: token.slice(0, 8),
      createdAt: new Date(now).toISOString(),
      ...(opts.expiresAt ? { expiresAt: opts.expiresAt.toISOString() } : {}),
    };
    old.replacedBy = record.id;
    if (opts.revokeNow) old.revokedAt = new Date(now).toISOString();
    else {
      const graceEnd = now + Math.max(0, opts.graceMs);
      if (!old.expiresAt || Date.parse(old.expiresAt) > graceEnd) old.expiresAt = new Date(graceEnd).toISOString();
    }
    data.tokens.push(record);
    return { record, token, previous: { ...old } };
  });
}

export function listTokens(dataDir: string): TokenRecord[] {
  return readAccess(dataDir).tokens;
}

/** How a command's edit of access.json reached the running gateway, if one runs. */
export type GatewayConfirmation = { state: 'no-gateway' } | { state: 'confirmed'; pid: number } | { state: 'unconfirmed'; pid: number };

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

/**
 * Waits until the gateway running on `dataDir` enforces access.json as it is now (a revoke just
 * written), or `timeoutMs` passes. It polls the file every 250 ms, so this takes that long at most
 * when it is healthy.
 */
export async function confirmWithRunningGateway(dataDir: string, timeoutMs = 5_000): Promise<GatewayConfirmation> {
  const revision = readAccess(dataDir).revision;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = readAccessSeen(dataDir);
    if (!seen || seen.pid === process.pid || !isRunning(seen.pid)) return { state: 'no-gateway' };
    if (seen.revision >= revision) return { state: 'confirmed', pid: seen.pid };
    if (Date.now() > deadline) return { state: 'unconfirmed', pid: seen.pid };
    await new Promise((r) => setTimeout(r, 20));
  }
}

export type AuthResult =
  | { ok: true; token: TokenRecord; connection: ConnectionRecord }
  | { ok: false; reason: 'missing' | 'malformed' | 'unknown' | 'revoked' | 'expired' | 'unavailable' };

/**
 * The gateway's view of access.json: verifies bearer tokens, reloads when another process
 * (the CLI) edits the file, and records last-used times without writing on every request.
 * When the file cannot be read (damaged, permissions, replaced by another user) it fails
 * closed: every token is refused until a read succeeds, since a revoke may be in what it missed.
 */
export class TokenVerifier {
  private data: AccessData;
  private byHash = new Map<string, TokenRecord>();
  private verified = new Map<string, TokenRecord>();
  private stamp = '';
  /** Why the last read of access.json failed; while set, no token is accepted. */
  private failure: Error | undefined;
  /** Whether onError has been told about the current failure (once per failure, not per poll). */
  private failureReported = false;
  private timer?: NodeJS.Timeout;
  private readonly lastUsed = new Map<string, string>();
  private readonly firstRequest = new Map<string, string>();
  private lastFlush = Date.now();
  /** While > 0, requests are not taken as a connection's first call (the console's own test request). */
  private quiet = 0;

  constructor(private readonly dataDir: string, private readonly onError: (err: unknown) => void = () => {}) {
    this.data = readAccess(dataDir);
    this.index();
  }

  /**
   * Polls the file so that a token revoked from the CLI stops working within `intervalMs`; the
   * CLI waits for the acknowledgement (access.seen) before it says the token is revoked.
   */
  start(intervalMs = 250, flushEveryMs = 30_000): void {
    this.timer = setInterval(() => {
      try {
        this.reloadIfChanged();
        if (Date.now() - this.lastFlush > flushEveryMs) this.flush();
      } catch (err) {
        this.report(err);
      }
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    try {
      this.flush();
      removeAccessSeen(this.dataDir, process.pid);
    } catch (err) {
      this.onError(err);
    }
  }

  /**
   * Reads access.json now, after an edit in this process (the console's revoke or rotate), so
   * the next request already sees it. A failed read leaves every token refused and is reported.
   */
  refresh(): void {
    try {
      this.reloadIfChanged(true);
    } catch (err) {
      this.report(err);
    }
  }

  private report(err: unknown): void {
    if (err === this.failure) {
      if (this.failureReported) return;
      this.failureReported = true;
    }
    this.onError(err);
  }

  /** Ensures the file exists with the default connection (first start). */
  ensureInitialized(): void {
    updateAccess(this.dataDir, () => undefined);
    this.reloadIfChanged(true);
  }

  /** Creates a connection declared in the configuration if access.json does not have it yet. */
  ensureConnection(name: string): void {
    if (this.data.connections.some((c) => c.id === name)) return;
    updateAccess(this.dataDir, (data) => {
      if (!data.connections.some((c) => c.id === name)) data.connections.push({ id: name, name, createdAt: new Date().toISOString() });
    });
    this.reloadIfChanged(true);
  }

  /** Reloads when the file changed (or after a failed read, until one succeeds); throws what a read failed with. */
  reloadIfChanged(force = false): void {
    const stamp = accessFileStamp(this.dataDir);
    if (!force && !this.failure && stamp === this.stamp) return;
    let data: AccessData;
    try {
      data = readAccess(this.dataDir);
    } catch (err) {
      // Keep the reported failure while the cause stays the same, so the log says it once.
      if (!this.failure || (err as Error).message !== this.failure.message) {
        this.failure = err as Error;
        this.failureReported = false;
      }
      this.verified = new Map();
      throw this.failure;
    }
    this.failure = undefined;
    this.stamp = stamp;
    this.data = data;
    this.index();
    try {
      writeAccessSeen(this.dataDir, { pid: process.pid, revision: data.revision });
    } catch (err) {
      this.onError(err); // the new data is in force; only a waiting command's confirmation is lost
    }
  }

  private index(): void {
    this.byHash = new Map(this.data.tokens.map((t) => [t.hash, t]));
    this.verified = new Map();
  }

  connections(): ConnectionRecord[] {
    return this.data.connections;
  }

  verify(authorization: string | undefined): AuthResult {
    if (!authorization) return { ok: false, reason: 'missing' };
    if (this.failure) return { ok: false, reason: 'unavailable' };
    // Verified headers are remembered until access.json changes: hashing on every request
    // showed in profiles. Only known tokens are cached, so the map stays small.
    let record = this.verified.get(authorization);
    if (!record) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!m || !TOKEN_RE.test(m[1])) return { ok: false, reason: 'malformed' };
      const hash = hashToken(m[1]);
      record = this.byHash.get(hash);
      if (!record) {
        // A token created by the CLI a moment ago: look at the file now rather than at the next poll.
        try {
          this.reloadIfChanged();
        } catch {
          return { ok: false, reason: 'unavailable' }; // the poll reports why
        }
        record = this.byHash.get(hash);
      }
      // The map lookup is on the hash, not the secret; still compare in constant time (DESIGN.md).
      if (!record || !timingSafeEqual(Buffer.from(record.hash, 'hex'), Buffer.from(hash, 'hex'))) return { ok: false, reason: 'unknown' };
      if (this.verified.size < 1000) this.verified.set(authorization, record);
    }
    if (record.revokedAt) return { ok: false, reason: 'revoked' };
    const now = new Date();
    if (record.expiresAt && Date.parse(record.expiresAt) <= now.getTime()) return { ok: false, reason: 'expired' };
    const connection = this.data.connections.find((c) => c.id === record.connection);
    if (!connection) return { ok: false, reason: 'unknown' };
    const iso = now.toISOString();
    this.lastUsed.set(record.id, iso);
    if (this.quiet === 0 && !connection.firstRequestAt && !this.firstRequest.has(connection.id)) {
      this.firstRequest.set(connection.id, iso);
      this.lastFlush = 0; // record "Connected" promptly
    }
    return { ok: true, token: record, connection };
  }

  /**
   * Runs `fn` (the console's test request to this gateway) without taking its requests as an IdP's
   * first call: "Connected" must mean the identity provider called. An IdP request in the same
   * moment is recorded by its next call.
   */
  async unrecorded<T>(fn: () => Promise<T>): Promise<T> {
    this.quiet++;
    try {
      return await fn();
    } finally {
      this.quiet--;
    }
  }

  /** Writes last-used times and first-request times back to access.json (merged under the lock). */
  flush(): void {
    this.lastFlush = Date.now();
    if (this.lastUsed.size === 0 && this.firstRequest.size === 0) return;
    const used = new Map(this.lastUsed);
    const first = new Map(this.firstRequest);
    this.lastUsed.clear();
    this.firstRequest.clear();
    updateAccess(this.dataDir, (data) => {
      for (const t of data.tokens) {
        const u = used.get(t.id);
        if (u && (!t.lastUsedAt || t.lastUsedAt < u)) t.lastUsedAt = u;
      }
      for (const c of data.connections) {
        const f = first.get(c.id);
        if (f && !c.firstRequestAt) c.firstRequestAt = f;
      }
    });
    this.reloadIfChanged(true);
  }
}
