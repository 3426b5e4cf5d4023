/**
 * The console's admin accounts: list (with the last sign-in, so an extra admin cannot go
 * unseen), add, remove. Adding and removing ask for the signed-in admin's own password (when the
 * account has one), counted by the sign-in lockout: a stolen session alone cannot plant an admin
 * or remove the real one.
 */
import { Router, type Request } from 'express';
import { z } from 'zod';
import { ADMIN_USERNAME_RE, AdminAccountError, passwordProblem, type AdminAccount } from '../../auth/index.js';
import type { AdminAccountInfo } from '../api-types.js';
import { sessionOf, type AdminContext } from '../context.js';
import { AdminError, parseBody } from '../errors.js';
import { confirmPassword } from './session.js';

const currentPassword = z.string().max(1024).optional();
const addBody = z.object({
  username: z.string().regex(ADMIN_USERNAME_RE, 'use letters, digits, ".", "_", "@" or "-" (up to 64 characters), starting with a letter or digit'),
  password: z.string().max(1024),
  currentPassword,
});
const removeBody = z.object({ currentPassword });

function info(account: AdminAccount, you: string): AdminAccountInfo {
  return {
    username: account.username,
    createdAt: account.createdAt,
    ...(account.createdBy ? { createdBy: account.createdBy } : {}),
    hasPassword: Boolean(account.passwordHash),
    ...(account.lastSignInAt ? { lastSignInAt: account.lastSignInAt } : {}),
    ...(account.lastSignInFrom ? { lastSignInFrom: account.lastSignInFrom } : {}),
    you: account.username.toLowerCase() === you.toLowerCase(),
  };
}

/** The signed-in admin's password, when the account has one (the desktop app's may not yet). */
async function stepUp(ctx: AdminContext, req: Request, password: string | undefined): Promise<string> {
  const { username } = sessionOf(req);
  if (ctx.accounts.get(username)?.passwordHash) await confirmPassword(ctx, req, username, password, 'Your password is not right.', 'currentPassword');
  return username;
}

function mapAccountError(err: unknown): unknown {
  if (!(err instanceof AdminAccountError)) return err;
  if (err.code === 'exists' || err.code === 'last') return AdminError.conflict(err.message);
  if (err.code === 'missing') return AdminError.notFound(err.message);
  return AdminError.invalid(err.message, 'username');
}

export function adminAccountRoutes(ctx: AdminContext): Router {
  const r = Router();

  r.get('/admins', (req, res) => {
    const you = sessionOf(req).username;
    res.json({ accounts: ctx.accounts.list().map((a) => info(a, you)) });
  });

  r.post('/admins', async (req, res) => {
    const body = parseBody(addBody, req);
    const problem = passwordProblem(body.password, body.username);
    if (problem) throw AdminError.invalid(problem, 'password');
    if (ctx.accounts.get(body.username)) throw AdminError.conflict(`An admin account "${body.username}" already exists.`);
    const actor = await stepUp(ctx, req, body.currentPassword);
    let account;
    try {
      account = await ctx.accounts.create(body.username, body.password, actor);
    } catch (err) {
      throw mapAccountError(err);
    }
    await ctx.record(req, { action: 'admin.account.create', result: 'success', detail: `admin account "${account.username}" added` });
    ctx.deps.logger.info({ username: account.username, by: actor }, 'console admin account added');
    res.status(201).json({ account: info(account, actor) });
  });

  r.delete('/admins/:username', async (req, res) => {
    const body = parseBody(removeBody, req);
    const username = String(req.params.username);
    const target = ctx.accounts.get(username);
    if (!target) throw AdminError.notFound(`There is no admin account "${username}".`);
    if (target.username.toLowerCase() === sessionOf(req).username.toLowerCase()) {
      throw AdminError.conflict('You cannot remove the account you are signed in with; sign in as another admin to remove it.');
    }
    await stepUp(ctx, req, body.currentPassword);
    let removed;
    try {
      removed = ctx.accounts.remove(target.username);
    } catch (err) {
      throw mapAccountError(err);
    }
    ctx.sessions.destroyAllFor(removed.username);
    await ctx.record(req, { action: 'admin.account.remove', result: 'success', detail: `admin account "${removed.username}" removed` });
    ctx.deps.logger.info({ username: removed.username, by: sessionOf(req).username }, 'console admin account removed');
    res.json({ accounts: ctx.accounts.list().map((a) => info(a, sessionOf(req).username)) });
  });

  return r;
}
