/**
 * Connector types (manifest and config JSON Schema, for the console's generated form), connector
 * instances with their state, Test connection, and the dry-run preview. Secrets go in (a new
 * value, with the form) and never come out: the answers say only whether one is set. A saved
 * secret is used by Test connection only where the connector's saving would keep it
 * (provisioning's planSecrets): never sent to a host the form names instead.
 */
import { performance } from 'node:perf_hooks';
import { Router } from 'express';
import { z } from 'zod';
import { createConnectorHost, describeSecretFields, type ConnectorDefinition, type ConnectorOperation, type SecretReader, type TestResult } from '../../../../connectors/sdk/index.js';
import { DEFAULT_USER_MAPPING, isEnvRef, planSecrets, readAt, secretAccount, secretReaderFor, SecretReentryError, sharedTargetMessage, type SecretPlan } from '../../provisioning/index.js';
import type { ConnectorInfo, ConnectorTypeInfo, DryRunOutcome, SecretFieldState, TestOutcome } from '../api-types.js';
import type { AdminContext } from '../context.js';
import { AdminError, parseBody } from '../errors.js';
import { countOutbox, listConnections, sharedTargets } from '../views.js';

const TEST_TIMEOUT_MS = 20_000;

const testBody = z.object({
  type: z.string().min(1),
  config: z.record(z.string(), z.unknown()).default({}),
  /** The instance whose stored secrets to use for fields left empty in the form. */
  id: z.string().optional(),
});

const dryRunBody = z.object({
  /** A user of the connector's connection. */
  userId: z.string().min(1, 'choose a user to preview'),
  kind: z.enum(['auto', 'createUser', 'updateUser', 'deactivateUser', 'reactivateUser', 'deleteUser']).default('auto'),
});

const typeCache = new WeakMap<object, ConnectorTypeInfo>();

