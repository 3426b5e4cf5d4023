/**
 * Sign-in, sign-out, the first-run setup with the one-time code, the password change, and the
 * desktop app's one-time local login link.
 */
import { userInfo } from 'node:os';
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { ADMIN_USERNAME_RE, AdminAccountError, lastTriesWarning, lockoutMessage, passwordProblem, SETUP_SCOPE, type AdminSession, type LockoutState, type LoginAttempt } from '../../auth/index.js';
import type { SessionInfo } from '../api-types.js';
import { sessionOf, type AdminContext } from '../context.js';
import { AdminError, parseBody } from '../errors.js';
import { clearSessionCookie, readCookie, requireSession, sameOrigin, SESSION_COOKIE, setSessionCookie } from '../security.js';

const loginBody = z.object({ username: z.string().min(1, 'enter your user name').max(64), password: z.string().min(1, 'enter your password').max(1024) });
const setupBody = z.object({
  code: z.string().min(1, 'enter the setup code').max(64),
  username: z.string().regex(ADMIN_USERNAME_RE, 'use letters, digits, ".", "_", "@" or "-" (up to 64 characters)'),
  password: z.string().max(1024),
});
const passwordBody = z.object({ currentPassword: z.string().max(1024).optional(), newPassword: z.string().max(1024) });

function sessionInfo(ctx: AdminContext, session: AdminSession | undefined): SessionInfo {
  const setupRequired = !ctx.accounts.hasAdmin();
  if (!session) return { authenticated: false, setupRequired };
  const account = ctx.accounts.get(session.username);
  return {
    authenticated: true,
    setupRequired,
    user: { username: session.username, hasPassword: Boolean(account?.passwordHash) },
    csrfToken: session.csrfToken,
    expiresAt: new Date(ctx.sessions.expiresAt(session)).toISOString(),
    idleMinutes: Math.round(ctx.sessions.idleMs / 60_000),
  };
}

function lockedError(state: Extract<LockoutState, { locked: true }>): AdminError {
  return new AdminError(429, 'locked', lockoutMessage(state), undefined, { 'Retry-After': String(Math.ceil(state.retryAfterMs / 1000)) });
}

/**
 * Reserves a sign-in attempt for the account from the client's address before any password is
 * checked (auth/admin-lockout.ts); 429 while that pair is locked.
 */
export function reserveAttempt(ctx: AdminContext, address: string, account: string): LoginAttempt {
  const reservation = ctx.throttle.reserve(address, account);
  if (!reservation.ok) throw lockedError(reservation.state);
  return reservation.attempt;
}

/** Counts a wrong password and builds the refusal: 429 once locked, else 401 with a warning on the last tries. */
export function wrongPassword(ctx: AdminContext, attempt: LoginAttempt, address: string, account: string, message: string, field?: string, code = 'wrong_credentials'): AdminError {
  const outcome = attempt.fail();
  if ('locked' in outcome) {
    ctx.deps.logger.warn({ account, address }, 'console sign-in locked for this account from this address (`scim-bridge admin unlock` lifts it)');
    return lockedError(outcome);
  }
  const warning = lastTriesWarning(outcome.remaining, ctx.throttle.windowMs);
  return new AdminError(401, code, warning ? `${message} ${warning}` : message, field);
}

/**
 * Step-up for sensitive changes (password, admin accounts): the signed-in admin's own password,
 * counted by the same lockout as a sign-in.
 */
export async function confirmPassword(ctx: AdminContext, req: Request, username: string, password: string | undefined, message: string, field: string): Promise<void> {
  const address = ctx.deps.proxy.clientAddress(req);
  const attempt = reserveAttempt(ctx, address, username);
  let ok;
  try {
    ok = Boolean(password) && Boolean(await ctx.accounts.verify(username, password!));
  } catch (err) {
    attempt.cancel();
    throw err;
  }
  if (!ok) throw wrongPassword(ctx, attempt, address, username, message, field);
  attempt.succeed();
}

/** Notes the sign-in on the account (the admin accounts page shows it); a failed write is only logged. */
function signedIn(ctx: AdminContext, username: string, from: string): void {
  try {
    ctx.accounts.recordSignIn(username, from);
  } catch (err) {
    ctx.deps.logger.warn({ err, username }, 'could not record the sign-in time in admin.json');
  }
}

/** A state-changing request without a session still has to come from our own origin. */
function requireSameOrigin(req: Request): void {
  if (!sameOrigin(req)) throw new AdminError(403, 'csrf', 'This request came from another site and was refused.');
}

/** A name for the account the desktop app creates: the OS user, if it makes a valid name. */
function localAccountName(): string {
  try {
    const name = userInfo().username;
    if (ADMIN_USERNAME_RE.test(name)) return name;
  } catch {
    /* no passwd entry (containers) */
  }
  return 'admin';
}

