/**
 * Sign-in throttling for the console: after `maxFailures` failures within `windowMs` for one
 * account, or from one address, sign-in (and the setup code) is refused until the oldest of those
 * failures leaves the window. Attempts refused while locked are not counted, so a lockout ends on
 * time even under a steady stream of guesses.
 */
export interface LockoutOptions {
  maxFailures?: number;
  windowMs?: number;
  now?: () => number;
}

export type LockoutState = { locked: false } | { locked: true; retryAfterMs: number; scope: 'account' | 'address' };

export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();
  readonly maxFailures: number;
  readonly windowMs: number;
  private readonly now: () => number;

  constructor(opts: LockoutOptions = {}) {
    this.maxFailures = opts.maxFailures ?? 5;
    this.windowMs = opts.windowMs ?? 15 * 60_000;
    this.now = opts.now ?? Date.now;
  }

  private recent(key: string): number[] {
    const t = this.now();
    const list = (this.failures.get(key) ?? []).filter((at) => t - at < this.windowMs);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  /** Whether the account (if named) or the address is locked now. */
  check(address: string, account?: string): LockoutState {
    const t = this.now();
    const scopes: Array<['account' | 'address', string]> = [['address', `ip:${address}`]];
    if (account) scopes.unshift(['account', `user:${account.toLowerCase()}`]);
    for (const [scope, key] of scopes) {
      const list = this.recent(key);
      if (list.length >= this.maxFailures) {
        const releaseAt = list[list.length - this.maxFailures] + this.windowMs;
        return { locked: true, retryAfterMs: Math.max(1_000, releaseAt - t), scope };
      }
    }
    return { locked: false };
  }

  fail(address: string, account?: string): void {
    const t = this.now();
    const keys = [`ip:${address}`, ...(account ? [`user:${account.toLowerCase()}`] : [])];
    for (const key of keys) this.failures.set(key, [...this.recent(key), t]);
    // Bound memory under a flood of made-up user names.
    if (this.failures.size > 10_000) for (const k of [...this.failures.keys()].slice(0, 1_000)) this.failures.delete(k);
  }

  succeed(address: string, account?: string): void {
    this.failures.delete(`ip:${address}`);
    if (account) this.failures.delete(`user:${account.toLowerCase()}`);
  }
}

/** "Try again in 14 minutes." */
export function lockoutMessage(state: Extract<LockoutState, { locked: true }>): string {
  const minutes = Math.ceil(state.retryAfterMs / 60_000);
  const wait = state.retryAfterMs < 60_000 ? `${Math.ceil(state.retryAfterMs / 1000)} seconds` : `${minutes} minute${minutes === 1 ? '' : 's'}`;
  const who = state.scope === 'account' ? 'this account' : 'this address';
  return `Too many failed attempts for ${who}. Try again in ${wait}.`;
}
