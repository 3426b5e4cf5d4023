/**
 * Connections and their policies and connectors. Config-file connections are shown read-only;
 * console-managed ones go through the connection registry (which refuses to change a config-file
 * one, and keeps secret values in the secret store, never in its file).
 */
import { Router } from 'express';
import { z } from 'zod';
import { CONNECTION_NAME_RE } from '../../auth/index.js';
import { policySchema } from '../../provisioning/index.js';
import type { AdminContext } from '../context.js';
import { AdminError, parseBody } from '../errors.js';
import { getConnection, listConnections, requireRegistry } from '../views.js';

const specBody = z.object({
  policies: z.record(z.string(), z.unknown()).default({}),
  connectors: z.array(z.unknown()).optional(),
});

const connectorBody = z.object({
  type: z.string().min(1),
  config: z.record(z.string(), z.unknown()).default({}),
  mapping: z.record(z.string(), z.unknown()).default({}),
});

function checkName(name: string): void {
  if (!CONNECTION_NAME_RE.test(name)) throw AdminError.invalid('Connection names are 1-63 lower-case letters, digits, "-" or "_", starting with a letter or digit.', 'name');
}

/** The connectors as the registry wants them back: secret placeholders are kept (the registry keeps the stored value). */
function specConnectors(ctx: AdminContext, name: string): Array<Record<string, unknown>> {
  const current = ctx.deps.connections?.()?.get(name);
  return (current?.connectors ?? []).map((c) => ({ id: c.id, type: c.type, config: c.config ?? {}, mapping: c.mapping ?? {} }));
}

export function connectionRoutes(ctx: AdminContext): Router {
  const r = Router();

  /** The JSON Schema of a connection's policies, for the console's policy form. */
  r.get('/connection-policy-schema', (_req, res) => {
    res.json({ schema: z.toJSONSchema(policySchema, { io: 'input', unrepresentable: 'any' }) });
  });

  r.get('/connections', (_req, res) => {
    res.json({ connections: listConnections(ctx), managed: Boolean(ctx.deps.connections?.()) });
  });

  r.get('/connections/:name', (req, res) => {
    res.json(getConnection(ctx, req.params.name as string));
  });

  /** Creates or replaces a connection's policies (and its connectors, when given). */
  r.put('/connections/:name', async (req, res) => {
    const name = req.params.name as string;
    checkName(name);
    const registry = requireRegistry(ctx);
    const body = parseBody(specBody, req);
    const existed = listConnections(ctx).some((c) => c.name === name);
    const view = await registry.upsert(name, { policies: body.policies, connectors: body.connectors ?? specConnectors(ctx, name) });
    await ctx.record(req, { connection: name, action: existed ? 'connection.update' : 'connection.create', resource: { type: 'Connection', id: name }, result: 'success' });
    res.status(existed ? 200 : 201).json(getConnection(ctx, view.name));
  });

  r.delete('/connections/:name', async (req, res) => {
    const name = req.params.name as string;
    const registry = requireRegistry(ctx);
    const known = getConnection(ctx, name);
    if (known.implicit) throw AdminError.conflict(`Connection "${name}" has no policies or connectors to remove; its tokens and users stay (revoke its tokens on the Tokens page).`);
    await registry.remove(name);
    await ctx.record(req, { connection: name, action: 'connection.delete', resource: { type: 'Connection', id: name }, result: 'success' });
    res.status(204).end();
  });

  /** Adds or replaces one connector of a connection (secret fields: a new value, or left out to keep the stored one). */
  r.put('/connections/:name/connectors/:id', async (req, res) => {
    const name = req.params.name as string;
    const id = req.params.id as string;
    const registry = requireRegistry(ctx);
    const body = parseBody(connectorBody, req);
    const connection = getConnection(ctx, name);
    const connectors = specConnectors(ctx, name);
    const entry = { id, type: body.type, config: body.config, mapping: body.mapping };
    const at = connectors.findIndex((c) => c.id === id);
    if (at >= 0) connectors[at] = entry;
    else connectors.push(entry);
    await registry.upsert(name, { policies: registry.get(name)?.policies ?? connection.policies, connectors });
    await ctx.record(req, { connection: name, action: at >= 0 ? 'connector.update' : 'connector.create', resource: { type: 'Connector', id }, detail: `type ${body.type}`, result: 'success' });
    res.status(at >= 0 ? 200 : 201).json(getConnection(ctx, name));
  });

  r.delete('/connections/:name/connectors/:id', async (req, res) => {
    const name = req.params.name as string;
    const id = req.params.id as string;
    const registry = requireRegistry(ctx);
    const connection = getConnection(ctx, name);
    const connectors = specConnectors(ctx, name);
    if (!connectors.some((c) => c.id === id)) throw AdminError.notFound(`Connection "${name}" has no connector "${id}".`);
    await registry.upsert(name, { policies: registry.get(name)?.policies ?? connection.policies, connectors: connectors.filter((c) => c.id !== id) });
    await ctx.record(req, { connection: name, action: 'connector.delete', resource: { type: 'Connector', id }, result: 'success' });
    res.status(204).end();
  });

  return r;
}
