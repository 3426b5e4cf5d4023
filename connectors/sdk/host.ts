/**
 * The connector host: the one place that validates config, resolves secrets, checks the contract,
 * owns dry-run and redaction, classifies errors and applies the idempotency rules a connector
 * should not have to repeat. The gateway's outbox worker calls `apply`; it retries on
 * TransientError and dead-letters on PermanentError.
 */
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { connectorProblems, manifestProblems } from './define.js';
import {
  AlreadyExistsError,
  ConnectorConfigError,
  ConnectorContractError,
  ConnectorError,
  NotFoundError,
  PermanentError,
  TransientError,
  type ConfigIssue,
} from './errors.js';
import { deletePath, describeSecretFields, getPath, hasParent, redact, redactDeep, setPath, staticSecrets } from './secrets.js';
import type {
  Capability,
  Connector,
  ConnectorDefinition,
  ConnectorLogger,
  ConnectorManifest,
  ConnectorOperation,
  OperationContext,
  OperationKind,
  PreviewRequest,
  SecretReader,
  TargetEntry,
  TargetKey,
  TestResult,
  UserQuery,
} from './types.js';

/** errno / driver codes that mean "the target is unreachable right now": retried. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
  'EAI_AGAIN',
  'ENETUNREACH',
  'ENETDOWN',
  'EPIPE',
  'ECONNABORTED',
  // undici (global fetch) wraps these in `cause`.
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_HEADERS_TIMEOUT',
]);

/** The capability each operation needs. */
export const OPERATION_CAPABILITY: Readonly<Record<OperationKind, Capability>> = {
  createUser: 'create',
  updateUser: 'update',
  deactivateUser: 'deactivate',
  reactivateUser: 'reactivate',
  deleteUser: 'delete',
  upsertGroup: 'groups',
  deleteGroup: 'groups',
  addMembers: 'membership',
  removeMembers: 'membership',
};

const valueSchema = z.union([z.string(), z.number(), z.boolean(), z.array(z.string()), z.null()]);
const userSchema = z.object({
  scimId: z.string().min(1),
  externalId: z.string().optional(),
  userName: z.string().min(1),
  active: z.boolean(),
  attributes: z.record(z.string(), valueSchema),
  password: z.string().optional(),
});
const groupSchema = z.object({
  scimId: z.string().min(1),
  displayName: z.string().min(1),
  attributes: z.record(z.string(), valueSchema),
});
const base = { operationId: z.string().min(1), attempt: z.number().int().positive().optional() };
const key = z.string().min(1);

/** Validates an operation read back from the outbox (JSON on disk is a boundary). */
export const connectorOperationSchema: z.ZodType<ConnectorOperation> = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('createUser'), ...base, user: userSchema }),
  z.object({ kind: z.literal('updateUser'), ...base, key, user: userSchema }),
  z.object({ kind: z.literal('deactivateUser'), ...base, key, user: userSchema }),
  z.object({ kind: z.literal('reactivateUser'), ...base, key, user: userSchema }),
  z.object({ kind: z.literal('deleteUser'), ...base, key }),
  z.object({ kind: z.literal('upsertGroup'), ...base, key: key.optional(), group: groupSchema }),
  z.object({ kind: z.literal('deleteGroup'), ...base, key }),
  z.object({ kind: z.literal('addMembers'), ...base, key, memberKeys: z.array(key) }),
  z.object({ kind: z.literal('removeMembers'), ...base, key, memberKeys: z.array(key) }),
]);

/** A one-line human description of an operation, for the console, logs and generic dry-runs. */
export function describeOperation(op: ConnectorOperation): string {
  switch (op.kind) {
    case 'createUser':
      return `create user "${op.user.userName}" (SCIM id ${op.user.scimId})`;
    case 'updateUser':
      return `update user "${op.user.userName}" at ${op.key}`;
    case 'deactivateUser':
      return `deactivate user "${op.user.userName}" at ${op.key}`;
    case 'reactivateUser':
      return `reactivate user "${op.user.userName}" at ${op.key}`;
    case 'deleteUser':
      return `delete user at ${op.key}`;
    case 'upsertGroup':
      return op.key ? `update group "${op.group.displayName}" at ${op.key}` : `create group "${op.group.displayName}"`;
    case 'deleteGroup':
      return `delete group at ${op.key}`;
    case 'addMembers':
      return `add ${op.memberKeys.length} member(s) to group ${op.key}`;
    case 'removeMembers':
      return `remove ${op.memberKeys.length} member(s) from group ${op.key}`;
  }
}

