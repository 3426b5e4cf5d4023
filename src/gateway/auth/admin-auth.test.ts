/** The console's sign-in parts on their own: password hashing, the setup code, local login links, lockout, sessions. */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminAccounts, AdminSessions, LocalLoginTokens, LoginThrottle, SetupCode, hashPassword, lastTriesWarning, lockoutMessage, passwordProblem, requestUnlock, verifyPasswordHash, type LockoutState, type Reservation } from './index.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

describe('passwords', () => {
  it('hashes with a random salt and verifies only the right password', async () => {
    const a = await hashPassword('correct horse battery');
    const b = await hashPassword('correct horse battery');
    expect(a).not.toBe(b);
    expect(await verifyPasswordHash('correct horse battery', a)).toBe(true);
    expect(await verifyPasswordHash('correct horse batterY', a)).toBe(false);
    expect(await verifyPasswordHash('x', 'not-a-hash')).toBe(false);
  });

  it('refuses short passwords and the user name as password', () => {
    expect(passwordProblem('short', 'ada')).toMatch(/12 characters/);
    expect(passwordProblem('Ada.Lovelace', 'ada.lovelace')).toMatch(/user name/);
    expect(passwordProblem('a long passphrase', 'ada')).toBeUndefined();
  });

  it('keeps accounts in admin.json (0600), names compared without case, no password until set', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'admin-accounts-'));
    dirs.push(dir);
    const accounts = new AdminAccounts(dir);
    expect(accounts.hasAdmin()).toBe(false);
    await accounts.create('Ada');
    expect(statSync(join(dir, 'admin.json')).mode & 0o777).toBe(0o600);
    expect(await accounts.verify('ada', '')).toBeUndefined();
    await accounts.setPassword('ADA', 'a long passphrase');
    const again = new AdminAccounts(dir);
    expect((await again.verify('ada', 'a long passphrase'))?.username).toBe('Ada');
    expect(await again.verify('nobody', 'a long passphrase')).toBeUndefined();
    await expect(again.create('ada')).rejects.toThrow(/already exists/);
    await expect(again.create('bad name')).rejects.toThrow(/letters, digits/);
  });
});

describe('setup code', () => {
  it('is 10 unambiguous characters, works once, forgives case and dashes, and expires', () => {
    const c = clock();
    const setup = new SetupCode(3_600_000, c.now);
    const { code } = setup.issue();
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/);
    expect(setup.claim('WRONG-CODE0')).toBe('wrong');
    expect(setup.claim(` ${code.toLowerCase().replace('-', '')} `)).toBe('ok');
    setup.consume();
    expect(setup.claim(code)).toBe('used');
    expect(setup.current()).toBeUndefined();
    const next = setup.issue();
    expect(next.code).not.toBe(code);
    c.t += 3_600_000;
    expect(setup.claim(next.code)).toBe('expired');
    expect(new SetupCode().claim('anything')).toBe('none');
  });

  it('is claimed by the first right answer: busy for the others until consumed or released', () => {
    const setup = new SetupCode();
    const { code } = setup.issue();
    expect(setup.claim(code)).toBe('ok');
    expect(setup.claim(code)).toBe('busy');
    expect(setup.claim('WRONG-CODE0')).toBe('wrong');
    expect(setup.current()).toBeUndefined();
    setup.release();
    expect(setup.current()?.code).toBe(code);
    expect(setup.claim(code)).toBe('ok');
    setup.consume();
    setup.release(); // too late: used stays used
    expect(setup.claim(code)).toBe('used');
  });
});

describe('first account', () => {
  it('of two concurrent first accounts one is created, the other refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'admin-accounts-'));
    dirs.push(dir);
    const accounts = new AdminAccounts(dir);
    const results = await Promise.allSettled([accounts.createFirst('ada', 'a long passphrase'), accounts.createFirst('eve', 'a long passphrase')]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({ code: 'exists' });
    expect(new AdminAccounts(dir).list()).toHaveLength(1);
  });

  it('removes accounts but never the last one, and records sign-ins', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'admin-accounts-'));
    dirs.push(dir);
    const accounts = new AdminAccounts(dir);
    await accounts.create('ada', 'a long passphrase');
    await accounts.create('grace', 'another long passphrase', 'ada');
    accounts.recordSignIn('GRACE', '127.0.0.1', new Date('2026-01-02T03:04:05Z'));
    expect(new AdminAccounts(dir).get('grace')).toMatchObject({ createdBy: 'ada', lastSignInAt: '2026-01-02T03:04:05.000Z', lastSignInFrom: '127.0.0.1' });
    expect(() => accounts.remove('nobody')).toThrow(expect.objectContaining({ code: 'missing' }));
    accounts.remove('ada');
    expect(() => accounts.remove('grace')).toThrow(expect.objectContaining({ code: 'last' }));
    expect(new AdminAccounts(dir).list().map((a) => a.username)).toEqual(['grace']);
  });
});

describe('local login links', () => {
  it('work once, within their lifetime', () => {
    const c = clock();
    const links = new LocalLoginTokens(60_000, c.now);
    const a = links.issue();
    const b = links.issue();
    expect(links.consume(a)).toBe(true);
    expect(links.consume(a)).toBe(false);
    c.t += 60_001;
    expect(links.consume(b)).toBe(false);
    expect(links.consume('made-up')).toBe(false);
  });
});

