/**
 * Console sessions, kept in memory (a restart signs everyone out, which is what an admin expects
 * of a gateway restart): a random session id in an HttpOnly cookie, a synchronizer CSRF token per
 * session, idle and absolute expiry. Also the one-time codes: the first-run setup code and the
 * desktop app's password-less local login links.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface AdminSession {
  username: string;
  /** Sent back in X-CSRF-Token on every state-changing request. */
  csrfToken: string;
  /** How the session was opened: recorded in the audit log. */
  via: 'password' | 'setup' | 'local';
  createdAt: number;
  lastSeenAt: number;
}

export interface AdminSessionOptions {
  /** Signed out after this long without a request (default 30 min). */
  idleMs?: number;
  /** Signed out this long after sign-in, however active (default 12 h). */
  absoluteMs?: number;
  now?: () => number;
}

/** Sessions are looked up by the SHA-256 of their id: the ids themselves are never kept. */
function key(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

export function sameSecret(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}

export class AdminSessions {
  private readonly sessions = new Map<string, AdminSession>();
  readonly idleMs: number;
  readonly absoluteMs: number;
  private readonly now: () => number;

  constructor(opts: AdminSessionOptions = {}) {
    this.idleMs = opts.idleMs ?? 30 * 60_000;
    this.absoluteMs = opts.absoluteMs ?? 12 * 3_600_000;
    this.now = opts.now ?? Date.now;
  }

  /** Opens a session; returns the id for the cookie (never stored) and the session. */
  create(username: string, via: AdminSession['via']): { id: string; session: AdminSession } {
    this.sweep();
    const id = randomBytes(32).toString('base64url');
    const t = this.now();
    const session: AdminSession = { username, csrfToken: randomBytes(32).toString('base64url'), via, createdAt: t, lastSeenAt: t };
    this.sessions.set(key(id), session);
    return { id, session };
  }

  /**
   * The live session for a cookie value; expired ones are dropped. `touch: false` (a page's
   * automatic refresh) does not count as activity, so an open dashboard still idles out.
   */
  get(id: string | undefined, opts: { touch?: boolean } = {}): { session?: AdminSession; expired?: boolean } {
    if (!id) return {};
    const k = key(id);
    const session = this.sessions.get(k);
    if (!session) return {};
    const t = this.now();
    if (t - session.lastSeenAt > this.idleMs || t - session.createdAt > this.absoluteMs) {
      this.sessions.delete(k);
      return { expired: true };
    }
    if (opts.touch !== false) session.lastSeenAt = t;
    return { session };
  }

  /** When the session ends if it stays idle (or reaches its absolute limit first). */
  expiresAt(session: AdminSession): number {
    return Math.min(session.lastSeenAt + this.idleMs, session.createdAt + this.absoluteMs);
  }

  destroy(id: string | undefined): void {
    if (id) this.sessions.delete(key(id));
  }

  /** Signs a user out everywhere except, optionally, the session `keepId` (after a password change). */
  destroyAllFor(username: string, keepId?: string): void {
    const keep = keepId ? key(keepId) : undefined;
    for (const [k, s] of this.sessions) if (s.username === username && k !== keep) this.sessions.delete(k);
  }

  private sweep(): void {
    const t = this.now();
    for (const [k, s] of this.sessions) if (t - s.lastSeenAt > this.idleMs || t - s.createdAt > this.absoluteMs) this.sessions.delete(k);
  }
}

/** Crockford base32 without I, L, O, U: nothing to misread when typing the code off a terminal. */
const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * The first-run setup code: printed by `serve` when no admin account exists, usable once, for an
 * hour. 50 random bits, and the lockout allows 5 guesses per 15 minutes per address.
 *
 * A right code is claimed at once, synchronously, before the account is hashed and written:
 * while that runs, the same code is refused (`busy`), so concurrent requests cannot each create
 * an admin. The claim ends in `consume()` (the account is on disk) or `release()` (it failed).
 */
export class SetupCode {
  private code?: string;
  private expiresAt = 0;
  private state: 'unused' | 'claimed' | 'used' = 'unused';

  constructor(private readonly ttlMs = 3_600_000, private readonly now: () => number = Date.now) {}

  /** Generates a fresh code (each start while no admin exists). */
  issue(): { code: string; expiresAt: Date } {
    const bytes = randomBytes(10);
    const chars = [...bytes].map((b) => CODE_ALPHABET[b & 31]).join('');
    this.code = `${chars.slice(0, 5)}-${chars.slice(5)}`;
    this.expiresAt = this.now() + this.ttlMs;
    this.state = 'unused';
    return { code: this.code, expiresAt: new Date(this.expiresAt) };
  }

  /** The code while it can still be used (the desktop shell and `serve` show it). */
  current(): { code: string; expiresAt: Date } | undefined {
    if (!this.code || this.state !== 'unused' || this.now() >= this.expiresAt) return undefined;
    return { code: this.code, expiresAt: new Date(this.expiresAt) };
  }

  /** Checks a typed code (case, spaces and dashes do not matter) and, when right, claims it. */
  claim(typed: string): 'ok' | 'wrong' | 'expired' | 'used' | 'busy' | 'none' {
    if (!this.code) return 'none';
    if (this.state === 'used') return 'used';
    if (this.now() >= this.expiresAt) return 'expired';
    const normalize = (s: string) => s.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
    if (!sameSecret(normalize(typed), normalize(this.code))) return 'wrong';
    if (this.state === 'claimed') return 'busy';
    this.state = 'claimed';
    return 'ok';
  }

  /** Gives a claimed code back: creating the account failed, the admin may try again. */
  release(): void {
    if (this.state === 'claimed') this.state = 'unused';
  }

  /** Marks the code used: an admin account exists now. */
  consume(): void {
    this.state = 'used';
  }
}

/** One-time, short-lived tokens for the desktop app's local login link. */
export class LocalLoginTokens {
  private readonly tokens = new Map<string, number>();

  constructor(private readonly ttlMs = 60_000, private readonly now: () => number = Date.now) {}

  issue(): string {
    const t = this.now();
    for (const [k, exp] of this.tokens) if (exp <= t) this.tokens.delete(k);
    const token = randomBytes(32).toString('base64url');
    this.tokens.set(key(token), t + this.ttlMs);
    return token;
  }

  /** True once per issued token, within its lifetime. */
  consume(token: string): boolean {
    const k = key(token);
    const exp = this.tokens.get(k);
    if (exp === undefined) return false;
    this.tokens.delete(k);
    return exp > this.now();
  }
}
