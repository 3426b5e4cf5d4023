/**
 * The `rest` connector: templated HTTP calls to a legacy REST API, one request template per
 * operation, with basic / bearer / API key / OAuth2 client-credentials auth. Placeholders such as
 * `{{userName}}` are substituted by lookup only (see template.ts): no expressions, no code.
 */
import { z } from 'zod';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  PermanentError,
  defineConnector,
  normalizeEndpoint,
  secret,
  type Connector,
  type ConnectorCapabilities,
  type ConnectorDefinition,
  type ConnectorManifest,
  type ConnectorOperation,
  type InitContext,
  type KeyResult,
  type OperationContext,
  type Preview,
  type PreviewRequest,
  type TargetEntry,
  type TargetGroup,
  type TargetIdentity,
  type TargetKey,
  type TargetUser,
  type TargetValue,
  type TestResult,
  type UserQuery,
} from '../sdk/index.js';
import { HttpClient, excerpt, networkError, parseRetryAfter, statusError, type FetchLike, type HttpResponse, type ResolvedAuth } from './http.js';
import { TemplateError, checkPlaceholders, placeholdersOf, readPath, renderBody, renderHeader, renderUrl, renderUrlUnder, type JsonValue, type TemplateScope } from './template.js';

const jsonValue: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(jsonValue), z.record(z.string(), jsonValue)]),
);

/** A JSON pointer (`/data/id`) or a dotted path (`data.id`). */
const fieldPath = z.string().describe('JSON pointer (/data/id) or dotted path (data.id)');

/** One HTTP call: method, URL template relative to baseUrl, headers and a JSON body template. */
const requestSchema = z
  .object({
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']),
    /** Relative to baseUrl, starting with "/"; placeholders are percent-encoded. */
    url: z.string().regex(/^\/[^\s]*$/, 'must be a path starting with "/" (relative to baseUrl), without spaces'),
    headers: z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'not a valid header name'), z.string()).default({}),
    /** JSON body template; omit for none. */
    body: jsonValue.optional(),
    /** Overrides the connector-wide timeout for this call. */
    timeoutMs: z.number().int().positive().max(600_000).optional(),
  })
  .strict();

/** Where a create's answer carries the new entry's key. */
const keySchema = z.union([
  z.object({ from: z.literal('body'), path: fieldPath }).strict(),
  z.object({ from: z.literal('location') }).strict(),
]);

const createSchema = requestSchema.extend({ key: keySchema.default({ from: 'body', path: '/id' }) });

const paginationSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }).strict(),
  /** The next page's URL in the body (`/links/next`) or the Link header (`rel="next"`). */
  z.object({ type: z.literal('nextLink'), path: fieldPath.optional(), linkHeader: z.boolean().default(false) }).strict(),
  /** `{{page}}` (from firstPage) and `{{limit}}` in the URL; stops at a short page. */
  z.object({ type: z.literal('page'), firstPage: z.number().int().min(0).default(1), pageSize: z.number().int().positive().default(100) }).strict(),
  /** `{{offset}}` and `{{limit}}` in the URL; stops at a short page. */
  z.object({ type: z.literal('offset'), pageSize: z.number().int().positive().default(100) }).strict(),
  /** `{{cursor}}` (empty on the first call) and `{{limit}}`; the next cursor is read at `path`. */
  z.object({ type: z.literal('cursor'), path: fieldPath, pageSize: z.number().int().positive().default(100) }).strict(),
]);

/** A lookup request: its answer holds one entry or a list (at `results`). */
const findSchema = requestSchema.extend({ results: fieldPath.default('') });
const listSchema = requestSchema.extend({
  results: fieldPath.default(''),
  pagination: paginationSchema.default({ type: 'none' }),
  /** Stops a misbehaving API that always returns a next page. */
  maxPages: z.number().int().positive().default(10_000),
});

/** How an entry in the API's answers maps back to the neutral model (for findUser / listUsers). */
const readSchema = z
  .object({
    key: fieldPath.default('/id'),
    userName: fieldPath.default('/userName'),
    /** A boolean field, or a field and the values that mean "active". */
    active: z
      .union([fieldPath, z.object({ path: fieldPath, activeValues: z.array(z.union([z.string(), z.number(), z.boolean()])).min(1) }).strict()])
      .default('/active'),
    externalId: fieldPath.optional(),
    /** Target attribute -> field path. */
    attributes: z.record(z.string(), fieldPath).default({}),
  })
  .strict();

