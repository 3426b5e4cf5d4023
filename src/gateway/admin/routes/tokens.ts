/**
 * SCIM tokens: list, create (the value is in that one answer only), revoke, rotate with a grace
 * period. An edit that stops a token is in force before the answer: the verifier reloads
 * access.json right after the write, with no await in between.
 */
import { Router } from 'express';
import { z } from 'zod';
import { createToken, readAccess, revokeToken, rotateToken } from '../../auth/index.js';
import type { CreatedTokenInfo } from '../api-types.js';
import type { AdminContext } from '../context.js';
import { AdminError, parseBody } from '../errors.js';
import { tokenInfo, tokenState } from '../views.js';

const DAY = 86_400_000;

const expiry = {
  /** Days from now; absent or null: never expires. */
  expiresInDays: z.number().int().min(1).max(3650).nullable().optional(),
};

const createBody = z.object({
  name: z.string().trim().min(1, 'give the token a name that says who uses it, e.g. "Okta"').max(100),
  connection: z.string().min(1).default('default'),
  ...expiry,
  /** Onyx's option: a new token for a connection revokes the connection's other tokens. */
  revokeOthers: z.boolean().default(false),
});

const rotateBody = z.object({
  /** How long the old token keeps working (hours); default one day. */
  graceHours: z.number().min(0).max(24 * 90).default(24),
  revokeNow: z.boolean().default(false),
  ...expiry,
});

function findToken(ctx: AdminContext, id: string) {
  const t = readAccess(ctx.deps.config.dataDir).tokens.find((x) => x.id === id);
  if (!t) throw AdminError.notFound(`There is no token ${id}.`);
  return t;
}

export function tokenRoutes(ctx: AdminContext): Router {
  const r = Router();
  const dataDir = ctx.deps.config.dataDir;

  r.get('/tokens', (req, res) => {
    const now = Date.now();
    const connection = typeof req.query.connection === 'string' ? req.query.connection : undefined;
    const tokens = readAccess(dataDir)
      .tokens.filter((t) => !connection || t.connection === connection)
      .map((t) => tokenInfo(t, now))
      .reverse();
    res.json({ tokens });
  });

  r.post('/tokens', async (req, res) => {
    const body = parseBody(createBody, req);
    const access = readAccess(dataDir);
    if (!access.connections.some((c) => c.id === body.connection)) {
      throw AdminError.invalid(`There is no connection "${body.connection}"; create it on the Connections page first.`, 'connection');
    }
    const created = createToken(dataDir, {
      name: body.name,
      connection: body.connection,
      ...(body.expiresInDays ? { expiresAt: new Date(Date.now() + body.expiresInDays * DAY) } : {}),
    });
    const revoked: string[] = [];
    if (body.revokeOthers) {
      for (const t of access.tokens) {
        if (t.connection === body.connection && !t.revokedAt && t.id !== created.record.id) {
          revokeToken(dataDir, t.id);
          revoked.push(t.id);
        }
      }
    }
    ctx.deps.tokens?.refresh();
    await ctx.record(req, {
      connection: body.connection,
      action: 'token.create',
      resource: { type: 'Token', id: created.record.id, display: created.record.name },
      result: 'success',
      ...(revoked.length ? { detail: `revoked the connection's other tokens: ${revoked.join(', ')}` } : {}),
    });
    const answer: CreatedTokenInfo = { token: tokenInfo(created.record), value: created.token };
    res.status(201).json(answer);
  });

  r.post('/tokens/:id/revoke', async (req, res) => {
    const t = findToken(ctx, req.params.id as string);
    if (t.revokedAt) throw AdminError.conflict(`Token "${t.name}" is already revoked.`);
    const revoked = revokeToken(dataDir, t.id);
    ctx.deps.tokens?.refresh();
    await ctx.record(req, { connection: t.connection, action: 'token.revoke', resource: { type: 'Token', id: t.id, display: t.name }, result: 'success' });
    res.json({ token: tokenInfo(revoked) });
  });

  r.post('/tokens/:id/rotate', async (req, res) => {
    const body = parseBody(rotateBody, req);
    const t = findToken(ctx, req.params.id as string);
    const state = tokenState(t);
    if (state !== 'active') throw AdminError.conflict(`Token "${t.name}" is ${state === 'grace' ? 'already rotated' : state}; only an active token can be rotated.`);
    const rotated = rotateToken(dataDir, t.id, {
      graceMs: body.graceHours * 3_600_000,
      revokeNow: body.revokeNow,
      ...(body.expiresInDays ? { expiresAt: new Date(Date.now() + body.expiresInDays * DAY) } : {}),
    });
    ctx.deps.tokens?.refresh();
    await ctx.record(req, {
      connection: t.connection,
      action: 'token.rotate',
      resource: { type: 'Token', id: t.id, display: t.name },
      result: 'success',
      detail: body.revokeNow ? `replaced by ${rotated.record.id}; the old token was revoked at once` : `replaced by ${rotated.record.id}; the old token works until ${rotated.previous.expiresAt}`,
    });
    const answer: CreatedTokenInfo = { token: tokenInfo(rotated.record), value: rotated.token, previous: tokenInfo(rotated.previous) };
    res.status(201).json(answer);
  });

  return r;
}
