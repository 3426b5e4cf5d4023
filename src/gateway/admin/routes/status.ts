/** GET /api/status: what the status page shows at a glance. */
import { readFileSync } from 'node:fs';
import { Router } from 'express';
import { readAccess } from '../../auth/index.js';
import type { ConnectionStatus, KeychainState, StatusInfo } from '../api-types.js';
import type { AdminContext } from '../context.js';
import { countOutbox, listConnections, sharedTargets } from '../views.js';

let version: string | undefined;
function productVersion(): string {
  if (version) return version;
  // src/gateway/admin/routes -> root; dist/src/gateway/admin/routes -> root as well (one more level).
  for (const rel of ['../../../../package.json', '../../../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'scim-bridge' && pkg.version) return (version = pkg.version);
    } catch {
      /* try the next */
    }
  }
  return (version = 'unknown');
}

/** The secret store's own description (secrets/ describe()), in the console's words. */
export function keychainState(ctx: AdminContext): KeychainState {
  const secrets = ctx.deps.secrets?.();
  if (!secrets || typeof secrets.describe !== 'function') {
    return { state: 'not-configured', message: 'No secret store is configured: connectors that need a password or API key cannot be given one from the console.', warning: true };
  }
  try {
    const d = secrets.describe();
    const facts = { requested: d.requested, location: d.location, ...(d.fallbackReason ? { fallbackReason: d.fallbackReason } : {}) };
    // The fallback says so loudly (DESIGN: secrets); an encrypted file chosen in the configuration is a choice, not a warning.
    if (d.warning) return { state: d.backend, message: d.warning, warning: true, ...facts };
    const message = d.backend === 'keychain' ? `Connector secrets are in the OS keychain (${d.location}).` : `Connector secrets are in the ${d.location}, as the configuration asks (secretsBackend: ${d.requested}).`;
    return { state: d.backend, message, ...facts };
  } catch (err) {
    return { state: 'unavailable', message: `The secret store cannot be read: ${(err as Error).message}`, warning: true };
  }
}

export function statusRoutes(ctx: AdminContext): Router {
  const r = Router();
  const { deps } = ctx;

  r.get('/status', async (_req, res) => {
    const [stats, outbox] = await Promise.all([deps.store.stats(), deps.store.outboxList()]);
    const access = readAccess(deps.config.dataDir);
    const registryStatus = deps.connections?.()?.status?.() ?? [];
    const connections: ConnectionStatus[] = [];
    for (const c of listConnections(ctx)) {
      const [users, groups] = await Promise.all([
        deps.store.query({ connection: c.name, type: 'User', startIndex: 1, count: 0 }),
        deps.store.query({ connection: c.name, type: 'Group', startIndex: 1, count: 0 }),
      ]);
      const lastRequest = ctx.traffic.lastRequest(c.name);
      const first = access.connections.find((x) => x.id === c.name)?.firstRequestAt ?? c.firstRequestAt;
      connections.push({
        name: c.name,
        // The token verifier's record of the IdP's first call, not the traffic: the console's own test request does not count.
        connected: Boolean(first),
        ...(first ? { firstRequestAt: first } : {}),
        ...(lastRequest ? { lastRequest } : {}),
        activeTokens: c.activeTokens,
        users: users.totalResults,
        groups: groups.totalResults,
        outbox: countOutbox(outbox, (e) => e.connection === c.name),
        traffic: ctx.traffic.series(c.name),
        connectors: c.connectors.map((k) => {
          const s = registryStatus.find((x) => x.id === k.id);
          const running = deps.connectors.has(k.id);
          const state = s?.state === 'failed' ? 'failed' : running || s?.state === 'running' ? 'running' : 'stopped';
          return { id: k.id, type: k.type, state, ...(s?.error ? { error: s.error } : {}), ...(s?.since ? { since: s.since } : {}) };
        }),
      });
    }
    // The audit chain: the last check the console ran, else the integrity check made at start.
    let audit = ctx.auditCheck;
    if (!audit) {
      const v = await deps.audit.startupCheck();
      audit = v.ok
        ? { ok: true, checkedAt: ctx.startedAt.toISOString(), fromStart: true }
        : { ok: false, problem: `${v.file} line ${v.line}: ${v.reason}`, checkedAt: ctx.startedAt.toISOString(), fromStart: true };
    }
    const body: StatusInfo = {
      version: productVersion(),
      scimUrl: deps.scimUrl(),
      adminUrl: deps.adminUrl(),
      dataDir: deps.config.dataDir,
      startedAt: ctx.startedAt.toISOString(),
      store: { users: stats.users, groups: stats.groups, outboxPending: stats.outboxPending, outboxDead: stats.outboxDead },
      traffic: ctx.traffic.series(),
      connections,
      sharedTargets: sharedTargets(ctx),
      keychain: keychainState(ctx),
      audit,
      auditHealth: { lost: deps.audit.recordsLost(), behind: stats.auditBehind === true, leftOut: stats.auditRecordsLeftOut ?? 0 },
    };
    res.json(body);
  });

  return r;
}