const need =
  (field: string) =>
  (value: Record<string, unknown>, ctx: z.RefinementCtx): void => {
    // Secret fields are optional in the schema (the host merges the keychain value in before
    // validating); the auth type chosen decides which one is required.
    if (value[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'secret is not set (keep it in the secret store or give {"$env": "NAME"})' });
  };

const authSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }).strict(),
  z.object({ type: z.literal('basic'), username: z.string().min(1), password: secret(z.string().min(1), { optional: true }) }).strict().superRefine(need('password')),
  z.object({ type: z.literal('bearer'), token: secret(z.string().min(1), { optional: true }) }).strict().superRefine(need('token')),
  z
    .object({
      type: z.literal('apiKey'),
      header: z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/).default('X-API-Key'),
      /** Text before the key, e.g. "Token ". */
      prefix: z.string().default(''),
      key: secret(z.string().min(1), { optional: true }),
    })
    .strict()
    .superRefine(need('key')),
  z
    .object({
      type: z.literal('oauth2'),
      tokenUrl: z.url(),
      clientId: z.string().min(1),
      clientSecret: secret(z.string().min(1), { optional: true }),
      scope: z.string().optional(),
      audience: z.string().optional(),
      /** RFC 6749 §2.3.1: HTTP Basic (recommended) or client_id/client_secret in the form. */
      clientAuth: z.enum(['basic', 'body']).default('basic'),
    })
    .strict()
    .superRefine(need('clientSecret')),
]);

/** The `rest` connector's configuration. */
export const restConfigSchema = z
  .object({
    /** e.g. https://hr.example.org (a path prefix is kept: request URLs are appended to it). */
    baseUrl: z.url({ protocol: /^https?$/ }),
    auth: authSchema.default({ type: 'none' }),
    /** Sent with every request (e.g. a tenant header); placeholders allowed. */
    headers: z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/), z.string()).default({}),
    /** What {{active}} renders as: the API's own words for an active and an inactive account. */
    activeAs: z.object({ active: jsonValue, inactive: jsonValue }).strict().default({ active: true, inactive: false }),
    /** Per-call timeout; a timeout is a TransientError (the outbox retries). */
    timeoutMs: z.number().int().positive().max(600_000).default(10_000),
    maxResponseBytes: z.number().int().positive().default(5 * 1024 * 1024),
    /** The "Test connection" request; a GET of baseUrl when absent. */
    health: requestSchema.partial({ method: true }).extend({ expectStatus: z.array(z.number().int()).optional() }).optional(),
    operations: z
      .object({
        createUser: createSchema,
        updateUser: requestSchema,
        /** Without it, deactivate sends updateUser with {{active}} = false. */
        deactivateUser: requestSchema.optional(),
        reactivateUser: requestSchema.optional(),
        deleteUser: requestSchema.optional(),
        /** By userName; enables claim protection (lookup) and the 409-on-create recovery. */
        findUser: findSchema.optional(),
        findUserByExternalId: findSchema.optional(),
        /** Enables reconciliation (read). */
        listUsers: listSchema.optional(),
        createGroup: createSchema.optional(),
        updateGroup: requestSchema.optional(),
        deleteGroup: requestSchema.optional(),
        /** Uses {{member}} (one call per member) or {{members}} (one call with the list). */
        addMembers: requestSchema.optional(),
        removeMembers: requestSchema.optional(),
      })
      .strict(),
    read: readSchema.default({ key: '/id', userName: '/userName', active: '/active', attributes: {} }),
  })
  .strict();

/** The parsed configuration (secret fields never arrive here: they are read with ctx.secrets). */
export type RestConfig = z.infer<typeof restConfigSchema>;
type RequestTemplate = z.infer<typeof requestSchema>;
type OperationName = keyof RestConfig['operations'];

const USER_ROOTS = ['userName', 'scimId', 'externalId', 'active', 'attributes', 'operationId', 'attempt'] as const;
const GROUP_ROOTS = ['displayName', 'scimId', 'attributes', 'operationId', 'attempt'] as const;

