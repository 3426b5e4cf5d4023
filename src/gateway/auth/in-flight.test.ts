import { describe, expect, it } from 'vitest';
import { createInFlightLimits, isRefusal, type InFlightTicket } from './in-flight.js';

const ticket = (x: ReturnType<ReturnType<typeof createInFlightLimits>['admit']>): InFlightTicket => {
  if (isRefusal(x)) throw new Error(`refused: ${x.detail}`);
  return x;
};

describe('in-flight limits', () => {
  it("caps one token's requests in progress, not another's, and frees a slot on release", () => {
    const limits = createInFlightLimits({ bodyBudgetBytes: 0, perToken: 2 });
    const a1 = ticket(limits.admit('a'));
    ticket(limits.admit('a'));
    expect(limits.admit('a')).toMatchObject({ status: 429, retryAfterSeconds: 1, detail: expect.stringMatching(/2 requests in progress \(the limit is 2\)/) });
    ticket(limits.admit('b'));
    a1.release();
    a1.release(); // twice is once
    ticket(limits.admit('a'));
    expect(limits.requests()).toBe(3);
  });

  it('shares one body budget among all requests; a refused reservation takes nothing', () => {
    const limits = createInFlightLimits({ bodyBudgetBytes: 1000, perToken: 0 });
    const a = ticket(limits.admit('a'));
    const b = ticket(limits.admit('b'));
    expect(a.reserveBody(600)).toBeUndefined();
    expect(b.reserveBody(300)).toBeUndefined();
    expect(b.reserveBody(200)).toMatchObject({ status: 503, retryAfterSeconds: 1, detail: expect.stringMatching(/budget/) });
    expect(limits.bodyBytes()).toBe(900);
    a.release();
    expect(limits.bodyBytes()).toBe(300);
    expect(b.reserveBody(700)).toBeUndefined();
    b.release();
    expect(limits.bodyBytes()).toBe(0);
    expect(limits.requests()).toBe(0);
  });

  it('with 0 for both, limits nothing', () => {
    const limits = createInFlightLimits({ bodyBudgetBytes: 0, perToken: 0 });
    for (let i = 0; i < 1000; i++) expect(ticket(limits.admit('a')).reserveBody(1 << 20)).toBeUndefined();
  });
});
