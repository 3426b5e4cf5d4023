/**
 * The rest connector's HTTP quirks against the legacy HR API: OAuth2 token caching and refresh,
 * Retry-After, timeouts, injection through templates, 409 on create, pagination styles, preview
 * and test() messages, and capabilities that follow the templates configured.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, PermanentError, TransientError, createConnectorHost, type ConnectorHost, type TargetUser } from '../sdk/index.js';
import { startLegacyApi, type LegacyApi } from '../../test/servers/legacy-api.js';
import { createRestConnector, type RestConfig } from './index.js';
import { legacyApiConfig } from './legacy-api.fixture.js';

const PASSWORD = 'Basic-Pa55word!';
const CLIENT_SECRET = 'client-S3cret-value';

let basic: LegacyApi;
let oauth: LegacyApi;
const hosts: ConnectorHost<RestConfig>[] = [];

beforeAll(async () => {
  basic = await startLegacyApi({ auth: { kind: 'basic', username: 'svc-scim', password: PASSWORD } });
  oauth = await startLegacyApi({ auth: { kind: 'oauth2', clientId: 'scim-bridge', clientSecret: CLIENT_SECRET, tokenTtlSeconds: 2 } });
});
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.dispose();
  basic.reset();
  oauth.reset();
});
afterAll(async () => {
  await basic?.close();
  await oauth?.close();
});

type Config = ReturnType<typeof legacyApiConfig>;

async function hostFor(api: LegacyApi, change: (c: Config) => unknown = (c) => c): Promise<ConnectorHost<RestConfig>> {
  const isOauth = api === oauth;
  const config = legacyApiConfig(
    api.url,
    isOauth ? { type: 'oauth2', tokenUrl: `${api.url}/oauth/token`, clientId: 'scim-bridge' } : { type: 'basic', username: 'svc-scim' },
  );
  const host = await createConnectorHost(createRestConnector(), {
    config: change(config),
    secrets: isOauth ? { 'auth.clientSecret': CLIENT_SECRET } : { 'auth.password': PASSWORD },
  });
  hosts.push(host);
  return host;
}

function sample(extra: Partial<TargetUser> = {}): TargetUser {
  const id = randomUUID();
  return {
    scimId: id,
    externalId: `ext-${id}`,
    userName: `user.${id.slice(0, 8)}@example.org`,
    active: true,
    attributes: { givenName: 'Grace', sn: 'Hopper', mail: `grace.${id.slice(0, 8)}@example.org` },
    ...extra,
  };
}

const op = () => ({ operationId: randomUUID() });

describe('OAuth2 client credentials', () => {
  it('caches the token across calls and fetches a new one when it expires', async () => {
    const host = await hostFor(oauth);
    const { key } = await host.apply({ kind: 'createUser', ...op(), user: sample() });
    await host.apply({ kind: 'deactivateUser', ...op(), key: key!, user: sample({ active: false }) });
    await host.apply({ kind: 'reactivateUser', ...op(), key: key!, user: sample() });
    expect(oauth.tokensIssued).toBe(1);
    // tokenTtlSeconds is 2: the connector refreshes shortly before expiry (10% early), without a 401.
    await new Promise((r) => setTimeout(r, 2_000));
    await host.apply({ kind: 'reactivateUser', ...op(), key: key!, user: sample() });
    expect(oauth.tokensIssued).toBe(2);
    expect(oauth.requests.filter((r) => r.path.startsWith('/api/')).length).toBe(4);
    const tokenRequests = oauth.requests.filter((r) => r.path === '/oauth/token');
    expect(tokenRequests).toHaveLength(2);
    // RFC 6749 §2.3.1: client authentication with HTTP Basic, grant in the form.
    expect(tokenRequests[0].headers.authorization).toMatch(/^Basic /);
    expect(tokenRequests[0].body).toBe('grant_type=client_credentials');
  });

  it('refreshes a revoked token once on 401 and retries the call', async () => {
    const host = await hostFor(oauth);
    await host.apply({ kind: 'createUser', ...op(), user: sample() });
    oauth.revokeTokens();
    const user = sample();
    const result = await host.apply({ kind: 'createUser', ...op(), user });
    expect(oauth.readAccount(result.key!)?.login).toBe(user.userName);
    expect(oauth.tokensIssued).toBe(2);
  });

  it('gives up after one refresh when the API keeps answering 401, without a secret in the error', async () => {
    const host = await hostFor(oauth);
    oauth.setFault({ status: 401 });
    const err = await host.apply({ kind: 'createUser', ...op(), user: sample() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as PermanentError).code).toBe('auth_failed');
    expect(oauth.tokensIssued).toBe(2);
    expect(oauth.requests.filter((r) => r.path === '/api/v1/accounts')).toHaveLength(2);
    expect((err as Error).message).not.toContain(CLIENT_SECRET);
    expect((err as Error).message).not.toMatch(/Bearer \S|Basic \S/);
  });

  it('puts client id and secret in the form when clientAuth is "body"', async () => {
    const host = await hostFor(oauth, (c) => ({ ...c, auth: { ...c.auth, clientAuth: 'body' } }));
    expect((await host.test()).ok).toBe(true);
    const [tokenRequest] = oauth.requests.filter((r) => r.path === '/oauth/token');
    expect(tokenRequest.headers.authorization).toBeUndefined();
    expect(new URLSearchParams(tokenRequest.body).get('client_id')).toBe('scim-bridge');
  });

  it('test() with a wrong client secret names the token endpoint and the client', async () => {
    const host = await createConnectorHost(createRestConnector(), {
      config: legacyApiConfig(oauth.url, { type: 'oauth2', tokenUrl: `${oauth.url}/oauth/token`, clientId: 'scim-bridge' }),
      secrets: { 'auth.clientSecret': 'wrong' },
    });
    hosts.push(host);
    const result = await host.test();
    expect(result.ok).toBe(false);
    expect(result.message).toContain(`${oauth.url}/oauth/token`);
    expect(result.message).toContain('refused client "scim-bridge"');
    expect(result.message).toContain('invalid_client');
  });
});

describe('transient failures', () => {
  it('429 with Retry-After in seconds is a TransientError carrying retryAfterMs', async () => {
    const host = await hostFor(basic);
    basic.setFault({ status: 429, retryAfter: '7', times: 1 });
    const err = await host.apply({ kind: 'createUser', ...op(), user: sample() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect(err).toMatchObject({ code: 'rate_limited', retryAfterMs: 7_000 });
    expect((err as Error).message).toMatch(/HTTP 429.*retry after 7 s/);
    // The fault was for one request only: the retry the outbox makes succeeds.
    expect((await host.apply({ kind: 'createUser', ...op(), user: sample() })).outcome).toBe('applied');
  });

  it('503 with Retry-After as an HTTP-date', async () => {
    const host = await hostFor(basic);
    basic.setFault({ status: 503, retryAfter: new Date(Date.now() + 30_000).toUTCString() });
    const err = (await host.apply({ kind: 'createUser', ...op(), user: sample() }).catch((e: unknown) => e)) as TransientError;
    expect(err).toBeInstanceOf(TransientError);
    expect(err.code).toBe('server_error');
    expect(err.retryAfterMs).toBeGreaterThan(28_000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it('a 5xx without Retry-After leaves the delay to the outbox backoff', async () => {
    const host = await hostFor(basic);
    basic.setFault({ status: 500 });
    const err = (await host.apply({ kind: 'deleteUser', ...op(), key: '1' }).catch((e: unknown) => e)) as TransientError;
    expect(err).toBeInstanceOf(TransientError);
    expect(err.retryAfterMs).toBeUndefined();
  });

  it('a slow answer times out as a TransientError within the configured time', async () => {
    const host = await hostFor(basic, (c) => ({ ...c, timeoutMs: 300 }));
    basic.setDelay(3_000);
    const started = Date.now();
    const err = await host.apply({ kind: 'createUser', ...op(), user: sample() }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(err).toBeInstanceOf(TransientError);
    expect(err).toMatchObject({ code: 'timeout' });
    expect((err as Error).message).toContain(`POST ${basic.url}/api/v1/accounts timed out after 300 ms`);
  });

  it('a per-operation timeout overrides the connector-wide one', async () => {
    const host = await hostFor(basic, (c) => ({ ...c, timeoutMs: 10_000, operations: { ...c.operations, deleteUser: { ...c.operations.deleteUser, timeoutMs: 200 } } }));
    basic.setDelay(2_000);
    const err = await host.apply({ kind: 'deleteUser', ...op(), key: '1' }).catch((e: unknown) => e);
    expect((err as Error).message).toContain('timed out after 200 ms');
  });
});

describe('idempotency and refusals', () => {
  it('409 on create looks the account up and updates it', async () => {
    const host = await hostFor(basic);
    const user = sample();
    // The account exists already (a create whose answer was lost), with stale fields.
    const first = await host.apply({ kind: 'createUser', ...op(), user: { ...user, attributes: { ...user.attributes, sn: 'Old' } } });
    const again = await host.apply({ kind: 'createUser', ...op(), user });
    expect(again).toMatchObject({ outcome: 'updated-existing', key: first.key });
    expect(basic.readAccount(first.key!)?.last_name).toBe('Hopper');
    expect(basic.countLogin(user.userName)).toBe(1);
  });

  it('409 for an account with another externalId is a ConflictError (not taken over)', async () => {
    const host = await hostFor(basic);
    const user = sample();
    await host.apply({ kind: 'createUser', ...op(), user: { ...user, externalId: 'someone-else' } });
    const err = await host.apply({ kind: 'createUser', ...op(), user }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toContain('not managed by this gateway');
  });

  it('409 without a findUser template is a ConflictError saying what to configure', async () => {
    const host = await hostFor(basic, (c) => {
      const { findUser: _f, ...operations } = c.operations;
      return { ...c, operations };
    });
    const user = sample();
    await host.apply({ kind: 'createUser', ...op(), user });
    const err = await host.apply({ kind: 'createUser', ...op(), user }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toContain('configure operations.findUser');
  });

  it('404 on delete is success; another 4xx is a PermanentError with the status and an excerpt of the body', async () => {
    const host = await hostFor(basic);
    expect((await host.apply({ kind: 'deleteUser', ...op(), key: '999999' })).outcome).toBe('already-absent');
    const err = await host.apply({ kind: 'createUser', ...op(), user: sample({ attributes: { mail: 'not-an-email' } }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err).toMatchObject({ code: 'http_422' });
    expect((err as Error).message).toContain(`POST ${basic.url}/api/v1/accounts answered HTTP 422`);
    expect((err as Error).message).toContain('is not an email address');
    expect((err as Error).message).not.toContain(PASSWORD);
    expect((err as Error).message).not.toContain(Buffer.from(`svc-scim:${PASSWORD}`).toString('base64'));
  });

  it('members as one call with the list ({{members}}), added and removed idempotently', async () => {
    const host = await hostFor(basic, (c) => ({
      ...c,
      operations: {
        ...c.operations,
        addMembers: { method: 'POST', url: '/api/v1/teams/{{key}}/members', body: { account_ids: '{{members}}' } },
        removeMembers: { method: 'DELETE', url: '/api/v1/teams/{{key}}/members', body: { account_ids: '{{members}}' } },
      },
    }));
    const a = (await host.apply({ kind: 'createUser', ...op(), user: sample() })).key!;
    const b = (await host.apply({ kind: 'createUser', ...op(), user: sample() })).key!;
    const team = (await host.apply({ kind: 'upsertGroup', ...op(), group: { scimId: randomUUID(), displayName: 'Batch', attributes: {} } })).key!;
    await host.apply({ kind: 'addMembers', ...op(), key: team, memberKeys: [a, b] });
    await host.apply({ kind: 'addMembers', ...op(), key: team, memberKeys: [a] });
    expect([...basic.teams.get(team)!.members].map(String).sort()).toEqual([a, b].sort());
    expect(JSON.parse(basic.requests.at(-1)!.body)).toEqual({ account_ids: [a] });
    await host.apply({ kind: 'removeMembers', ...op(), key: team, memberKeys: [a] });
    await host.apply({ kind: 'removeMembers', ...op(), key: team, memberKeys: [a] });
    expect([...basic.teams.get(team)!.members].map(String)).toEqual([b]);
    // With the list form, a 404 means the group is gone: that is not a no-op.
    const err = await host.apply({ kind: 'removeMembers', ...op(), key: 'T-999', memberKeys: [b] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'not_found' });
  });

  it('removing a member that is not in the team (the API answers 404) is a no-op', async () => {
    const host = await hostFor(basic);
    const { key: member } = await host.apply({ kind: 'createUser', ...op(), user: sample() });
    const { key: team } = await host.apply({ kind: 'upsertGroup', ...op(), group: { scimId: randomUUID(), displayName: 'Ops', attributes: {} } });
    expect((await host.apply({ kind: 'removeMembers', ...op(), key: team!, memberKeys: [member!] })).outcome).toBe('applied');
  });
});

describe('templates cannot be escaped', () => {
  it('a userName full of JSON is sent as one JSON string', async () => {
    const host = await hostFor(basic);
    const evil = 'evil","status":"disabled","department":"root';
    const { key } = await host.apply({ kind: 'createUser', ...op(), user: sample({ userName: evil }) });
    const stored = basic.readAccount(key!)!;
    expect(stored).toMatchObject({ login: evil, status: 'active', department: null });
  });

  it('a userName full of URL syntax stays one query value', async () => {
    const host = await hostFor(basic);
    const victim = await host.apply({ kind: 'createUser', ...op(), user: sample() });
    const found = await host.findUser({ userName: `x&login=${basic.readAccount(victim.key!)!.login}` });
    expect(found).toBeUndefined();
    const search = basic.requests.filter((r) => r.method === 'GET').at(-1)!;
    expect(search.path).toMatch(/^\/api\/v1\/accounts\?login=x%26login%3D/);
  });

  it('a key with path syntax stays one path segment', async () => {
    const host = await hostFor(basic);
    expect((await host.apply({ kind: 'deleteUser', ...op(), key: '../teams/T-1' })).outcome).toBe('already-absent');
    expect(basic.requests.at(-1)!.path).toBe('/api/v1/accounts/..%2Fteams%2FT-1');
  });

  it('an IdP value of ".", ".." or "" in a path is refused before anything is sent', async () => {
    const host = await hostFor(basic, (c) => ({
      ...c,
      operations: { ...c.operations, deactivateUser: { method: 'POST', url: '/api/v1/accounts/{{externalId}}/disable' } },
    }));
    const victim = await host.apply({ kind: 'createUser', ...op(), user: sample() });
    for (const externalId of ['..', '.', '']) {
      const before = basic.requests.length;
      const err = await host.apply({ kind: 'deactivateUser', ...op(), key: victim.key!, user: sample({ externalId, active: false }) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentError);
      expect(err).toMatchObject({ code: 'template_error', message: expect.stringMatching(/\{\{externalId\}\}/) });
      expect(basic.requests.length).toBe(before);
    }
    expect(basic.readAccount(victim.key!)!.status).toBe('active');
  });

  it('a line break in a header value is refused before anything is sent', async () => {
    const host = await hostFor(basic, (c) => ({
      ...c,
      operations: { ...c.operations, createUser: { ...c.operations.createUser, headers: { 'X-On-Behalf-Of': '{{userName}}' } } },
    }));
    const before = basic.requests.length;
    const err = await host.apply({ kind: 'createUser', ...op(), user: sample({ userName: 'ada\r\nX-Admin: yes' }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err).toMatchObject({ code: 'template_error' });
    expect(basic.requests.length).toBe(before);
  });

  it('an unknown placeholder is refused when the connector starts, naming it', async () => {
    const err = await hostFor(basic, (c) => ({
      ...c,
      operations: { ...c.operations, createUser: { ...c.operations.createUser, url: '/api/v1/accounts/{{key}}' } },
    })).catch((e: unknown) => e);
    expect((err as Error).message).toContain('operations.createUser.url: unknown placeholder "{{key}}"');
  });
});

describe('keys, pagination and reading', () => {
  it('takes the key from a dotted path or from the Location header', async () => {
    for (const key of [{ from: 'body', path: 'data.id' }, { from: 'location' }]) {
      const host = await hostFor(basic, (c) => ({ ...c, operations: { ...c.operations, createUser: { ...c.operations.createUser, key } } }));
      const user = sample();
      const result = await host.apply({ kind: 'createUser', ...op(), user });
      expect(basic.readAccount(result.key!)?.login).toBe(user.userName);
    }
  });

  it.each([
    ['page', { url: '/api/v1/accounts?page={{page}}&per_page={{limit}}', pagination: { type: 'page', pageSize: 3 } }],
    ['offset', { url: '/api/v1/accounts?offset={{offset}}&limit={{limit}}', pagination: { type: 'offset', pageSize: 3 } }],
    ['cursor', { url: '/api/v1/accounts?cursor={{cursor}}&limit={{limit}}', pagination: { type: 'cursor', path: '/meta/next_cursor', pageSize: 3 } }],
    ['nextLink', { url: '/api/v1/accounts?per_page=3', pagination: { type: 'nextLink', path: 'links.next' } }],
  ])('lists every account with %s pagination', async (_name, listing) => {
    const host = await hostFor(basic, (c) => ({ ...c, operations: { ...c.operations, listUsers: { ...c.operations.listUsers, ...listing } } }));
    const created = new Set<string>();
    for (let i = 0; i < 7; i++) created.add((await host.apply({ kind: 'createUser', ...op(), user: sample() })).key!);
    const pagesBefore = basic.requests.length;
    const listed: string[] = [];
    for await (const entry of host.listUsers()) listed.push(entry.key);
    expect(new Set(listed)).toEqual(created);
    expect(listed).toHaveLength(7);
    expect(basic.requests.length - pagesBefore).toBeGreaterThanOrEqual(3);
  });

  it('reads entries back in the target vocabulary, with active from a status word', async () => {
    const host = await hostFor(basic);
    const user = sample();
    const { key } = await host.apply({ kind: 'createUser', ...op(), user });
    await host.apply({ kind: 'deactivateUser', ...op(), key: key!, user: { ...user, active: false } });
    expect(await host.findUser({ externalId: user.externalId! })).toEqual({
      key,
      user: { userName: user.userName, active: false, externalId: user.externalId, attributes: user.attributes },
    });
  });
});

describe('capabilities follow the templates configured', () => {
  it('without findUser, listUsers, deleteUser and group templates, lookup, read, delete and groups are off', async () => {
    const definition = createRestConnector();
    const config = legacyApiConfig(basic.url, { type: 'basic', username: 'svc-scim' });
    const { createUser, updateUser } = config.operations;
    const host = await createConnectorHost(definition, { config: { ...config, operations: { createUser, updateUser } }, secrets: { 'auth.password': PASSWORD } });
    hosts.push(host);
    expect(host.manifest.capabilities).toMatchObject({ create: true, update: true, deactivate: true, reactivate: true, delete: false, lookup: false, read: false, groups: false, membership: false });
    await expect(host.findUser({ userName: 'x' })).rejects.toMatchObject({ code: 'unsupported_operation' });
    // Deactivation falls back to the update template with {{active}} rendered as "disabled".
    const user = sample();
    const { key } = await host.apply({ kind: 'createUser', ...op(), user });
    await host.apply({ kind: 'deactivateUser', ...op(), key: key!, user: { ...user, active: false } });
    expect(basic.readAccount(key!)?.status).toBe('disabled');
    expect(basic.requests.at(-1)).toMatchObject({ method: 'PUT', path: `/api/v1/accounts/${key}` });
  });

  it('without findUserByExternalId, a lookup by externalId finds nothing and sends nothing (the gateway then asks by userName)', async () => {
    const host = await hostFor(basic, (c) => {
      const { findUserByExternalId: _x, ...operations } = c.operations;
      return { ...c, operations };
    });
    const before = basic.requests.length;
    expect(await host.findUser({ externalId: 'okta-00u1' })).toBeUndefined();
    expect(basic.requests.length).toBe(before);
  });
});

describe('preview and test()', () => {
  it('preview shows the exact request with the credential redacted, and sends nothing', async () => {
    const host = await hostFor(basic);
    const user = sample();
    const before = basic.requests.length;
    const plan = await host.dryRun({ kind: 'updateUser', operationId: 'op-1', key: '1042', user });
    expect(basic.requests.length).toBe(before);
    expect(plan.requests).toEqual([
      {
        description: `PUT ${basic.url}/api/v1/accounts/1042`,
        detail: {
          method: 'PUT',
          url: `${basic.url}/api/v1/accounts/1042`,
          headers: { Accept: 'application/json', 'X-Request-Id': 'op-1', 'Content-Type': 'application/json', Authorization: 'Basic [REDACTED]' },
          body: { login: user.userName, email: user.attributes.mail, first_name: 'Grace', last_name: 'Hopper', external_ref: user.externalId, status: 'active' },
        },
      },
    ]);
    const members = await host.dryRun({ kind: 'addMembers', operationId: 'op-2', key: 'T-1', memberKeys: ['1', '2'] });
    expect(members.requests.map((r) => r.description)).toEqual([`PUT ${basic.url}/api/v1/teams/T-1/members/1`, `PUT ${basic.url}/api/v1/teams/T-1/members/2`]);
  });

  it('test() names the URL and the status, and what failed', async () => {
    const host = await hostFor(basic);
    expect((await host.test()).message).toBe(`GET ${basic.url}/api/v1/accounts?per_page=1 answered HTTP 200 OK (basic auth as "svc-scim")`);
    basic.setFault({ status: 503, retryAfter: '30' });
    expect((await host.test()).message).toMatch(new RegExp(`^GET ${basic.url}/api/v1/accounts\\?per_page=1 answered HTTP 503 Service Unavailable \\(retry after 30 s\\)`));
    basic.setFault(undefined);
    const noHealth = await hostFor(basic, (c) => {
      const { health: _h, ...rest } = c;
      return { ...rest, baseUrl: `${basic.url}/api/v1/status` };
    });
    expect((await noHealth.test()).message).toBe(`GET ${basic.url}/api/v1/status answered HTTP 200 OK (basic auth as "svc-scim")`);
  });

  it('test() of a closed port says the connection was refused', async () => {
    const host = await hostFor(basic);
    await basic.stop();
    try {
      const result = await host.test();
      expect(result.ok).toBe(false);
      // A pooled keep-alive socket may notice the close first; a fresh one is refused.
      expect(result.message).toMatch(/failed: connection (refused \(ECONNREFUSED\)|closed by the server \(UND_ERR_SOCKET\))$/);
      expect(result.message.startsWith(`GET ${basic.url}/api/v1/accounts?per_page=1 failed: `)).toBe(true);
      expect((await host.test()).message).toBe(`GET ${basic.url}/api/v1/accounts?per_page=1 failed: connection refused (ECONNREFUSED)`);
    } finally {
      await basic.start();
    }
  });
});

describe('README', () => {
  it('the example configuration is valid and enables every capability', async () => {
    const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
    const example = JSON.parse(/```json\n([\s\S]*?)\n```/.exec(readme)![1]);
    const instance = example.connections.default.connectors[0];
    const host = await createConnectorHost(createRestConnector(), { config: instance.config, secrets: { 'auth.password': 'from-the-environment' } });
    hosts.push(host);
    expect(host.manifest.capabilities).toMatchObject({ create: true, delete: true, lookup: true, read: true, groups: true, membership: true, dryRun: true });
  });
});