/** Placeholders each operation's template may use; checked when the connector starts. */
const ROOTS: Record<OperationName, readonly string[]> = {
  createUser: USER_ROOTS,
  updateUser: [...USER_ROOTS, 'key'],
  deactivateUser: [...USER_ROOTS, 'key'],
  reactivateUser: [...USER_ROOTS, 'key'],
  deleteUser: ['key', 'operationId', 'attempt'],
  findUser: ['userName'],
  findUserByExternalId: ['externalId'],
  listUsers: ['page', 'offset', 'limit', 'cursor'],
  createGroup: GROUP_ROOTS,
  updateGroup: [...GROUP_ROOTS, 'key'],
  deleteGroup: ['key', 'operationId', 'attempt'],
  addMembers: ['key', 'member', 'members', 'operationId', 'attempt'],
  removeMembers: ['key', 'member', 'members', 'operationId', 'attempt'],
};

/** The capabilities every instance has; the others follow from the templates configured. */
const BASE_CAPABILITIES: ConnectorCapabilities = {
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
};

/**
 * Where an instance points: baseUrl (server and path prefix). Its credentials go to baseUrl's
 * server and, with OAuth2, to the token URL's: both count when deciding whether a saved secret
 * may stay.
 */
function restTargetIdentity(c: RestConfig): TargetIdentity {
  const server = normalizeEndpoint(c.baseUrl);
  const endpoints = [server];
  if (c.auth.type === 'oauth2') endpoints.push(normalizeEndpoint(c.auth.tokenUrl));
  return { target: `${server}${new URL(c.baseUrl).pathname.replace(/\/+$/, '')}`, endpoints };
}

/** The `rest` manifest, with every capability a configuration may enable. */
export const restManifest: ConnectorManifest<RestConfig> = {
  type: 'rest',
  displayName: 'REST API (templated HTTP)',
  version: '1.0.0',
  description:
    'Provisions users and groups into a legacy REST API with one templated HTTP call per operation; basic, bearer, API key or OAuth2 client-credentials auth.',
  configSchema: restConfigSchema,
  capabilities: BASE_CAPABILITIES,
  defaultMapping: {
    givenName: 'name.givenName',
    familyName: 'name.familyName',
    displayName: 'displayName',
    email: 'emails[primary eq true].value',
    title: 'title',
    employeeNumber: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber',
    department: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department',
  },
  targetIdentity: restTargetIdentity,
};

/** Dependencies the connector takes from its factory (tests wrap fetch to count or observe calls). */
export interface RestDeps {
  fetch?: FetchLike;
}

type Scope = TemplateScope;

function userScope(config: RestConfig, user: TargetUser, ctx: OperationContext | undefined, key?: TargetKey, active = user.active): Scope {
  return {
    userName: user.userName,
    scimId: user.scimId,
    externalId: user.externalId,
    active: active ? config.activeAs.active : config.activeAs.inactive,
    attributes: user.attributes,
    operationId: ctx?.operationId,
    attempt: ctx?.attempt,
    ...(key !== undefined ? { key } : {}),
  };
}

function groupScope(group: TargetGroup, ctx: OperationContext | undefined, key?: TargetKey): Scope {
  return {
    displayName: group.displayName,
    scimId: group.scimId,
    attributes: group.attributes,
    operationId: ctx?.operationId,
    attempt: ctx?.attempt,
    ...(key !== undefined ? { key } : {}),
  };
}

/** A request rendered from a template: what is sent, and what preview shows. */
interface Rendered {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: JsonValue;
  timeoutMs: number;
}

class RestConnector implements Connector<RestConfig> {
  private config!: RestConfig;
  private http!: HttpClient;
  private readonly fetch: FetchLike;

  constructor(
    deps: RestDeps,
    /** This instance's capabilities object (its definition's manifest): narrowed to the templates configured. */
    private readonly capabilities: ConnectorCapabilities,
  ) {
    this.fetch = deps.fetch ?? ((url, init) => fetch(url, init));
  }

  private get base(): string {
    return this.config.baseUrl.replace(/\/+$/, '');
  }