function gatewayMapping(): Record<string, string> {
  return Object.fromEntries(Object.entries(DEFAULT_USER_MAPPING).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

export function typeInfo(make: () => ConnectorDefinition<unknown>): ConnectorTypeInfo {
  const cached = typeCache.get(make);
  if (cached) return cached;
  const m = make().manifest;
  const info: ConnectorTypeInfo = {
    type: m.type,
    displayName: m.displayName,
    version: m.version,
    description: m.description,
    capabilities: Object.fromEntries(Object.entries(m.capabilities).filter(([, v]) => v === true)) as Record<string, boolean>,
    configSchema: z.toJSONSchema(m.configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>,
    secretFields: describeSecretFields(m.configSchema),
    // A type without a mapping of its own starts from the gateway's.
    defaultMapping: m.defaultMapping ?? gatewayMapping(),
  };
  typeCache.set(make, info);
  return info;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms / 1000} s`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

export function connectorRoutes(ctx: AdminContext): Router {
  const r = Router();
  const { deps } = ctx;

  r.get('/connector-types', (_req, res) => {
    res.json({ types: [...deps.connectorTypes.values()].map(typeInfo) });
  });

  r.get('/connectors', async (_req, res) => {
    const outbox = await deps.store.outboxList();
    const status = deps.connections?.()?.status?.() ?? [];
    const secrets = deps.secrets?.();
    const shared = sharedTargets(ctx);
    const items: ConnectorInfo[] = [];
    for (const c of listConnections(ctx)) {
      for (const k of c.connectors) {
        const make = deps.connectorTypes.get(k.type);
        const t = make ? typeInfo(make) : undefined;
        const s = status.find((x) => x.id === k.id);
        const instance = deps.connectors.get(k.id);
        const state: ConnectorInfo['state'] = s?.state === 'failed' ? 'failed' : instance ? 'running' : 'stopped';
        const mine = outbox.filter((e) => e.connector === k.id);
        const lastFailed = mine.filter((e) => e.lastError).sort((a, b) => (a.nextAttemptAt < b.nextAttemptAt ? 1 : -1))[0];
        // Whether each secret is set: has() only, never a value.
        const secretStates: SecretFieldState[] = [];
        for (const f of t?.secretFields ?? []) {
          const ref = readAt(k.config, f.path);
          const env = isEnvRef(ref) ? ref.$env : undefined;
          const set = env !== undefined || ((await secrets?.has?.(`${k.id}:${f.path}`).catch(() => false)) ?? false);
          secretStates.push({ path: f.path, required: f.required, set, ...(env ? { env } : {}) });
        }
        // A running instance's capabilities may follow its configuration (rest, script: read only with listUsers).
        const capabilities = instance ? (Object.fromEntries(Object.entries(instance.host.manifest.capabilities).filter(([, v]) => v === true)) as Record<string, boolean>) : (t?.capabilities ?? {});
        const sharing = shared.find((s) => s.connectors.some((x) => x.id === k.id));
        items.push({
          id: k.id,
          connection: c.name,
          source: c.source,
          type: k.type,
          displayName: t?.displayName ?? k.type,
          state,
          ...(s?.error ? { error: s.error } : make ? {} : { error: `unknown connector type "${k.type}"` }),
          ...(s?.since ? { since: s.since } : {}),
          ...(lastFailed ? { lastDeliveryError: { at: lastFailed.nextAttemptAt, message: lastFailed.lastError! } } : {}),
          capabilities,
          config: k.config,
          mode: k.mode,
          mapping: k.mapping,
          outbox: countOutbox(mine),
          secrets: secretStates,
          ...(sharing ? { sharedTarget: { target: sharing.target, with: sharing.connectors.filter((x) => x.connection !== c.name), message: sharedTargetMessage(sharing, k.id) } } : {}),
        });
      }
    }
    res.json({ connectors: items, managed: Boolean(deps.connections?.()) });
  });

  /** Tests a configuration from the form, before it is saved: a throw-away instance, disposed after. */
  r.post('/connectors/test', async (req, res) => {
    const body = parseBody(testBody, req);
    const make = deps.connectorTypes.get(body.type);
    if (!make) throw AdminError.invalid(`There is no connector type "${body.type}".`, 'type');
    const definition = make();
    const store = deps.secrets?.();
    // A secret typed in the form is used as is; one left empty, the saved connector's, where
    // saving this form would keep it (the same type, pointing where the secret was entered for).
    const saved = body.id ? deps.connections?.()?.connectorConfig?.(body.id) : undefined;
    let plan: SecretPlan;
    try {
      plan = await planSecrets(definition, body.id ?? '(unsaved)', saved, body, async (field) => Boolean(body.id && (await store?.has?.(secretAccount(body.id, field)))));
    } catch (err) {
      if (err instanceof SecretReentryError) throw AdminError.invalid(err.message, err.field);
      throw err;
    }
    const savedSecrets = saved && body.id ? secretReaderFor(body.id, saved.config, { get: async (account) => store?.get?.(account) }) : undefined;
    const typed = new Map(plan.fields.flatMap((f) => (f.action === 'set' ? [[f.path, f.value] as const] : [])));
    const kept = new Set(plan.fields.filter((f) => f.action === 'keep').map((f) => f.path));
    const secrets: SecretReader = {
      async get(field) {
        if (typed.has(field)) return typed.get(field);
        return kept.has(field) ? savedSecrets?.get(field) : undefined;
      },
    };
    const started = performance.now();
    let result: TestResult;
    let host: Awaited<ReturnType<typeof createConnectorHost>> | undefined;
    try {
      host = await withTimeout(createConnectorHost(definition, { config: body.config, secrets }), TEST_TIMEOUT_MS, 'The connector');
      result = await withTimeout(host.test(), TEST_TIMEOUT_MS, 'The target');
    } catch (err) {
      const e = err as Error & { issues?: Array<{ path: string; message: string }> };
      const issues = e.issues?.map((i) => `${i.path || 'config'}: ${i.message}`).join('; ');
      let message = issues ? `The configuration is not valid: ${issues}` : e.message;
      for (const v of typed.values()) message = message.split(v).join('[redacted]');
      result = { ok: false, message };
    } finally {
      await host?.dispose().catch(() => undefined);
    }
    const answer: TestOutcome = { ...result, durationMs: Math.round(performance.now() - started) };
    await ctx.record(req, { action: 'connector.test', resource: { type: 'Connector', id: body.id ?? '(unsaved)', ...(body.id ? {} : { display: `unsaved ${body.type} connector` }) }, result: answer.ok ? 'success' : 'failure', detail: answer.message.slice(0, 500) });
    res.json(answer);
  });

  /** Tests a running instance as configured. */
  r.post('/connectors/:id/test', async (req, res) => {
    const id = req.params.id as string;
    const instance = deps.connectors.get(id);
    const started = performance.now();
    let result: TestResult;
    if (!instance) {
      const s = deps.connections?.()?.status?.().find((x) => x.id === id);
      if (!s) throw AdminError.notFound(`There is no connector "${id}".`);
      result = { ok: false, message: `The connector is not running: ${s.error ?? s.state}` };
    } else {
      try {
        result = await withTimeout(instance.host.test(), TEST_TIMEOUT_MS, 'The target');
      } catch (err) {
        result = { ok: false, message: instance.host.redact((err as Error).message) };
      }
    }
    const answer: TestOutcome = { ...result, durationMs: Math.round(performance.now() - started) };
    await ctx.record(req, { connection: instance?.connection, action: 'connector.test', resource: { type: 'Connector', id }, result: answer.ok ? 'success' : 'failure', detail: answer.message.slice(0, 500) });
    res.json(answer);
  });

  /** What the connector would send for one user, without sending it (the host calls preview() only). */
  r.post('/connectors/:id/dry-run', async (req, res) => {
    const id = req.params.id as string;
    const body = parseBody(dryRunBody, req);
    const instance = deps.connectors.get(id);
    if (!instance) throw AdminError.conflict(`Connector "${id}" is not running; fix its configuration first (see its error).`);
    const user = await deps.store.get(instance.connection, 'User', body.userId);
    if (!user) throw AdminError.notFound(`Connection "${instance.connection}" has no user ${body.userId}.`);
    const key = await deps.store.linkOf(id, user.id);
    const mapped = instance.mapUser(user.id, user.data) as Extract<ConnectorOperation, { kind: 'createUser' }>['user'];
    const base = { operationId: `dry-run-${Date.now()}` };
    let kind = body.kind;
    if (kind === 'auto') kind = key ? (user.data.active === false ? 'deactivateUser' : 'updateUser') : 'createUser';
    if (kind !== 'createUser' && !key) throw AdminError.conflict(`User ${String(user.data.userName)} has not reached connector "${id}" yet (no target key): only a create can be previewed.`);
    const op: ConnectorOperation =
      kind === 'createUser'
        ? { kind, ...base, user: mapped }
        : kind === 'deleteUser'
          ? { kind, ...base, key: key! }
          : { kind, ...base, key: key!, user: mapped };
    const plan = await instance.host.dryRun(op);
    const { password: _never, ...shown } = mapped;
    const answer: DryRunOutcome = { kind: plan.kind, summary: plan.summary, detailed: plan.detailed, requests: plan.requests, mapped: shown };
    res.json(answer);
  });

  return r;
}
