/**
 * Sign-in throttling for the console, counted per account AND address: after `maxFailures`
 * failures within `windowMs` for one account name from one client address, that pair is refused
 * until the oldest of those failures leaves the window. Another address (or another account
 * from the same address) is not affected, so nobody who can reach the listener, not even a
 * program on 127.0.0.1, can lock every admin out; `scim-bridge admin unlock` lifts a lockout.
 *
 * An attempt is reserved before the password hash is checked: concurrent guesses cannot slip
 * past the limit while earlier ones are still hashing. Attempts refused while locked are not
 * counted, so a lockout ends on time even under a steady stream of guesses.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileDurably } from './access-file.js';
import { ADMIN_USERNAME_RE } from './admin-accounts.js';

export interface LockoutOptions {
  maxFailures?: number;
  windowMs?: number;
  now?: () => number;
  /** The data dir whose unlock file (`scim-bridge admin unlock`) this throttle obeys. */
  dataDir?: string;
}

export type LockoutState = { locked: false } | { locked: true; retryAfterMs: number; account: string; inFlight?: boolean };

/** One reserved attempt: settle it exactly once with the outcome of the password check. */
export interface LoginAttempt {
  /** The password was wrong: counts the failure; tells how many tries are left, or the lockout. */
  fail(): { remaining: number } | Extract<LockoutState, { locked: true }>;
  /** Signed in: the pair's failures are forgotten. */
  succeed(): void;
  /** Not an attempt after all (the request was refused for another reason): nothing is counted. */
  cancel(): void;
}

export type Reservation = { ok: true; attempt: LoginAttempt } | { ok: false; state: Extract<LockoutState, { locked: true }> };

/** The name the setup-code attempts are counted under (never a valid account name). */
export const SETUP_SCOPE = '(setup code)';

export const UNLOCK_FILE = 'admin-unlock.json';

const unlockRequestSchema = z.object({ id: z.string(), at: z.string(), username: z.string().optional(), address: z.string().optional() });
const unlockFileSchema = z.object({ format: z.literal(1), requests: z.array(unlockRequestSchema) });
export type UnlockRequest = z.infer<typeof unlockRequestSchema>;

const MAX_PAIRS = 10_000;
const KEPT_UNLOCK_REQUESTS = 50;

interface Pair {
  failures: number[];
  pending: number;
}

/** The key of an account name and address pair; names compare without case. */
function pairKey(account: string, address: string): string {
  return `${account.toLowerCase()}\n${address}`;
}

export class LoginThrottle {
  private readonly pairs = new Map<string, Pair>();
  readonly maxFailures: number;
  readonly windowMs: number;
  private readonly now: () => number;
  private readonly unlockFile?: string;
  private unlockSeen = '';
  private readonly unlocksApplied = new Set<string>();
  private readonly startedAt: number;

  constructor(opts: LockoutOptions = {}) {
    this.maxFailures = opts.maxFailures ?? 5;
    this.windowMs = opts.windowMs ?? 15 * 60_000;
    this.now = opts.now ?? Date.now;
    this.startedAt = Date.now();
    if (opts.dataDir) this.unlockFile = join(opts.dataDir, UNLOCK_FILE);
  }

  private recent(pair: Pair): number[] {
    const t = this.now();
    pair.failures = pair.failures.filter((at) => t - at < this.windowMs);
    return pair.failures;
  }

  private lockedState(account: string, pair: Pair): Extract<LockoutState, { locked: true }> | undefined {
    const failures = this.recent(pair);
    if (failures.length >= this.maxFailures) {
      const releaseAt = failures[failures.length - this.maxFailures] + this.windowMs;
      return { locked: true, account, retryAfterMs: Math.max(1_000, releaseAt - this.now()) };
    }
    // The remaining tries are all being checked right now: wait for their outcome.
    if (failures.length + pair.pending >= this.maxFailures) return { locked: true, account, retryAfterMs: 1_000, inFlight: true };
    return undefined;
  }

  /** Whether the pair is locked now (nothing is reserved). */
  check(address: string, account: string): LockoutState {
    this.applyUnlockRequests();
    const pair = this.pairs.get(pairKey(account, address));
    return (pair && this.lockedState(account, pair)) ?? { locked: false };
  }

