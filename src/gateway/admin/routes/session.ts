/**
 * Sign-in, sign-out, the first-run setup with the one-time code, the password change, and the
 * desktop app's one-time local login link.
 */
import { userInfo } from 'node:os';
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { ADMIN_USERNAME_RE, lockoutMessage, passwordProblem, type AdminSession } from '../../auth/index.js';
import type { SessionInfo } from '../api-types.js';
import { sessionOf, type AdminContext } from '../context.js';
import { AdminError, parseBody } from '../errors.js';
import { clearSessionCookie, clientAddress, readCookie, requireSession, sameOrigin, SESSION_COOKIE, setSessionCookie } from '../security.js';

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

function refuseLocked(ctx: AdminContext, address: string, account?: string): void {
  const state = ctx.throttle.check(address, account);
  if (state.locked) {
    throw new AdminError(429, 'locked', lockoutMessage(state), undefined, { 'Retry-After': String(Math.ceil(state.retryAfterMs / 1000)) });
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
  const trustProxy = ctx.deps.config.trustProxy;

  r.get('/session', (req, res) => {
    const { session } = ctx.sessions.get(readCookie(req, SESSION_COOKIE));
    res.json(sessionInfo(ctx, session));
  });

  r.post('/session/login', async (req: Request, res: Response) => {
    requireSameOrigin(req);
    const body = parseBody(loginBody, req);
    const address = clientAddress(req, trustProxy);
    refuseLocked(ctx, address, body.username);
    const account = await ctx.accounts.verify(body.username, body.password);
    if (!account) {
      ctx.throttle.fail(address, body.username);
      void ctx.deps.audit
        // A name that is no account may be a password typed in the wrong field: not recorded.
        .append([{ actor: { kind: 'admin', id: ctx.accounts.get(body.username)?.username ?? '(unknown user)' }, action: 'admin.login', result: 'failure', detail: `from ${address}` }])
        .catch(() => undefined);
      const after = ctx.throttle.check(address, body.username);
      if (after.locked) throw new AdminError(429, 'locked', lockoutMessage(after), undefined, { 'Retry-After': String(Math.ceil(after.retryAfterMs / 1000)) });
      throw new AdminError(401, 'wrong_credentials', 'The user name or password is not right.');
    }
    ctx.throttle.succeed(address, body.username);
    ctx.sessions.destroy(readCookie(req, SESSION_COOKIE));
    const { id, session } = ctx.sessions.create(account.username, 'password');
    setSessionCookie(req, res, id, trustProxy);
    await ctx.deps.audit.append([{ actor: { kind: 'admin', id: account.username }, action: 'admin.login', result: 'success', detail: `from ${address}` }]).catch(() => undefined);
    res.json(sessionInfo(ctx, session));
  });

  r.post('/session/setup', async (req, res) => {
    requireSameOrigin(req);
    if (ctx.accounts.hasAdmin()) throw AdminError.conflict('The admin account already exists; sign in instead.');
    const body = parseBody(setupBody, req);
    const address = clientAddress(req, trustProxy);
    refuseLocked(ctx, address);
    const check = ctx.setup.check(body.code);
    if (check !== 'ok') {
      if (check === 'wrong') ctx.throttle.fail(address);
      const message = {
        wrong: 'That setup code is not right. It is printed by `npm start` (or `scim-bridge serve`) when no admin account exists.',
        expired: 'The setup code has expired. Restart the gateway to get a new one.',
        used: 'The setup code was already used. Restart the gateway to get a new one.',
        none: 'There is no setup code. Restart the gateway to get one.',
      }[check];
      throw new AdminError(check === 'wrong' ? 401 : 410, 'setup_code', message, 'code');
    }
    const problem = passwordProblem(body.password, body.username);
    if (problem) throw AdminError.invalid(problem, 'password');
    const account = await ctx.accounts.create(body.username, body.password);
    ctx.setup.consume();
    ctx.throttle.succeed(address);
    const { id, session } = ctx.sessions.create(account.username, 'setup');
    setSessionCookie(req, res, id, trustProxy);
    await ctx.deps.audit.append([{ actor: { kind: 'admin', id: account.username }, action: 'admin.setup', result: 'success', detail: `admin account created from ${address}` }]).catch(() => undefined);
    ctx.deps.logger.info({ username: account.username }, 'console admin account created');
    res.status(201).json(sessionInfo(ctx, session));
  });

  r.post('/session/logout', requireSession(ctx), (req, res) => {
    ctx.sessions.destroy(readCookie(req, SESSION_COOKIE));
    clearSessionCookie(req, res, trustProxy);
    res.json(sessionInfo(ctx, undefined));
  });

  r.post('/session/password', requireSession(ctx), async (req, res) => {
    const session = sessionOf(req);
    const body = parseBody(passwordBody, req);
    const account = ctx.accounts.get(session.username);
    if (!account) throw AdminError.notFound('Your admin account no longer exists.');
    const address = clientAddress(req, trustProxy);
    if (account.passwordHash) {
      refuseLocked(ctx, address, account.username);
      if (!body.currentPassword || !(await ctx.accounts.verify(account.username, body.currentPassword))) {
        ctx.throttle.fail(address, account.username);
        throw new AdminError(401, 'wrong_credentials', 'The current password is not right.', 'currentPassword');
      }
    }
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
      account = await ctx.accounts.create(localAccountName());
      ctx.setup.consume();
      ctx.deps.logger.info({ username: account.username }, 'console admin account created by the desktop app (no password yet)');
    }
    ctx.sessions.destroy(readCookie(req, SESSION_COOKIE));
    const { id } = ctx.sessions.create(account.username, 'local');
    setSessionCookie(req, res, id, ctx.deps.config.trustProxy);
    await ctx.deps.audit.append([{ actor: { kind: 'admin', id: account.username }, action: 'admin.login', result: 'success', detail: 'local sign-in from the desktop app' }]).catch(() => undefined);
    res.redirect(303, '/#/');
  });
  return r;
}
