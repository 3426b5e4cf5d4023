/** Read models the routes share: connections from every source, token states, outbox counts, shared targets. */
import { readAccess, type AccessData, type TokenRecord } from '../auth/index.js';
import { sharedTargetMessage } from '../provisioning/index.js';
import type { OutboxEntry } from '../store/index.js';
import type { ConnectionInfo, ConnectorConfigView, SharedTargetInfo, TokenInfo, TokenState } from './api-types.js';
import type { AdminContext, ConnectionViewLike } from './context.js';
import { AdminError } from './errors.js';

export function tokenState(t: TokenRecord, now = Date.now()): TokenState {
  if (t.revokedAt) return 'revoked';
  if (t.expiresAt && Date.parse(t.expiresAt) <= now) return 'expired';
  if (t.replacedBy) return 'grace';
  return 'active';
}

/** A token record as the console may see it: no hash. */
export function tokenInfo(t: TokenRecord, now = Date.now()): TokenInfo {
  return {
    id: t.id,
    name: t.name,
    connection: t.connection,
    prefix: t.prefix,
    createdAt: t.createdAt,
    ...(t.expiresAt ? { expiresAt: t.expiresAt } : {}),
    ...(t.lastUsedAt ? { lastUsedAt: t.lastUsedAt } : {}),
    ...(t.revokedAt ? { revokedAt: t.revokedAt } : {}),
    ...(t.replacedBy ? { replacedBy: t.replacedBy } : {}),
    state: tokenState(t, now),
  };
}

export function usableTokens(access: AccessData, connection: string, now = Date.now()): number {
  return access.tokens.filter((t) => t.connection === connection && (tokenState(t, now) === 'active' || tokenState(t, now) === 'grace')).length;
}

/** Targets that connectors of more than one connection write to, with the admin's warning. */
export function sharedTargets(ctx: AdminContext): SharedTargetInfo[] {
  return (ctx.deps.connections?.()?.sharedTargets?.() ?? []).map((s) => ({ target: s.target, connectors: s.connectors, linking: s.linking, message: sharedTargetMessage(s) }));
}

/** The shared-target warnings of some connectors, each worded as that connector's. */
export function sharedTargetWarnings(ctx: AdminContext, connectorIds: readonly string[]): string[] {
  const shared = ctx.deps.connections?.()?.sharedTargets?.() ?? [];
  return connectorIds.flatMap((id) => shared.filter((s) => s.connectors.some((c) => c.id === id)).map((s) => sharedTargetMessage(s, id)));
}

function configView(c: ConnectionViewLike['connectors'][number]): ConnectorConfigView {
  const config = c.config && typeof c.config === 'object' && !Array.isArray(c.config) ? (c.config as Record<string, unknown>) : {};
  return { id: c.id, type: c.type, config, mode: c.mode === 'sync' ? 'sync' : 'async', mapping: (c.mapping ?? {}) as ConnectorConfigView['mapping'] };
}

/**
 * Every connection the gateway knows: the registry's (config file and console-managed) and the
 * ones that exist only for tokens in access.json (the first-start `default`, or `connection create`).
 */
export function listConnections(ctx: AdminContext): ConnectionInfo[] {
  const access = readAccess(ctx.deps.config.dataDir);
  const registry = ctx.deps.connections?.();
  const out = new Map<string, ConnectionInfo>();
  for (const v of registry?.list() ?? []) {
    out.set(v.name, {
      name: v.name,
      source: v.source,
      policies: v.policies,
      connectors: v.connectors.map(configView),
      activeTokens: usableTokens(access, v.name),
      ...(v.updatedAt ? { updatedAt: v.updatedAt } : {}),
    });
  }
  for (const c of access.connections) {
    const known = out.get(c.id);
    if (known) {
      if (c.firstRequestAt) known.firstRequestAt = c.firstRequestAt;
      continue;
    }
    out.set(c.id, {
      name: c.id,
      source: 'runtime',
      implicit: true,
      policies: registry?.policyOf?.(c.id) ?? {},
      connectors: [],
      activeTokens: usableTokens(access, c.id),
      ...(c.firstRequestAt ? { firstRequestAt: c.firstRequestAt } : {}),
    });
  }
  return [...out.values()].sort((a, b) => (a.name === 'default' ? -1 : b.name === 'default' ? 1 : a.name.localeCompare(b.name)));
}

export function getConnection(ctx: AdminContext, name: string): ConnectionInfo {
  const c = listConnections(ctx).find((x) => x.name === name);
  if (!c) throw AdminError.notFound(`There is no connection "${name}".`);
  return c;
}

export interface OutboxCounts {
  pending: number;
  /** Pending entries that have failed at least once (waiting for a retry). */
  failing: number;
  dead: number;
}

export function countOutbox(entries: OutboxEntry[], match: (e: OutboxEntry) => boolean = () => true): OutboxCounts {
  const c: OutboxCounts = { pending: 0, failing: 0, dead: 0 };
  for (const e of entries) {
    if (!match(e)) continue;
    if (e.state === 'dead') c.dead++;
    else {
      c.pending++;
      if (e.attempts > 0) c.failing++;
    }
  }
  return c;
}

/** The connection registry, or a 501 that says the feature is not in this build. */
export function requireRegistry(ctx: AdminContext) {
  const registry = ctx.deps.connections?.();
  if (!registry) throw AdminError.notAvailable('Managing connections from the console is not available in this gateway yet; declare connections in the config file.');
  return registry;
}