function errorCodeChain(err: unknown): string[] {
  const codes: string[] = [];
  const seen = new Set<unknown>();
  const visit = (e: unknown, depth: number): void => {
    if (typeof e !== 'object' || e === null || seen.has(e) || depth > 8) return;
    seen.add(e);
    const rec = e as { code?: unknown; name?: unknown; cause?: unknown; errors?: unknown };
    if (typeof rec.code === 'string') codes.push(rec.code);
    if (rec.name === 'TimeoutError') codes.push('ETIMEDOUT');
    visit(rec.cause, depth + 1);
    // Node's happy-eyeballs connect throws an AggregateError of per-address errors.
    if (Array.isArray(rec.errors)) for (const x of rec.errors) visit(x, depth + 1);
  };
  visit(err, 0);
  return codes;
}

/**
 * Turns anything a connector threw into a ConnectorError: typed errors pass through; network
 * errno codes (anywhere in the cause chain) become TransientError; the rest PermanentError,
 * because retrying an unknown bug only delays the dead letter the admin has to see.
 */
export function classifyError(err: unknown): ConnectorError {
  if (err instanceof ConnectorError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const network = errorCodeChain(err).find((c) => NETWORK_ERROR_CODES.has(c));
  if (network) return new TransientError(`target unreachable (${network}): ${message}`, { code: 'target_unreachable', cause: err });
  return new PermanentError(message || 'unexpected error', { code: 'unexpected_error', cause: err });
}

/** Outcome of `apply`. */
export interface ApplyResult {
  kind: OperationKind;
  /** The key to link to the SCIM id (absent for deletes and membership changes). */
  key?: TargetKey;
  /** `applied`, or which idempotency rule made it a no-op / an update. */
  outcome: 'applied' | 'already-absent' | 'already-present' | 'updated-existing';
  durationMs: number;
}

/** What the console's dry-run shows; never produced by touching the target. */
export interface DryRunPlan {
  kind: OperationKind;
  operationId: string;
  connectorType: string;
  summary: string;
  /** false when the connector has no `preview` and the plan is the generic description. */
  detailed: boolean;
  requests: PreviewRequest[];
}

/** Emitted after every call, for metrics and the audit log. */
export interface OperationEvent {
  kind: OperationKind | 'test' | 'listUsers' | 'findUser';
  operationId?: string;
  durationMs: number;
  ok: boolean;
  outcome?: ApplyResult['outcome'];
  errorCode?: string;
  retryable?: boolean;
}

/** Options of createConnectorHost. */
export interface ConnectorHostOptions {
  /** The instance configuration as stored (secret fields absent or references: they are ignored). */
  config: unknown;
  /** The instance's secrets (the gateway passes its keychain-backed store; tests a record). */
  secrets: SecretReader | Record<string, string | undefined>;
  logger?: ConnectorLogger;
  onOperation?: (event: OperationEvent) => void;
}

/** A running, initialised connector instance. */
export interface ConnectorHost<C> {
  readonly manifest: ConnectorManifest<C>;
  /** The parsed config without secret fields (safe to show). */
  readonly config: C;
  apply(op: ConnectorOperation): Promise<ApplyResult>;
  dryRun(op: ConnectorOperation): Promise<DryRunPlan>;
  test(): Promise<TestResult>;
  /** Requires the `read` capability. */
  listUsers(): AsyncIterable<TargetEntry>;
  /** Requires the `lookup` capability. */
  findUser(query: UserQuery): Promise<TargetEntry | undefined>;
  /** Redacts every secret this instance has seen. */
  redact(text: string): string;
  dispose(): Promise<void>;
}

/** A logger that drops everything. */
export const silentLogger: ConnectorLogger = { debug() {}, info() {}, warn() {}, error() {} };

function redactingLogger(inner: ConnectorLogger, secrets: () => string[]): ConnectorLogger {
  const wrap =
    (level: keyof ConnectorLogger) =>
    (message: string, fields?: Record<string, unknown>): void => {
      const list = secrets();
      inner[level](redact(message, list), fields === undefined ? undefined : redactDeep(fields, list));
    };
  return { debug: wrap('debug'), info: wrap('info'), warn: wrap('warn'), error: wrap('error') };
}

/** Copies a ConnectorError with secrets removed from message, stack and cause. */
function sanitize(err: ConnectorError, secrets: string[]): ConnectorError {
  err.message = redact(err.message, secrets);
  if (err.stack) err.stack = redact(err.stack, secrets);
  if (err.cause !== undefined) {
    // A driver's error may quote a connection string: keep its text, redacted, and drop the object.
    const cause = err.cause;
    const text = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    const clean = new Error(redact(text, secrets));
    clean.stack = undefined;
    Object.defineProperty(err, 'cause', { value: clean, configurable: true, writable: true, enumerable: false });
  }
  return err;
}

function configIssues(error: z.ZodError): ConfigIssue[] {
  return error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));
}

