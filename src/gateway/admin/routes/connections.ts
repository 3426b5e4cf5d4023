/**
 * Connections and their policies and connectors. Config-file connections are shown read-only;
 * console-managed ones go through the connection registry (which refuses to change a config-file
 * one, and keeps secret values in the secret store, never in its file).
 *
 * The registry's upsert replaces a connection's whole spec, so every edit here starts from what
 * is stored and changes only what the request names: a policy or a connector setting the console
 * does not show (or a newer gateway added) is sent back as it was, never dropped.
 */
import { Router } from 'express';
import { z } from 'zod';
import { CONNECTION_NAME_RE } from '../../auth/index.js';
import { connectorInstanceSchema, DEFAULT_POLICY, policySchema } from '../../provisioning/index.js';
import type { ConnectorSaved } from '../api-types.js';
import type { AdminContext, ConnectionsApi } from '../context.js';
import { AdminError, parseBody } from '../errors.js';
import { getConnection, listConnections, requireRegistry, sharedTargetWarnings } from '../views.js';

const specBody = z.object({
  /** Merged over the current policies: a policy left out keeps its value; `null` resets it to its default. */
  policies: z.record(z.string(), z.unknown()).default({}),
  /** The whole list when given; each entry is merged over the stored connector of the same id. */
  connectors: z.array(z.object({ id: z.string().min(1) }).loose()).optional(),
});

/** One connector: fields left out keep their stored value (a new connector gets the defaults). */
const connectorBody = z
  .object({
    type: z.string().min(1),
    config: z.record(z.string(), z.unknown()).optional(),
    mode: z.enum(['async', 'sync']).optional(),
    mapping: z.record(z.string(), z.unknown()).optional(),
  })
  .loose();

type StoredConnector = Record<string, unknown> & { id: string };

function checkName(name: string): void {
  if (!CONNECTION_NAME_RE.test(name)) throw AdminError.invalid('Connection names are 1-63 lower-case letters, digits, "-" or "_", starting with a letter or digit.', 'name');
}

/** A zod failure as a 400 naming the field (`policies.roleRules.0.group`, `mapping.mail`). */
function invalid(prefix: string, error: z.ZodError): AdminError {
  const issue = error.issues[0];
  const field = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
  return AdminError.invalid(field ? `${field}: ${issue.message}` : issue.message, field || undefined);
}

/** The connectors exactly as stored (secret fields as references, which the registry keeps), every setting included. */
function storedConnectors(registry: ConnectionsApi, name: string): StoredConnector[] {
  return (registry.get(name)?.connectors ?? []).map((c) => structuredClone({ ...c }) as StoredConnector);
}

/** The stored policies with the request's changes; `null` removes a policy so its default applies. */
export function mergePolicies(current: Record<string, unknown>, changes: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(changes)) {
    if (value === null) delete out[key];
    else out[key] = value;
  }
  const parsed = policySchema.safeParse(out);
  if (!parsed.success) throw invalid('policies', parsed.error);
  return out;
}

/** A connector entry from a request, over the stored one of the same id: what the request leaves out stays. */
export function mergeConnector(previous: StoredConnector | undefined, changes: Record<string, unknown>, id: string): StoredConnector {
  const defined = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
  const entry: StoredConnector = { ...(previous ?? {}), ...defined, id };
  // Only the fields the instance schema checks here; secrets and the start itself are the registry's.
  const parsed = connectorInstanceSchema.safeParse(entry);
  if (!parsed.success) throw invalid('', parsed.error);
  return entry;
}