  async init(ctx: InitContext<RestConfig>): Promise<void> {
    this.config = ctx.config;
    const ops = this.config.operations;
    // Templates are checked now, so a typo is a start-up error naming the operation, not a dead letter.
    try {
      for (const [name, template] of Object.entries(ops) as [OperationName, RequestTemplate | undefined][]) {
        if (!template) continue;
        const roots = ROOTS[name];
        checkPlaceholders(template.url, roots, `operations.${name}.url`);
        checkPlaceholders(template.headers, roots, `operations.${name}.headers`);
        if (template.body !== undefined) checkPlaceholders(template.body, roots, `operations.${name}.body`);
        if (name === 'addMembers' || name === 'removeMembers') {
          const used = new Set(placeholdersOf([template.url, template.headers, template.body ?? null]));
          if (used.has('member') === used.has('members')) {
            throw new TemplateError(`operations.${name}: use either {{member}} (one call per member) or {{members}} (one call with the list)`);
          }
        }
      }
      checkPlaceholders(this.config.headers, ['operationId', 'attempt'], 'headers');
      if (this.config.health) checkPlaceholders([this.config.health.url, this.config.health.headers, this.config.health.body ?? null], [], 'health');
    } catch (err) {
      throw new PermanentError(`rest connector configuration: ${(err as Error).message}`, { code: 'invalid_config' });
    }
    // Capabilities follow the templates configured (one definition per instance; see README).
    Object.assign(this.capabilities, {
      delete: Boolean(ops.deleteUser),
      lookup: Boolean(ops.findUser),
      read: Boolean(ops.listUsers),
      groups: Boolean(ops.createGroup && ops.updateGroup && ops.deleteGroup),
      membership: Boolean(ops.createGroup && ops.updateGroup && ops.deleteGroup && ops.addMembers && ops.removeMembers),
    } satisfies ConnectorCapabilities);
    this.http = new HttpClient({
      fetch: this.fetch,
      auth: await this.resolveAuth(ctx),
      maxResponseBytes: this.config.maxResponseBytes,
      timeoutMs: this.config.timeoutMs,
    });
  }

  private async resolveAuth(ctx: InitContext<RestConfig>): Promise<ResolvedAuth> {
    const a = this.config.auth;
    // The host has already refused a configuration whose required secret is missing.
    const read = async (field: string): Promise<string> => (await ctx.secrets.get(`auth.${field}`)) ?? '';
    switch (a.type) {
      case 'none':
        return { type: 'none' };
      case 'basic':
        return { type: 'basic', username: a.username, password: await read('password') };
      case 'bearer':
        return { type: 'bearer', token: await read('token') };
      case 'apiKey':
        return { type: 'apiKey', header: a.header, prefix: a.prefix, key: await read('key') };
      case 'oauth2':
        return {
          type: 'oauth2',
          tokenUrl: a.tokenUrl,
          clientId: a.clientId,
          clientSecret: await read('clientSecret'),
          clientAuth: a.clientAuth,
          ...(a.scope !== undefined ? { scope: a.scope } : {}),
          ...(a.audience !== undefined ? { audience: a.audience } : {}),
        };
    }
  }

  async dispose(): Promise<void> {}

  // --- requests ---------------------------------------------------------------------------

  /** Renders a template against a scope; a bad value (a line break in a header) is a PermanentError. */
  private render(template: RequestTemplate, scope: Scope, urlOverride?: string): Rendered {
    try {
      const headers: Record<string, string> = {};
      const common = { operationId: scope.operationId, attempt: scope.attempt };
      for (const [name, value] of Object.entries(this.config.headers)) headers[name] = renderHeader(value, common, name);
      for (const [name, value] of Object.entries(template.headers)) headers[name] = renderHeader(value, scope, name);
      const body = template.body === undefined ? undefined : renderBody(template.body, scope);
      if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json';
      return {
        method: template.method,
        url: urlOverride ?? renderUrlUnder(this.base, template.url, scope),
        headers,
        ...(body !== undefined ? { body } : {}),
        timeoutMs: template.timeoutMs ?? this.config.timeoutMs,
      };
    } catch (err) {
      if (err instanceof TemplateError) throw new PermanentError(err.message, { code: 'template_error' });
      throw err;
    }
  }