export function sessionRoutes(ctx: AdminContext): Router {
  const r = Router();

  r.get('/session', (req, res) => {
    const { session } = ctx.sessions.get(readCookie(req, SESSION_COOKIE));
    res.json(sessionInfo(ctx, session));
  });

  r.post('/session/login', async (req: Request, res: Response) => {
    requireSameOrigin(req);
    const body = parseBody(loginBody, req);
    const address = ctx.deps.proxy.clientAddress(req);
    const attempt = reserveAttempt(ctx, address, body.username);
    let account;
    try {
      account = await ctx.accounts.verify(body.username, body.password);
    } catch (err) {
      attempt.cancel();
      throw err;
    }
    if (!account) {
      void ctx.deps.audit
        // A name that is no account may be a password typed in the wrong field: not recorded.
        .append([{ actor: { kind: 'admin', id: ctx.accounts.get(body.username)?.username ?? '(unknown user)' }, action: 'admin.login', result: 'failure', detail: `from ${address}` }])
        .catch(() => undefined);
      throw wrongPassword(ctx, attempt, address, body.username, 'The user name or password is not right.');
    }
    attempt.succeed();
    signedIn(ctx, account.username, address);
    ctx.sessions.destroy(readCookie(req, SESSION_COOKIE));
    const { id, session } = ctx.sessions.create(account.username, 'password');
    setSessionCookie(req, res, id, ctx.deps.proxy);
    await ctx.deps.audit.append([{ actor: { kind: 'admin', id: account.username }, action: 'admin.login', result: 'success', detail: `from ${address}` }]).catch(() => undefined);
    res.json(sessionInfo(ctx, session));
  });

  r.post('/session/setup', async (req, res) => {
    requireSameOrigin(req);
    if (ctx.accounts.hasAdmin()) throw AdminError.conflict('The admin account already exists; sign in instead.');
    const body = parseBody(setupBody, req);
    const address = ctx.deps.proxy.clientAddress(req);
    const attempt = reserveAttempt(ctx, address, SETUP_SCOPE);
    const problem = passwordProblem(body.password, body.username);
    if (problem) {
      attempt.cancel();
      throw AdminError.invalid(problem, 'password');
    }
    // Claimed synchronously: a concurrent request with the same code gets `busy`, not a second account.
    const claim = ctx.setup.claim(body.code);
    if (claim !== 'ok') {
      if (claim === 'wrong') {
        throw wrongPassword(ctx, attempt, address, SETUP_SCOPE, 'That setup code is not right. It is printed by `npm start` (or `scim-bridge serve`) when no admin account exists.', 'code', 'setup_code');
      }
      attempt.cancel();
      if (claim === 'busy') throw AdminError.conflict('Setup with this code is already running in another request; sign in once it is done.');
      const message = {
        expired: 'The setup code has expired. Restart the gateway to get a new one.',
        used: 'The setup code was already used. Restart the gateway to get a new one.',
        none: 'There is no setup code. Restart the gateway to get one.',
      }[claim];
      throw new AdminError(410, 'setup_code', message, 'code');
    }
    let account;
    try {
      account = await ctx.accounts.createFirst(body.username, body.password);
    } catch (err) {
      attempt.cancel();
      if (err instanceof AdminAccountError && err.code === 'exists') {
        // The desktop app's first sign-in made the account meanwhile: the code is spent.
        ctx.setup.consume();
        throw AdminError.conflict(err.message);
      }
      ctx.setup.release();
      throw err instanceof AdminAccountError ? AdminError.invalid(err.message, 'username') : err;
    }
    ctx.setup.consume();
    attempt.succeed();
    signedIn(ctx, account.username, address);
    const { id, session } = ctx.sessions.create(account.username, 'setup');
    setSessionCookie(req, res, id, ctx.deps.proxy);
    await ctx.deps.audit.append([{ actor: { kind: 'admin', id: account.username }, action: 'admin.setup', result: 'success', detail: `admin account created from ${address}` }]).catch(() => undefined);
    ctx.deps.logger.info({ username: account.username }, 'console admin account created');
    res.status(201).json(sessionInfo(ctx, session));
  });

  r.post('/session/logout', requireSession(ctx), (req, res) => {
    ctx.sessions.destroy(readCookie(req, SESSION_COOKIE));
    clearSessionCookie(req, res, ctx.deps.proxy);
    res.json(sessionInfo(ctx, undefined));
  });

  r.post('/session/password', requireSession(ctx), async (req, res) => {
    const session = sessionOf(req);
    const body = parseBody(passwordBody, req);
    const account = ctx.accounts.get(session.username);
    if (!account) throw AdminError.notFound('Your admin account no longer exists.');
    if (account.passwordHash) await confirmPassword(ctx, req, account.username, body.currentPassword, 'The current password is not right.', 'currentPassword');
    const problem = passwordProblem(body.newPassword, account.username);
    if (problem) throw AdminError.invalid(problem, 'newPassword');
    await ctx.accounts.setPassword(account.username, body.newPassword);
    ctx.sessions.destroyAllFor(account.username, readCookie(req, SESSION_COOKIE));
    await ctx.record(req, { action: 'admin.password', result: 'success' });
    res.json(sessionInfo(ctx, session));
  });

  return r;
}

/** GET /auth/local/:token: the desktop app's one-time link; signs the local admin in, then opens the console. */
export function localLoginRoute(ctx: AdminContext): Router {
  const r = Router();
  r.get('/auth/local/:token', async (req, res) => {
    if (!ctx.localLogins.consume(String(req.params.token))) {
      res.redirect(303, '/#/login?link=expired');
      return;
    }
    let account = ctx.accounts.first();
    if (!account) {
      try {
        account = await ctx.accounts.createFirst(localAccountName());
        ctx.setup.consume();
        ctx.deps.logger.info({ username: account.username }, 'console admin account created by the desktop app (no password yet)');
      } catch (err) {
        if (!(err instanceof AdminAccountError && err.code === 'exists')) throw err;
        // A setup with the code is creating the first account right now: sign in to that one.
        res.redirect(303, '/#/login?link=expired');
        return;
      }
    }
    signedIn(ctx, account.username, 'the desktop app');
    ctx.sessions.destroy(readCookie(req, SESSION_COOKIE));
    const { id } = ctx.sessions.create(account.username, 'local');
    setSessionCookie(req, res, id, ctx.deps.proxy);
    await ctx.deps.audit.append([{ actor: { kind: 'admin', id: account.username }, action: 'admin.login', result: 'success', detail: 'local sign-in from the desktop app' }]).catch(() => undefined);
    res.redirect(303, '/#/');
  });
  return r;
}