  /**
   * Reserves one attempt for the account from the address, synchronously: refused while the
   * pair is locked or its remaining tries are all in flight.
   */
  reserve(address: string, account: string): Reservation {
    this.applyUnlockRequests();
    const key = pairKey(account, address);
    let pair = this.pairs.get(key);
    const locked = pair && this.lockedState(account, pair);
    if (locked) return { ok: false, state: locked };
    if (!pair) {
      this.makeRoom();
      pair = { failures: [], pending: 0 };
      this.pairs.set(key, pair);
    }
    const held = pair;
    held.pending += 1;
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      held.pending -= 1;
      return true;
    };
    return {
      ok: true,
      attempt: {
        fail: () => {
          if (settle()) held.failures.push(this.now());
          // Put back if an unlock or the size bound dropped it meanwhile.
          if (this.pairs.get(key) !== held) this.pairs.set(key, held);
          const state = this.lockedState(account, held);
          if (state && !state.inFlight) return state;
          return { remaining: Math.max(0, this.maxFailures - this.recent(held).length - held.pending) };
        },
        succeed: () => {
          settle();
          if (held.pending === 0) this.pairs.delete(key);
          else held.failures = [];
        },
        cancel: () => {
          settle();
          if (held.pending === 0 && held.failures.length === 0) this.pairs.delete(key);
        },
      },
    };
  }

  /** Forgets failures: of one account name, from one address, or of both; none given = all. */
  unlock(filter: { username?: string; address?: string } = {}): number {
    let cleared = 0;
    for (const [key, pair] of this.pairs) {
      const [account, address] = key.split('\n');
      if (filter.username !== undefined && account !== filter.username.toLowerCase()) continue;
      if (filter.address !== undefined && address !== filter.address) continue;
      if (pair.failures.length) cleared += 1;
      pair.failures = [];
      if (pair.pending === 0) this.pairs.delete(key);
    }
    return cleared;
  }

  /** Bounds memory under a flood of made-up names: drops the oldest pairs that lock nothing first. */
  private makeRoom(): void {
    if (this.pairs.size < MAX_PAIRS) return;
    for (const [key, pair] of this.pairs) {
      if (this.pairs.size < MAX_PAIRS * 0.9) return;
      if (pair.pending === 0 && this.recent(pair).length < this.maxFailures) this.pairs.delete(key);
    }
    for (const key of this.pairs.keys()) {
      if (this.pairs.size < MAX_PAIRS * 0.9) return;
      this.pairs.delete(key);
    }
  }

  /** Applies the unlock requests `scim-bridge admin unlock` wrote since this gateway started. */
  private applyUnlockRequests(): void {
    if (!this.unlockFile) return;
    let seen: string;
    try {
      const st = statSync(this.unlockFile);
      seen = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      return;
    }
    if (seen === this.unlockSeen) return;
    this.unlockSeen = seen;
    for (const request of readUnlockRequests(this.unlockFile)) {
      if (this.unlocksApplied.has(request.id) || Date.parse(request.at) < this.startedAt - 1_000) continue;
      this.unlocksApplied.add(request.id);
      this.unlock({ ...(request.username !== undefined ? { username: request.username } : {}), ...(request.address !== undefined ? { address: request.address } : {}) });
    }
  }
}

function readUnlockRequests(file: string): UnlockRequest[] {
  try {
    return unlockFileSchema.parse(JSON.parse(readFileSync(file, 'utf8'))).requests;
  } catch {
    return [];
  }
}

/**
 * Asks the running gateway of this data dir to forget sign-in failures (`scim-bridge admin
 * unlock`): the request is written to the data dir and applied at the next sign-in attempt.
 */
export function requestUnlock(dataDir: string, filter: { username?: string; address?: string }): UnlockRequest {
  if (filter.address !== undefined && isIP(filter.address) === 0) throw new Error(`"${filter.address}" is not an IP address (e.g. 127.0.0.1 or ::1).`);
  const file = join(dataDir, UNLOCK_FILE);
  const request: UnlockRequest = { id: randomUUID(), at: new Date().toISOString(), ...filter };
  const requests = [...readUnlockRequests(file), request].slice(-KEPT_UNLOCK_REQUESTS);
  writeFileDurably(dataDir, UNLOCK_FILE, JSON.stringify({ format: 1, requests }, null, 2) + '\n', 0o600);
  return request;
}

/** "Too many failed sign-ins for ada from this address. Try again in 14 minutes, or ..." */
export function lockoutMessage(state: Extract<LockoutState, { locked: true }>): string {
  if (state.inFlight) return 'Other sign-in attempts for this account from this address are being checked; try again in a moment.';
  const minutes = Math.ceil(state.retryAfterMs / 60_000);
  const wait = state.retryAfterMs < 60_000 ? `${Math.ceil(state.retryAfterMs / 1000)} seconds` : `${minutes} minute${minutes === 1 ? '' : 's'}`;
  if (state.account === SETUP_SCOPE) return `Too many wrong setup codes from this address. Try again in ${wait}.`;
  const name = ADMIN_USERNAME_RE.test(state.account) ? state.account : 'NAME';
  return `Too many failed attempts for this account from this address. Try again in ${wait}, sign in from another address, or run "scim-bridge admin unlock ${name}" on the gateway's machine.`;
}

/** The warning on the last tries before a lockout, or undefined while many are left. */
export function lastTriesWarning(remaining: number, windowMs: number): string | undefined {
  if (remaining > 2 || remaining <= 0) return undefined;
  const minutes = Math.round(windowMs / 60_000);
  return `${remaining} more failed attempt${remaining === 1 ? '' : 's'} from this address will lock this account here for ${minutes} minutes.`;
}