  private async send(r: Rendered): Promise<HttpResponse> {
    return this.http.send({
      method: r.method,
      url: r.url,
      headers: r.headers,
      ...(r.body !== undefined ? { body: JSON.stringify(r.body) } : {}),
      timeoutMs: r.timeoutMs,
    });
  }

  /** Sends and throws the mapped error unless the status is 2xx. */
  private async call(r: Rendered, notFoundIsMissing: boolean): Promise<HttpResponse> {
    const res = await this.send(r);
    if (res.status >= 200 && res.status < 300) return res;
    throw statusError(res, { label: `${r.method} ${r.url}`, notFoundIsMissing });
  }

  private keyFrom(res: HttpResponse, rule: z.infer<typeof keySchema>, label: string): TargetKey {
    if (rule.from === 'location') {
      const location = res.headers.get('location');
      const segment = location ? new URL(location, this.base + '/').pathname.split('/').filter(Boolean).pop() : undefined;
      if (!segment) throw new PermanentError(`${label}: the answer has no Location header to take the key from (operations.*.key)`, { code: 'no_key' });
      return decodeURIComponent(segment);
    }
    const value = readPath(res.json, rule.path);
    if (typeof value === 'string' && value !== '') return value;
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    throw new PermanentError(`${label}: no key at "${rule.path}" in the answer (${excerpt(res.text, 200) || 'empty body'})`, { code: 'no_key' });
  }

  // --- users ------------------------------------------------------------------------------

  async createUser(user: TargetUser, ctx: OperationContext): Promise<KeyResult> {
    const t = this.config.operations.createUser;
    const r = this.render(t, userScope(this.config, user, ctx));
    const res = await this.send(r);
    if (res.status >= 200 && res.status < 300) return { key: this.keyFrom(res, t.key, `${r.method} ${r.url}`) };
    if (res.status === 409) throw await this.resolveConflict(user, res, `${r.method} ${r.url}`);
    throw statusError(res, { label: `${r.method} ${r.url}` });
  }

  /**
   * A 409 on create: a retry after a lost answer, or someone else's account. Look the userName up;
   * the same user (no externalId to tell otherwise) becomes an update of the key found.
   */
  private async resolveConflict(user: TargetUser, res: HttpResponse, label: string): Promise<Error> {
    const what = `${label} answered HTTP 409 (${excerpt(res.text, 200) || 'no body'})`;
    if (!this.config.operations.findUser) {
      return new ConflictError(`${what}; configure operations.findUser so the existing account can be found and updated`);
    }
    const found = await this.findUser({ userName: user.userName });
    if (!found) return new ConflictError(`${what}, and no account "${user.userName}" was found: another field is taken`);
    const theirs = found.user.externalId;
    if (theirs && user.externalId && theirs !== user.externalId) {
      return new ConflictError(`account "${user.userName}" (key ${found.key}) exists with another externalId: it is not managed by this gateway`);
    }
    return new AlreadyExistsError(`account "${user.userName}" already exists (key ${found.key})`, found.key);
  }

  private userRequest(kind: 'updateUser' | 'deactivateUser' | 'reactivateUser', key: TargetKey, user: TargetUser, ctx: OperationContext | undefined): Rendered {
    const ops = this.config.operations;
    const active = kind === 'deactivateUser' ? false : kind === 'reactivateUser' ? true : user.active;
    const template = (kind === 'deactivateUser' ? ops.deactivateUser : kind === 'reactivateUser' ? ops.reactivateUser : undefined) ?? ops.updateUser;
    return this.render(template, userScope(this.config, user, ctx, key, active));
  }

  /** A dedicated deactivate/reactivate template (an action endpoint) replaces the update for that operation. */
  private async writeUser(kind: 'updateUser' | 'deactivateUser' | 'reactivateUser', key: TargetKey, user: TargetUser, ctx: OperationContext): Promise<void> {
    await this.call(this.userRequest(kind, key, user, ctx), true);
  }

  async updateUser(key: TargetKey, user: TargetUser, ctx: OperationContext): Promise<void> {
    await this.writeUser('updateUser', key, user, ctx);
  }

  async deactivateUser(key: TargetKey, user: TargetUser, ctx: OperationContext): Promise<void> {
    await this.writeUser('deactivateUser', key, user, ctx);
  }

