/** The console's sign-in parts on their own: password hashing, the setup code, local login links, lockout, sessions. */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminAccounts, AdminSessions, LocalLoginTokens, LoginThrottle, SetupCode, hashPassword, lockoutMessage, passwordProblem, verifyPasswordHash } from './index.js';

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
    expect(setup.check('WRONG-CODE0')).toBe('wrong');
    expect(setup.check(` ${code.toLowerCase().replace('-', '')} `)).toBe('ok');
    setup.consume();
    expect(setup.check(code)).toBe('used');
    expect(setup.current()).toBeUndefined();
    const next = setup.issue();
    expect(next.code).not.toBe(code);
    c.t += 3_600_000;
    expect(setup.check(next.code)).toBe('expired');
    expect(new SetupCode().check('anything')).toBe('none');
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
  it('locks an account after 5 failures in the window, and releases when the oldest leaves it', () => {
    const c = clock();
    const t = new LoginThrottle({ now: c.now });
    for (let i = 0; i < 4; i++) {
      t.fail(`10.0.0.${i}`, 'ada');
      c.t += 60_000;
    }
    expect(t.check('10.0.0.9', 'ada').locked).toBe(false);
    t.fail('10.0.0.9', 'Ada');
    const locked = t.check('10.0.0.10', 'ada');
    expect(locked).toMatchObject({ locked: true, scope: 'account' });
    // The first failure was 4 minutes ago: 11 minutes left.
    expect(lockoutMessage(locked as Extract<typeof locked, { locked: true }>)).toBe('Too many failed attempts for this account. Try again in 11 minutes.');
    c.t += 11 * 60_000;
    expect(t.check('10.0.0.10', 'ada').locked).toBe(false);
  });

  it('locks an address whatever the names it tries; success clears both', () => {
    const c = clock();
    const t = new LoginThrottle({ now: c.now, maxFailures: 3 });
    for (const u of ['a', 'b', 'c']) t.fail('10.0.0.1', u);
    expect(t.check('10.0.0.1', 'd')).toMatchObject({ locked: true, scope: 'address' });
    expect(t.check('10.0.0.2', 'd').locked).toBe(false);
    t.succeed('10.0.0.1', 'a');
    expect(t.check('10.0.0.1', 'd').locked).toBe(false);
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
