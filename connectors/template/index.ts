/**
 * Template connector: a commented starting point for a connector to a REST-style target.
 * Copy this folder to connectors/<your-type>/, rename `template`, and replace every method body
 * that throws "not implemented". It is not registered anywhere; see README.md for the steps.
 */
import { z } from 'zod';
import {
  defineConnector,
  normalizeEndpoint,
  NotFoundError,
  PermanentError,
  secret,
  TransientError,
  type Connector,
  type ConnectorDefinition,
  type ConnectorManifest,
  type ConnectorOperation,
  type InitContext,
  type KeyResult,
  type OperationContext,
  type Preview,
  type TargetEntry,
  type TargetGroup,
  type TargetKey,
  type TargetUser,
  type TestResult,
  type UserQuery,
} from '../sdk/index.js';

/**
 * Configuration the admin fills in on the console. Secret fields are marked with `secret()`:
 * the gateway stores them in the OS keychain, they are absent from `ctx.config`, and you read
 * them with `ctx.secrets.get('<field>')`.
 */
export const templateConfigSchema = z.object({
  baseUrl: z.url(),
  /** Request timeout; a timeout is a TransientError, so keep it short and let the host retry. */
  timeoutMs: z.number().int().positive().default(10_000),
  apiKey: secret(z.string().min(1)),
});

/** Parsed configuration (secret fields are optional here because they never arrive in config). */
export type TemplateConfig = z.infer<typeof templateConfigSchema>;

/** The HTTP call the connector needs; injected so tests can pass a fake (Auth.js's adapter style). */
export type HttpClient = (url: string, init: RequestInit) => Promise<Response>;

function notImplemented(method: string): never {
  // A PermanentError: retrying an unimplemented method can only fill the dead-letter queue later.
  throw new PermanentError(`template connector: ${method} is not implemented: replace with your target's call`, {
    code: 'not_implemented',
  });
}

class TemplateConnector implements Connector<TemplateConfig> {
  private config!: TemplateConfig;
  private apiKey: string | undefined;

  constructor(private readonly http: HttpClient) {}

  async init(ctx: InitContext<TemplateConfig>): Promise<void> {
    // Keep init cheap and offline: the gateway starts connectors while targets may be down,
    // and a wrong secret must surface in test(), not as a start-up crash.
    this.config = ctx.config;
    this.apiKey = await ctx.secrets.get('apiKey');
  }

  async test(): Promise<TestResult> {
    // Never throw: the console shows `message` to an admin, so name the host and what failed.
    try {
      const res = await this.call('GET', '/');
      if (res.status === 401 || res.status === 403) {
        return { ok: false, message: `${this.config.baseUrl} refused the API key (HTTP ${res.status})` };
      }
      return { ok: res.ok, message: `${this.config.baseUrl} answered HTTP ${res.status}` };
    } catch (err) {
      return { ok: false, message: `cannot reach ${this.config.baseUrl}: ${(err as Error).message}` };
    }
  }

  async dispose(): Promise<void> {
    // Close pools and clients here.
  }

  /** One place for HTTP: auth header, timeout and the status -> error-class mapping. */
  private async call(method: string, path: string, body?: unknown): Promise<Response> {
    const res = await this.http(new URL(path, this.config.baseUrl).toString(), {
      method,
      headers: { 'content-type': 'application/json', ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(this.config.timeoutMs),
    });
    // Map once, here: 429 and 5xx are worth retrying, other 4xx are not.
    if (res.status === 429 || res.status >= 500) {
      const retryAfter = Number(res.headers.get('retry-after'));
      throw new TransientError(`${method} ${path}: HTTP ${res.status}`, {
        ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
      });
    }
    if (res.status === 404 && method !== 'GET') throw new NotFoundError(`${method} ${path}: not found`);
    return res;
  }

  // --- users -----------------------------------------------------------------------------
  // Create: find by a natural key first; if the same user is there, throw AlreadyExistsError(key)
  // (the host turns it into an update); if someone else's entry is there, throw ConflictError.
  async createUser(_user: TargetUser, _ctx: OperationContext): Promise<KeyResult> {
    return notImplemented('createUser');
  }

  // Update: send the full desired state, not a diff; return { key } if the key changed (rename).
  async updateUser(_key: TargetKey, _user: TargetUser, _ctx: OperationContext): Promise<KeyResult | void> {
    return notImplemented('updateUser');
  }

  async deactivateUser(_key: TargetKey, _user: TargetUser, _ctx: OperationContext): Promise<KeyResult | void> {
    return notImplemented('deactivateUser');
  }

  async reactivateUser(_key: TargetKey, _user: TargetUser, _ctx: OperationContext): Promise<KeyResult | void> {
    return notImplemented('reactivateUser');
  }

  // Delete: throw NotFoundError when the entry is already gone; the host counts that as success.
  async deleteUser(_key: TargetKey, _ctx: OperationContext): Promise<void> {
    return notImplemented('deleteUser');
  }

  // --- groups (delete these and the `groups`/`membership` capabilities if your target has none)
  async upsertGroup(_group: TargetGroup, _key: TargetKey | undefined, _ctx: OperationContext): Promise<KeyResult> {
    return notImplemented('upsertGroup');
  }

  async deleteGroup(_key: TargetKey, _ctx: OperationContext): Promise<void> {
    return notImplemented('deleteGroup');
  }

  async addMembers(_groupKey: TargetKey, _memberKeys: TargetKey[], _ctx: OperationContext): Promise<void> {
    return notImplemented('addMembers');
  }

  async removeMembers(_groupKey: TargetKey, _memberKeys: TargetKey[], _ctx: OperationContext): Promise<void> {
    return notImplemented('removeMembers');
  }

  // --- reading (reconciliation and claim protection) ------------------------------------
  async *listUsers(_ctx: OperationContext): AsyncIterable<TargetEntry> {
    notImplemented('listUsers');
  }

  async findUser(_query: UserQuery, _ctx: OperationContext): Promise<TargetEntry | undefined> {
    return notImplemented('findUser');
  }

  // --- dry-run: describe the request you would send; never send it -----------------------
  async preview(op: ConnectorOperation): Promise<Preview> {
    return { requests: [{ description: `not implemented: describe the ${op.kind} request for ${this.config.baseUrl}` }] };
  }
}

/** The template's manifest: change every field, and declare only what you implement. */
export const templateManifest: ConnectorManifest<TemplateConfig> = {
  type: 'template',
  displayName: 'Template (REST-style, not implemented)',
  version: '0.0.0',
  description: 'A starting point for connector authors; every operation throws "not implemented".',
  configSchema: templateConfigSchema,
  capabilities: {
    create: true,
    update: true,
    deactivate: true,
    reactivate: true,
    delete: true,
    groups: true,
    membership: true,
    read: true,
    lookup: true,
    dryRun: true,
    passwords: false,
  },
  // Where an instance points (docs/connectors.md#target-identity): the accounts it writes, and
  // where its API key goes. A saved key is only sent to these endpoints; another host needs it again.
  targetIdentity: (c) => ({ target: normalizeEndpoint(c.baseUrl), endpoints: [normalizeEndpoint(c.baseUrl)] }),
};

/** Creates the template definition; pass a fake `http` in tests, the real fetch in production. */
export function createTemplateConnector(http: HttpClient = fetch): ConnectorDefinition<TemplateConfig> {
  return defineConnector(templateManifest, () => new TemplateConnector(http));
}