export function connectionRoutes(ctx: AdminContext): Router {
  const r = Router();

  /** The JSON Schema of a connection's policies, and their defaults (what a new connection's form starts from). */
  r.get('/connection-policy-schema', (_req, res) => {
    res.json({ schema: z.toJSONSchema(policySchema, { io: 'input', unrepresentable: 'any' }), defaults: DEFAULT_POLICY });
  });

  r.get('/connections', (_req, res) => {
    res.json({ connections: listConnections(ctx), managed: Boolean(ctx.deps.connections?.()) });
  });

  r.get('/connections/:name', (req, res) => {
    res.json(getConnection(ctx, req.params.name as string));
  });

  /** Creates a connection, or changes its policies (and its connectors, when given). */
  r.put('/connections/:name', async (req, res) => {
    const name = req.params.name as string;
    checkName(name);
    const registry = requireRegistry(ctx);
    const body = parseBody(specBody, req);
    const known = listConnections(ctx).find((c) => c.name === name);
    const existed = known !== undefined;
    if (known?.source === 'config') throw AdminError.conflict(`Connection "${name}" is managed by the config file; change it there and restart the gateway.`);
    const current = registry.get(name)?.policies ?? known?.policies ?? {};
    const policies = mergePolicies(current, body.policies);
    const stored = storedConnectors(registry, name);
    const connectors = body.connectors ? body.connectors.map((c) => mergeConnector(stored.find((s) => s.id === c.id), c, c.id)) : stored;
    const view = await registry.upsert(name, { policies, connectors });
    await ctx.record(req, { connection: name, action: existed ? 'connection.update' : 'connection.create', resource: { type: 'Connection', id: name }, detail: Object.keys(body.policies).length ? `policies: ${Object.keys(body.policies).join(', ')}` : undefined, result: 'success' });
    const warnings = sharedTargetWarnings(ctx, connectors.map((c) => c.id));
    res.status(existed ? 200 : 201).json({ ...getConnection(ctx, view.name), ...(warnings.length > 0 ? { warnings } : {}) });
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

  /**
   * Adds or changes one connector of a connection. Secret fields: a new value (it goes to the
   * secret store), or left out to keep the stored one. Mode and mapping left out stay as they are.
   */
  r.put('/connections/:name/connectors/:id', async (req, res) => {
    const name = req.params.name as string;
    const id = req.params.id as string;
    const registry = requireRegistry(ctx);
    const body = parseBody(connectorBody, req);
    const connection = getConnection(ctx, name);
    if (connection.source === 'config') throw AdminError.conflict(`Connection "${name}" is managed by the config file; change its connectors there and restart the gateway.`);
    const connectors = storedConnectors(registry, name);
    const at = connectors.findIndex((c) => c.id === id);
    const previous = at >= 0 ? connectors[at] : undefined;
    // A new type starts from its own settings, not the old type's.
    const base = previous && previous.type === body.type ? previous : previous ? { ...previous, config: {} } : undefined;
    const entry = mergeConnector(base, body, id);
    if (at >= 0) connectors[at] = entry;
    else connectors.push(entry);
    await registry.upsert(name, { policies: registry.get(name)?.policies ?? connection.policies, connectors });
    await ctx.record(req, { connection: name, action: at >= 0 ? 'connector.update' : 'connector.create', resource: { type: 'Connector', id }, detail: `type ${body.type}, ${String(entry.mode ?? 'async')}`, result: 'success' });
    const status = registry.status?.().find((s) => s.id === id);
    const state: ConnectorSaved['connector']['state'] = status?.state === 'failed' ? 'failed' : ctx.deps.connectors.has(id) ? 'running' : 'stopped';
    const answer: ConnectorSaved = {
      connection: getConnection(ctx, name),
      connector: { id, state, ...(status?.error ? { error: status.error } : {}) },
      warnings: sharedTargetWarnings(ctx, [id]),
    };
    res.status(at >= 0 ? 200 : 201).json(answer);
  });

  r.delete('/connections/:name/connectors/:id', async (req, res) => {
    const name = req.params.name as string;
    const id = req.params.id as string;
    const registry = requireRegistry(ctx);
    const connection = getConnection(ctx, name);
    const connectors = storedConnectors(registry, name);
    if (!connectors.some((c) => c.id === id)) throw AdminError.notFound(`Connection "${name}" has no connector "${id}".`);
    await registry.upsert(name, { policies: registry.get(name)?.policies ?? connection.policies, connectors: connectors.filter((c) => c.id !== id) });
    await ctx.record(req, { connection: name, action: 'connector.delete', resource: { type: 'Connector', id }, result: 'success' });
    res.status(204).end();
  });

  return r;
}
