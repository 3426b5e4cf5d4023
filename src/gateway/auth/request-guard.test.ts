import { describe, expect, it } from 'vitest';
import { createRequestGuard, normalizeIp, parseAllowList } from './request-guard.js';

const base = { allowList: [], perToken: 0, perIp: 0, lockoutFailures: 0, lockoutWindowMs: 60_000, lockoutMs: 300_000 };

describe('request guard', () => {
  it('admits only the allow-listed addresses, IPv4-mapped IPv6 included', () => {
    const g = createRequestGuard({ ...base, allowList: ['10.0.0.0/8', '2001:db8::/32', '192.168.1.7'] });
    expect(g.admit('10.20.30.40')).toBeUndefined();
    expect(g.admit('::ffff:10.1.2.3')).toBeUndefined();
    expect(g.admit('2001:db8::1')).toBeUndefined();
    expect(g.admit('192.168.1.7')).toBeUndefined();
    expect(g.admit('192.168.1.8')).toMatchObject({ status: 403, detail: expect.stringMatching(/192\.168\.1\.8 .*ipAllowList/) });
    expect(normalizeIp('::ffff:127.0.0.1')).toBe('127.0.0.1');
  });

  it('names an allow-list entry that is not an address or CIDR', () => {
    expect(() => parseAllowList(['10.0.0.0/8', 'intranet'])).toThrow(/"intranet" is not an IP address or CIDR/);
    expect(() => parseAllowList(['10.0.0.0/33'])).toThrow(/10\.0\.0\.0\/33/);
  });

  it('limits each token to its rate with a burst of twice that, and refills over time', () => {
    let now = 0;
    const g = createRequestGuard({ ...base, perToken: 5, now: () => now });
    const results = Array.from({ length: 12 }, () => g.rate('t1', '1.1.1.1'));
    expect(results.filter((r) => r === undefined)).toHaveLength(10);
    expect(results[10]).toMatchObject({ status: 429, retryAfterSeconds: 1 });
    expect(g.rate('t2', '1.1.1.1')).toBeUndefined(); // another token has its own bucket
    now += 1_000; // five more
    expect(Array.from({ length: 6 }, () => g.rate('t1', '1.1.1.1')).filter((r) => r === undefined)).toHaveLength(5);
  });

  it('locks out an address after repeated bad tokens, for a while, then forgets', () => {
    let now = 0;
    const g = createRequestGuard({ ...base, lockoutFailures: 3, now: () => now });
    expect(g.failed('6.6.6.6')).toBeUndefined();
    expect(g.failed('6.6.6.6')).toBeUndefined();
    expect(g.failed('6.6.6.6')).toMatchObject({ status: 429, retryAfterSeconds: 300 });
    expect(g.failed('7.7.7.7')).toBeUndefined();
    now += 299_000;
    expect(g.failed('6.6.6.6')).toMatchObject({ status: 429, retryAfterSeconds: 1 });
    now += 2_000;
    expect(g.failed('6.6.6.6')).toBeUndefined();
  });
});