/**
 * Validates the config against the manifest (secrets merged in for validation only), checks the
 * contract, creates and initialises an instance, and returns the host that applies operations.
 */
export async function createConnectorHost<C>(
  definition: ConnectorDefinition<C>,
  options: ConnectorHostOptions,
): Promise<ConnectorHost<C>> {
  const manifest = definition.manifest;
  const type = manifest.type;
  const connector: Connector<C> = definition.create();
  const problems = [
    ...manifestProblems(manifest as ConnectorManifest<unknown>),
    ...connectorProblems(manifest as ConnectorManifest<unknown>, connector as Connector<unknown>),
  ];
  if (problems.length) throw new ConnectorContractError(type, problems);

  const source: SecretReader =
    typeof (options.secrets as SecretReader).get === 'function'
      ? (options.secrets as SecretReader)
      : staticSecrets(options.secrets as Record<string, string | undefined>);
  const seen = new Set<string>();
  const secretList = (): string[] => [...seen];
  const secrets: SecretReader = {
    // Every value handed to the connector joins the redaction list, whatever field it came from.
    async get(field) {
      const value = await source.get(field);
      if (value) seen.add(value);
      return value;
    },
  };
  const logger = redactingLogger(options.logger ?? silentLogger, secretList);

  // Config: stored config never carries secret values (the gateway keeps references there), so
  // drop whatever sits at a secret path and validate with the keychain values merged in.
  const fields = describeSecretFields(manifest.configSchema);
  const input: unknown = options.config === undefined ? {} : structuredClone(options.config);
  for (const f of fields) deletePath(input, f.path);
  const withSecrets: unknown = structuredClone(input);
  for (const f of fields) {
    const value = await secrets.get(f.path);
    if (value !== undefined) setPath(withSecrets, f.path, value);
  }
  const parsed = manifest.configSchema.safeParse(withSecrets);
  if (!parsed.success) {
    const issues = configIssues(parsed.error).map((i) => ({ ...i, message: redact(i.message, secretList()) }));
    throw new ConnectorConfigError(type, issues);
  }
  const missing = fields.filter(
    (f) => f.required && hasParent(parsed.data, f.path) && getPath(parsed.data, f.path) === undefined,
  );
  if (missing.length) {
    throw new ConnectorConfigError(
      type,
      missing.map((f) => ({ path: f.path, message: 'secret is not set (it is kept in the OS keychain; set it in the console)' })),
    );
  }
  const config = parsed.data;
  for (const f of fields) deletePath(config, f.path);

  try {
    await connector.init({ config, secrets, logger });
  } catch (err) {
    throw sanitize(classifyError(err), secretList());
  }

  const caps = manifest.capabilities;
  const emit = (event: OperationEvent): void => {
    try {
      options.onOperation?.(event);
    } catch {
      // A metrics hook must never fail an operation.
    }
  };
  const opContext = (op: { operationId: string; attempt?: number }): OperationContext => ({
    operationId: op.operationId,
    attempt: op.attempt ?? 1,
    logger,
  });

  /** Strips what the connector did not ask for and checks the capability. */
  const prepare = (raw: ConnectorOperation): ConnectorOperation => {
    const checked = connectorOperationSchema.safeParse(raw);
    if (!checked.success) {
      const list = configIssues(checked.error).map((i) => `${i.path}: ${i.message}`).join('; ');
      throw new PermanentError(`invalid ${String((raw as { kind?: unknown }).kind)} operation: ${list}`, { code: 'invalid_operation' });
    }
    const op = checked.data;
    const cap = OPERATION_CAPABILITY[op.kind];
    if (!caps[cap]) {
      throw new PermanentError(`connector "${type}" does not support ${op.kind} (capability "${cap}" not declared)`, {
        code: 'unsupported_operation',
      });
    }
    if ('user' in op && op.user.password !== undefined && !caps.passwords) {
      const { password: _dropped, ...user } = op.user;
      return { ...op, user };
    }
    return op;
  };

  // Non-null assertions below are safe: prepare() checked the capability and the constructor
  // checked that each declared capability has its method.
  const run = async (op: ConnectorOperation): Promise<Omit<ApplyResult, 'durationMs' | 'kind'>> => {
    const ctx = opContext(op);
    switch (op.kind) {
      case 'createUser':
        try {
          return { key: (await connector.createUser!(op.user, ctx)).key, outcome: 'applied' };
        } catch (err) {
          // Design rule: create of an existing key = update (a retry after a crash is safe).
          if (!(err instanceof AlreadyExistsError)) throw err;
          if (!caps.update) return { key: err.key, outcome: 'already-present' };
          const updated = await connector.updateUser!(err.key, op.user, ctx);
          return { key: updated?.key ?? err.key, outcome: 'updated-existing' };
        }
      case 'updateUser':
        return { key: (await connector.updateUser!(op.key, op.user, ctx))?.key ?? op.key, outcome: 'applied' };
      case 'deactivateUser':
        return { key: (await connector.deactivateUser!(op.key, op.user, ctx))?.key ?? op.key, outcome: 'applied' };
      case 'reactivateUser':
        return { key: (await connector.reactivateUser!(op.key, op.user, ctx))?.key ?? op.key, outcome: 'applied' };
      case 'deleteUser':
      case 'deleteGroup':
        try {
          if (op.kind === 'deleteUser') await connector.deleteUser!(op.key, ctx);
          else await connector.deleteGroup!(op.key, ctx);
          return { outcome: 'applied' };
        } catch (err) {
          // Design rule: delete of a missing entry succeeds.
          if (err instanceof NotFoundError) return { outcome: 'already-absent' };
          throw err;
        }
      case 'upsertGroup':
        return { key: (await connector.upsertGroup!(op.group, op.key, ctx)).key, outcome: 'applied' };
      case 'addMembers':
        await connector.addMembers!(op.key, op.memberKeys, ctx);
        return { key: op.key, outcome: 'applied' };
      case 'removeMembers':
        await connector.removeMembers!(op.key, op.memberKeys, ctx);
        return { key: op.key, outcome: 'applied' };
    }
  };

  const opSecrets = (op: ConnectorOperation): string[] => {
    const list = secretList();
    if ('user' in op && op.user?.password) list.push(op.user.password);
    return list;
  };

  return {
    manifest,
    config,

    async apply(raw) {
      const started = performance.now();
      let op: ConnectorOperation | undefined;
      try {
        op = prepare(raw);
        const result = { kind: op.kind, ...(await run(op)), durationMs: performance.now() - started };
        emit({ kind: op.kind, operationId: op.operationId, durationMs: result.durationMs, ok: true, outcome: result.outcome });
        return result;
      } catch (thrown) {
        const err = sanitize(classifyError(thrown), opSecrets(op ?? raw));
        err.operationKind = raw.kind;
        err.durationMs = performance.now() - started;
        emit({
          kind: raw.kind,
          operationId: raw.operationId,
          durationMs: err.durationMs,
          ok: false,
          errorCode: err.code,
          retryable: err.retryable,
        });
        throw err;
      }
    },

    async dryRun(raw) {
      const op = prepare(raw);
      const summary = describeOperation(op);
      const base = { kind: op.kind, operationId: op.operationId, connectorType: type };
      // The host owns dry-run: only preview() is called, never a write method.
      if (!caps.dryRun || !connector.preview) {
        return { ...base, summary, detailed: false, requests: [{ description: summary }] };
      }
      try {
        const preview = await connector.preview(op, opContext(op));
        return redactDeep({ ...base, summary: preview.summary ?? summary, detailed: true, requests: preview.requests }, opSecrets(op));
      } catch (thrown) {
        throw sanitize(classifyError(thrown), opSecrets(op));
      }
    },

    async test() {
      const started = performance.now();
      let result: TestResult;
      try {
        result = await connector.test();
      } catch (thrown) {
        // test() should explain rather than throw; if it throws anyway, the message is the answer.
        const err = classifyError(thrown);
        result = { ok: false, message: err.message };
      }
      emit({ kind: 'test', durationMs: performance.now() - started, ok: result.ok });
      return redactDeep(result, secretList());
    },

    async *listUsers() {
      if (!caps.read || !connector.listUsers) {
        throw new PermanentError(`connector "${type}" cannot list users (capability "read" not declared)`, { code: 'unsupported_operation' });
      }
      try {
        yield* connector.listUsers(opContext({ operationId: `list-${Date.now()}` }));
      } catch (thrown) {
        throw sanitize(classifyError(thrown), secretList());
      }
    },

    async findUser(query) {
      if (!caps.lookup || !connector.findUser) {
        throw new PermanentError(`connector "${type}" cannot look users up (capability "lookup" not declared)`, { code: 'unsupported_operation' });
      }
      try {
        return await connector.findUser(query, opContext({ operationId: `find-${Date.now()}` }));
      } catch (thrown) {
        throw sanitize(classifyError(thrown), secretList());
      }
    },

    redact: (text) => redact(text, secretList()),

    async dispose() {
      try {
        await connector.dispose();
      } catch (thrown) {
        throw sanitize(classifyError(thrown), secretList());
      }
    },
  };
}
