/**
 * What the SCIM listener checks before and around authentication: the IP allow-list, a lockout of
 * addresses that keep sending bad tokens, and rate limits per token and per address (token
 * buckets). All in memory and bounded: a flood of addresses cannot grow it without limit.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export interface RequestGuardOptions {
  /** CIDRs (or single addresses) allowed to call the SCIM listener; empty = everyone. */
  allowList: readonly string[];
  /** Requests per second per token (bursts up to 2x); 0 = no limit. */
  perToken: number;
  /** Requests per second per client address; 0 = no limit. */
  perIp: number;
  /** Failed authentications from one address before it is locked out; 0 = never. */
  lockoutFailures: number;
  lockoutWindowMs: number;
  lockoutMs: number;
  now?: () => number;
}

/** A refusal: the status, the seconds to wait (429) and the detail the client sees. */
export interface GuardRefusal {
  status: 403 | 429;
  retryAfterSeconds?: number;
  detail: string;
}

export interface RequestGuard {
  /** Before anything: the allow-list. */
  admit(ip: string): GuardRefusal | undefined;
  /**
   * An authentication failed from this address: counts it, and answers 429 while the address is
   * locked out. A valid token from a locked address still passes (IdPs share egress addresses
   * among tenants; one tenant's bad token must not stop another's provisioning), so the lockout
   * throttles guessing and makes it visible; 256-bit tokens make the guessing itself hopeless.
   */
  failed(ip: string): GuardRefusal | undefined;
  /** After authentication: the token's and the address's rate. */
  rate(tokenId: string, ip: string): GuardRefusal | undefined;
}

const MAX_ENTRIES = 50_000;

/** `::ffff:10.0.0.1` is 10.0.0.1. */
export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
}

/** Parses an allow-list; throws naming the entry that is not an address or CIDR. */
export function parseAllowList(entries: readonly string[]): BlockList | undefined {
  if (entries.length === 0) return undefined;
  const list = new BlockList();
  for (const raw of entries) {
    const entry = raw.trim();
    const [addr, prefix] = entry.split('/');
    const type = isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : undefined;
    const bits = prefix === undefined ? (type === 'ipv4' ? 32 : 128) : Number(prefix);
    if (!type || !Number.isInteger(bits) || bits < 0 || bits > (type === 'ipv4' ? 32 : 128)) {
      throw new Error(`"${entry}" is not an IP address or CIDR (e.g. 10.0.0.0/8, 2001:db8::/32)`);
    }
    list.addSubnet(addr, bits, type);
  }
  return list;
}

class Buckets {
  private readonly tokens = new Map<string, { level: number; at: number }>();
  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {}

  /** Takes one; returns the seconds until one is available, or 0 if taken. */
  take(key: string, now: number): number {
    let b = this.tokens.get(key);
    if (!b) {
      if (this.tokens.size >= MAX_ENTRIES) this.tokens.delete(this.tokens.keys().next().value!);
      b = { level: this.burst, at: now };
      this.tokens.set(key, b);
    } else {
      b.level = Math.min(this.burst, b.level + ((now - b.at) / 1000) * this.rate);
      b.at = now;
    }
    if (b.level >= 1) {
      b.level -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.level) / this.rate));
  }
}

export function createRequestGuard(opts: RequestGuardOptions): RequestGuard {
  const now = opts.now ?? Date.now;
  const allow = parseAllowList(opts.allowList);
  const perToken = opts.perToken > 0 ? new Buckets(opts.perToken, opts.perToken * 2) : undefined;
  const perIp = opts.perIp > 0 ? new Buckets(opts.perIp, opts.perIp * 2) : undefined;
  const failures = new Map<string, { count: number; first: number; lockedUntil: number }>();

  return {
    admit(raw) {
      const ip = normalizeIp(raw);
      if (allow && !allow.check(ip, isIPv6(ip) ? 'ipv6' : 'ipv4')) {
        return { status: 403, detail: `Requests from ${ip} are not allowed: add the address to ipAllowList in the gateway's configuration.` };
      }
      return undefined;
    },
    failed(raw) {
      if (opts.lockoutFailures <= 0) return undefined;
      const ip = normalizeIp(raw);
      const t = now();
      let f = failures.get(ip);
      if (!f || (f.lockedUntil <= t && t - f.first > opts.lockoutWindowMs)) {
        if (!f && failures.size >= MAX_ENTRIES) failures.delete(failures.keys().next().value!);
        f = { count: 0, first: t, lockedUntil: 0 };
        failures.set(ip, f);
      }
      f.count += 1;
      if (f.lockedUntil <= t && f.count >= opts.lockoutFailures) f.lockedUntil = t + opts.lockoutMs;
      if (f.lockedUntil > t) {
        const wait = Math.ceil((f.lockedUntil - t) / 1000);
        return { status: 429, retryAfterSeconds: wait, detail: `Too many requests with invalid tokens from ${ip}; try again in ${wait} s with a valid token.` };
      }
      return undefined;
    },
    rate(tokenId, raw) {
      const t = now();
      const tokenWait = perToken?.take(tokenId, t) ?? 0;
      if (tokenWait > 0) return { status: 429, retryAfterSeconds: tokenWait, detail: `This token sends more than ${opts.perToken} requests per second; slow down and retry after ${tokenWait} s.` };
      const ip = normalizeIp(raw);
      const ipWait = perIp?.take(ip, t) ?? 0;
      if (ipWait > 0) return { status: 429, retryAfterSeconds: ipWait, detail: `${ip} sends more than ${opts.perIp} requests per second; slow down and retry after ${ipWait} s.` };
      return undefined;
    },
  };
}