describe('lockout', () => {
  /** Reserves and fails one attempt. */
  const failOnce = (t: LoginThrottle, address: string, account: string) => {
    const r = t.reserve(address, account);
    if (!r.ok) throw new Error('unexpectedly locked');
    return r.attempt.fail();
  };

  it('locks an account from one address after 5 failures in the window, and releases when the oldest leaves it', () => {
    const c = clock();
    const t = new LoginThrottle({ now: c.now });
    const outcomes = [];
    for (let i = 0; i < 4; i++) {
      outcomes.push(failOnce(t, '10.0.0.1', i % 2 ? 'ADA' : 'ada'));
      c.t += 60_000;
    }
    expect(outcomes).toEqual([{ remaining: 4 }, { remaining: 3 }, { remaining: 2 }, { remaining: 1 }]);
    const locked = failOnce(t, '10.0.0.1', 'ada');
    expect(locked).toMatchObject({ locked: true, account: 'ada' });
    // The first failure was 4 minutes ago: 11 minutes left.
    expect(lockoutMessage(locked as Extract<LockoutState, { locked: true }>)).toMatch(/^Too many failed attempts for this account from this address\. Try again in 11 minutes, .*scim-bridge admin unlock ada/);
    expect(t.reserve('10.0.0.1', 'ada').ok).toBe(false);
    // Other addresses, and other names from this one, are not locked.
    expect(t.check('10.0.0.2', 'ada').locked).toBe(false);
    expect(t.check('10.0.0.1', 'grace').locked).toBe(false);
    c.t += 11 * 60_000;
    expect(t.check('10.0.0.1', 'ada').locked).toBe(false);
  });

  it('counts attempts still being checked: the sixth concurrent one is refused', () => {
    const t = new LoginThrottle();
    const held = Array.from({ length: 5 }, () => t.reserve('10.0.0.1', 'ada'));
    expect(held.every((r) => r.ok)).toBe(true);
    const sixth = t.reserve('10.0.0.1', 'ada');
    expect(sixth).toMatchObject({ ok: false, state: { inFlight: true } });
    // One of them turns out right: the others' failures are forgotten with it.
    (held[0] as Extract<Reservation, { ok: true }>).attempt.succeed();
    expect(t.reserve('10.0.0.1', 'ada').ok).toBe(true);
  });

  it('a cancelled reservation counts nothing; a settled one settles once', () => {
    const t = new LoginThrottle({ maxFailures: 2 });
    const a = t.reserve('10.0.0.1', 'ada') as Extract<Reservation, { ok: true }>;
    a.attempt.cancel();
    const b = t.reserve('10.0.0.1', 'ada') as Extract<Reservation, { ok: true }>;
    expect(b.attempt.fail()).toEqual({ remaining: 1 });
    expect(b.attempt.fail()).toEqual({ remaining: 1 });
    expect(t.check('10.0.0.1', 'ada').locked).toBe(false);
  });

  it('unlocks by name, by address, or all; and obeys the unlock file of its data dir', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'admin-unlock-'));
    dirs.push(dir);
    const t = new LoginThrottle({ maxFailures: 1, dataDir: dir });
    failOnce(t, '10.0.0.1', 'ada');
    failOnce(t, '10.0.0.2', 'ada');
    failOnce(t, '10.0.0.1', 'grace');
    expect(t.unlock({ username: 'ADA', address: '10.0.0.1' })).toBe(1);
    expect(t.check('10.0.0.1', 'ada').locked).toBe(false);
    expect(t.check('10.0.0.2', 'ada').locked).toBe(true);
    requestUnlock(dir, { address: '10.0.0.1' });
    expect(t.check('10.0.0.1', 'grace').locked).toBe(false);
    expect(t.check('10.0.0.2', 'ada').locked).toBe(true);
    requestUnlock(dir, {});
    expect(t.check('10.0.0.2', 'ada').locked).toBe(false);
    expect(() => requestUnlock(dir, { address: 'nope' })).toThrow(/"nope" is not an IP address/);
  });

  it('warns on the last two tries only', () => {
    expect(lastTriesWarning(3, 15 * 60_000)).toBeUndefined();
    expect(lastTriesWarning(2, 15 * 60_000)).toBe('2 more failed attempts from this address will lock this account here for 15 minutes.');
    expect(lastTriesWarning(1, 15 * 60_000)).toMatch(/^1 more failed attempt from/);
  });
});

describe('sessions', () => {
  it('end after the idle time or the absolute limit, and are found only by their id', () => {
    const c = clock();
    const s = new AdminSessions({ idleMs: 1_000, absoluteMs: 5_000, now: c.now });
    const { id, session } = s.create('ada', 'password');
    expect(session.csrfToken).toHaveLength(43);
    expect(s.get(id).session?.username).toBe('ada');
    expect(s.get(id + 'x').session).toBeUndefined();
    for (let i = 0; i < 4; i++) {
      c.t += 900;
      expect(s.get(id).session).toBeDefined();
    }
    c.t += 1_500;
    expect(s.get(id)).toEqual({ expired: true });
    const other = s.create('ada', 'local');
    c.t += 1_001;
    expect(s.get(other.id).expired).toBe(true);
  });

  it('signs a user out everywhere but the session that changed the password', () => {
    const s = new AdminSessions();
    const a = s.create('ada', 'password');
    const b = s.create('ada', 'password');
    const c = s.create('grace', 'password');
    s.destroyAllFor('ada', a.id);
    expect(s.get(a.id).session).toBeDefined();
    expect(s.get(b.id).session).toBeUndefined();
    expect(s.get(c.id).session).toBeDefined();
  });
});