  async reactivateUser(key: TargetKey, user: TargetUser, ctx: OperationContext): Promise<void> {
    await this.writeUser('reactivateUser', key, user, ctx);
  }

  async deleteUser(key: TargetKey, ctx: OperationContext): Promise<void> {
    // 404/410 -> NotFoundError, which the host reports as already absent.
    await this.call(this.render(this.required('deleteUser'), { key, operationId: ctx.operationId, attempt: ctx.attempt }), true);
  }

  private required<N extends OperationName>(name: N): NonNullable<RestConfig['operations'][N]> {
    const t = this.config.operations[name];
    if (!t) throw new PermanentError(`operations.${name} is not configured`, { code: 'not_configured' });
    return t as NonNullable<RestConfig['operations'][N]>;
  }

  // --- groups -----------------------------------------------------------------------------

  async upsertGroup(group: TargetGroup, key: TargetKey | undefined, ctx: OperationContext): Promise<KeyResult> {
    if (key !== undefined) {
      try {
        await this.call(this.render(this.required('updateGroup'), groupScope(group, ctx, key)), true);
        return { key };
      } catch (err) {
        // Gone from the target (deleted by hand): create it again, as upsert promises.
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    const t = this.required('createGroup');
    const r = this.render(t, groupScope(group, ctx));
    const res = await this.call(r, false);
    return { key: this.keyFrom(res, t.key, `${r.method} ${r.url}`) };
  }

  async deleteGroup(key: TargetKey, ctx: OperationContext): Promise<void> {
    await this.call(this.render(this.required('deleteGroup'), { key, operationId: ctx.operationId, attempt: ctx.attempt }), true);
  }

  private memberRequests(kind: 'addMembers' | 'removeMembers', key: TargetKey, memberKeys: TargetKey[], ctx: OperationContext | undefined): Rendered[] {
    const t = this.required(kind);
    const base = { key, operationId: ctx?.operationId, attempt: ctx?.attempt };
    const perMember = placeholdersOf([t.url, t.headers, t.body ?? null]).includes('member');
    if (!perMember) return memberKeys.length ? [this.render(t, { ...base, members: memberKeys })] : [];
    return memberKeys.map((member) => this.render(t, { ...base, member }));
  }

  async addMembers(key: TargetKey, memberKeys: TargetKey[], ctx: OperationContext): Promise<void> {
    for (const r of this.memberRequests('addMembers', key, memberKeys, ctx)) {
      const res = await this.send(r);
      // 409 "already a member" is what adding a present member should be: nothing to do.
      if ((res.status >= 200 && res.status < 300) || res.status === 409) continue;
      throw statusError(res, { label: `${r.method} ${r.url}`, notFoundIsMissing: true });
    }
  }

  async removeMembers(key: TargetKey, memberKeys: TargetKey[], ctx: OperationContext): Promise<void> {
    const t = this.required('removeMembers');
    const perMember = placeholdersOf([t.url, t.headers, t.body ?? null]).includes('member');
    for (const r of this.memberRequests('removeMembers', key, memberKeys, ctx)) {
      const res = await this.send(r);
      if (res.status >= 200 && res.status < 300) continue;
      // Per member, 404 means "not a member" (or already gone): removing an absent member is a no-op.
      if (perMember && (res.status === 404 || res.status === 410)) continue;
      throw statusError(res, { label: `${r.method} ${r.url}`, notFoundIsMissing: true });
    }
  }

  // --- reading ----------------------------------------------------------------------------

  /** An entry of the API's answer in the neutral model; undefined when it has no key. */
  private toEntry(item: unknown): TargetEntry | undefined {
    const read = this.config.read;
    const rawKey = readPath(item, read.key);
    if (rawKey === undefined || rawKey === null || rawKey === '') return undefined;
    const activeRule = typeof read.active === 'string' ? { path: read.active, activeValues: [true, 'true'] } : read.active;
    const activeValue = readPath(item, activeRule.path);
    const attributes: Record<string, TargetValue> = {};
    for (const [attr, path] of Object.entries(read.attributes)) {
      const v = readPath(item, path);
      if (v === undefined) continue;
      attributes[attr] =
        v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
          ? v
          : Array.isArray(v) && v.every((x) => typeof x === 'string')
            ? (v as string[])
            : JSON.stringify(v);
    }
    const userName = readPath(item, read.userName);
    const externalId = read.externalId ? readPath(item, read.externalId) : undefined;
    return {
      key: String(rawKey),
      user: {
        ...(typeof userName === 'string' ? { userName } : {}),
        active: activeRule.activeValues.some((v) => v === activeValue),
        ...(typeof externalId === 'string' && externalId ? { externalId } : {}),
        attributes,
      },
    };
  }

  private itemsOf(res: HttpResponse, path: string, label: string): unknown[] {
    if (res.json === undefined) throw new PermanentError(`${label}: the answer is not JSON (${excerpt(res.text, 200) || 'empty'})`, { code: 'bad_response' });
    const found = readPath(res.json, path);
    if (found === undefined || found === null) return [];
    return Array.isArray(found) ? found : [found];
  }

  async findUser(query: UserQuery): Promise<TargetEntry | undefined> {
    const byName = 'userName' in query;
    const t = byName ? this.required('findUser') : this.config.operations.findUserByExternalId;
    // Without a template the API cannot be searched by externalId: nothing is found that way, and
    // the gateway goes on to look the userName up.
    if (!t) return undefined;
    const r = this.render(t, byName ? { userName: query.userName } : { externalId: query.externalId });
    const res = await this.send(r);
    if (res.status === 404) return undefined;
    if (res.status < 200 || res.status >= 300) throw statusError(res, { label: `${r.method} ${r.url}` });
    // A search may be fuzzy (prefix, contains): only an exact match counts.
    for (const item of this.itemsOf(res, t.results, `${r.method} ${r.url}`)) {
      const entry = this.toEntry(item);
      if (!entry) continue;
      if (byName ? entry.user.userName?.toLowerCase() === query.userName.toLowerCase() : entry.user.externalId === query.externalId) return entry;
    }
    return undefined;
  }

  async *listUsers(): AsyncIterable<TargetEntry> {
    const t = this.required('listUsers');
    const p = t.pagination;
    const limit = 'pageSize' in p ? p.pageSize : undefined;
    let page = p.type === 'page' ? p.firstPage : 0;
    let offset = 0;
    let cursor = '';
    let nextUrl: string | undefined;
    for (let n = 0; n < t.maxPages; n++) {
      const r = this.render(t, { page, offset, limit, cursor }, nextUrl);
      const res = await this.call(r, false);
      const items = this.itemsOf(res, t.results, `${r.method} ${r.url}`);
      for (const item of items) {
        const entry = this.toEntry(item);
        if (entry) yield entry;
      }
      switch (p.type) {
        case 'none':
          return;
        case 'page':
        case 'offset':
          if (items.length < p.pageSize) return;
          page++;
          offset += items.length;
          break;
        case 'cursor': {
          const next = readPath(res.json, p.path);
          if (next === undefined || next === null || next === '') return;
          cursor = String(next);
          break;
        }
        case 'nextLink': {
          const next = p.linkHeader ? linkNext(res.headers.get('link')) : readPath(res.json, p.path ?? '/links/next');
          if (typeof next !== 'string' || !next) return;
          const url = new URL(next, this.base + '/');
          // The credentials go with the request: never to another origin.
          if (url.origin !== new URL(this.base).origin) {
            throw new PermanentError(`${r.method} ${r.url}: next page ${url.origin} is on another host; not followed`, { code: 'bad_response' });
          }
          nextUrl = url.toString();
          break;
        }
      }
    }
    throw new PermanentError(`listUsers stopped after ${t.maxPages} pages (operations.listUsers.maxPages)`, { code: 'too_many_pages' });
  }

  // --- test and preview -------------------------------------------------------------------

  async test(): Promise<TestResult> {
    const h = this.config.health;
    const r: Rendered = h
      ? this.render({ method: h.method ?? 'GET', url: h.url, headers: h.headers, ...(h.body !== undefined ? { body: h.body } : {}), ...(h.timeoutMs ? { timeoutMs: h.timeoutMs } : {}) }, {})
      : { method: 'GET', url: this.config.baseUrl, headers: {}, timeoutMs: this.config.timeoutMs };
    const label = `${r.method} ${r.url}`;
    try {
      const res = await this.send(r);
      const ok = h?.expectStatus ? h.expectStatus.includes(res.status) : res.status >= 200 && res.status < 300;
      const status = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
      if (ok) return { ok: true, message: `${label} answered ${status} (${this.http.describeAuth()})`, details: { status: res.status } };
      if (res.status === 401 || res.status === 403) {
        return { ok: false, message: `${label} answered ${status}: the API refused ${this.http.describeAuth()}; check the credentials`, details: { status: res.status } };
      }
      const retry = parseRetryAfter(res.headers.get('retry-after'));
      return {
        ok: false,
        message: `${label} answered ${status}${retry !== undefined ? ` (retry after ${Math.ceil(retry / 1000)} s)` : ''}${res.text ? `: ${excerpt(res.text, 200)}` : ''}`,
        details: { status: res.status },
      };
    } catch (err) {
      const message = (err as Error).message;
      return { ok: false, message: message.startsWith(label) ? message : `${label}: ${message}` };
    }
  }

  private previewOf(r: Rendered, description?: string): PreviewRequest {
    // Exactly what would be sent, the credential replaced (the host redacts again as a safety net).
    return {
      description: description ?? `${r.method} ${r.url}`,
      detail: { method: r.method, url: r.url, headers: { Accept: 'application/json', ...r.headers, ...this.http.redactedAuthHeaders() }, ...(r.body !== undefined ? { body: r.body } : {}) },
    };
  }

  async preview(op: ConnectorOperation, ctx: OperationContext): Promise<Preview> {
    switch (op.kind) {
      case 'createUser': {
        const r = this.render(this.config.operations.createUser, userScope(this.config, op.user, ctx));
        const on409 = this.config.operations.findUser ? 'on HTTP 409 the account is looked up (findUser) and updated' : 'on HTTP 409 the operation fails (no findUser configured)';
        return { summary: `create account "${op.user.userName}"; ${on409}`, requests: [this.previewOf(r)] };
      }
      case 'updateUser':
      case 'deactivateUser':
      case 'reactivateUser':
        return { requests: [this.previewOf(this.userRequest(op.kind, op.key, op.user, ctx))] };
      case 'deleteUser':
        return { requests: [this.previewOf(this.render(this.required('deleteUser'), { key: op.key, operationId: ctx.operationId, attempt: ctx.attempt }))] };
      case 'upsertGroup':
        return {
          requests: [
            this.previewOf(
              op.key !== undefined
                ? this.render(this.required('updateGroup'), groupScope(op.group, ctx, op.key))
                : this.render(this.required('createGroup'), groupScope(op.group, ctx)),
            ),
          ],
        };
      case 'deleteGroup':
        return { requests: [this.previewOf(this.render(this.required('deleteGroup'), { key: op.key, operationId: ctx.operationId, attempt: ctx.attempt }))] };
      case 'addMembers':
      case 'removeMembers':
        return { requests: this.memberRequests(op.kind, op.key, op.memberKeys, ctx).map((r) => this.previewOf(r)) };
    }
  }
}

/** The `rel="next"` target of an RFC 8288 Link header. */
function linkNext(header: string | null): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(',')) {
    const m = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
    if (m && /(^|;)\s*rel="?([^";]*\s)?next(\s[^";]*)?"?\s*(;|$)/i.test(m[2])) return m[1];
  }
  return undefined;
}

/**
 * Creates the `rest` connector definition. Its manifest is a copy per definition: an instance
 * narrows the capabilities to the templates it was configured with (no findUser template, no
 * `lookup`), and the gateway builds one definition per instance.
 */
export function createRestConnector(deps: RestDeps = {}): ConnectorDefinition<RestConfig> {
  const manifest: ConnectorManifest<RestConfig> = { ...restManifest, capabilities: { ...BASE_CAPABILITIES } };
  return defineConnector(manifest, () => new RestConnector(deps, manifest.capabilities));
}

/** Internals for tests only. */
export const testing = { renderBody, renderUrl, renderUrlUnder, renderHeader, readPath, checkPlaceholders, parseRetryAfter, linkNext, networkError };
