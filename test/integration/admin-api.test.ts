/**
 * The admin API over real HTTP against a started gateway: first-run setup with the one-time code,
 * sign-in, lockout, CSRF, session expiry, the SCIM token that must not open /api, and each route's
 * main path and errors. A movable clock drives expiry and lockout; the log is captured to prove
 * no secret reaches it.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoConnector, DemoDirectory } from '../../connectors/demo/index.js';
import { createToken, readAccess } from '../../src/gateway/auth/index.js';
import { loadConfig } from '../../src/gateway/config.js';
import { openFileSecretStore, SECRETS_FILE, type SecretStore } from '../../src/gateway/secrets/index.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { ConsoleClient } from '../helpers/console.js';
import { PATCH_OP, ScimClient, keepRequesting, user, waitFor } from '../helpers/gateway.js';

const BRIDGE = 'urn:ietf:params:scim:schemas:extension:scimbridge:2.0:User';

const PASSWORD = 'correct horse battery staple';
const MINUTE = 60_000;

class Clock {
  offset = 0;
  now = () => Date.now() + this.offset;
  advance(ms: number) {
    this.offset += ms;
  }
}

interface Rig {
  gateway: Gateway;
  dataDir: string;
  clock: Clock;
  logs: string[];
  directory: DemoDirectory;
  client(): ConsoleClient;
  stop(): Promise<void>;
}

/**
 * A gateway as `serve` runs it: it opens its own secret store (the encrypted file here, so the
 * tests never touch the machine's keychain); `secrets` replaces it with a store the test made.
 */
async function startRig(configOverrides: Record<string, unknown> = {}, secrets?: SecretStore): Promise<Rig> {
  const dataDir = mkdtempSync(join(tmpdir(), 'scim-bridge-admin-'));
  const clock = new Clock();
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  const config = loadConfig({ env: {}, flags: { dataDir, port: 0, adminPort: 0, host: '127.0.0.1', secretsBackend: 'file', ...configOverrides } });
  const directory = new DemoDirectory();
  const gateway = await startGateway(config, {
    logger,
    ...(secrets ? { secrets } : {}),
    connectorTypes: new Map([['demo', () => createDemoConnector(directory) as never]]),
    admin: { now: clock.now, sessionIdleMs: 30 * MINUTE, sessionAbsoluteMs: 12 * 60 * MINUTE },
  });
  return {
    gateway,
    dataDir,
    clock,
    logs,
    directory,
    client: () => new ConsoleClient(gateway.adminUrl),
    async stop() {
      await gateway.stop();
      await secrets?.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function setUp(rig: Rig, username = 'ada'): Promise<ConsoleClient> {
  const c = rig.client();
  const code = rig.gateway.admin.setupCode()!.code;
  const res = await c.post('/api/session/setup', { code, username, password: PASSWORD });
  expect(res.status).toBe(201);
  return c;
}

describe('first run and sign-in', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig();
  });
  afterAll(() => rig?.stop());

  it('asks for setup while no admin exists, and /api answers 401 until signed in', async () => {
    const c = rig.client();
    const s = await c.get('/api/session');
    expect(s.status).toBe(200);
    expect(s.body).toEqual({ authenticated: false, setupRequired: true });
    const status = await c.get('/api/status');
    expect(status.status).toBe(401);
    expect(status.body.error.code).toBe('unauthenticated');
    expect(status.body.error.message).toMatch(/sign in/i);
    expect(status.headers.get('content-type')).toMatch(/application\/json/);
  });

  it('refuses a SCIM bearer token on /api', async () => {
    const { token } = createToken(rig.dataDir, { name: 'idp' });
    const c = rig.client();
    const res = await c.get('/api/status', { Authorization: `Bearer ${token}` });
    expect(res.status).toBe(401);
    expect(res.text).not.toContain(token);
  });

  it('refuses a wrong setup code, counts it for the lockout, and a weak password without using up the code', async () => {
    const c = rig.client();
    const setup = rig.gateway.admin.setupCode();
    expect(setup?.code).toMatch(/^[0-9A-Z]{5}-[0-9A-Z]{5}$/);
    const wrong = await c.post('/api/session/setup', { code: 'AAAAA-AAAAA', username: 'ada', password: PASSWORD });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toMatchObject({ code: 'setup_code', field: 'code' });
    const weak = await c.post('/api/session/setup', { code: setup!.code, username: 'ada', password: 'short' });
    expect(weak.status).toBe(400);
    expect(weak.body.error.field).toBe('password');
    expect(weak.body.error.message).toMatch(/12 characters/);
    expect(rig.gateway.admin.setupCode()?.code).toBe(setup!.code);
  });

  it('creates the admin with the setup code, once; the account file is 0600 and holds an scrypt hash only', async () => {
    const c = rig.client();
    const code = rig.gateway.admin.setupCode()!.code;
    const res = await c.post('/api/session/setup', { code: code.toLowerCase(), username: 'ada', password: PASSWORD });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ authenticated: true, setupRequired: false, user: { username: 'ada', hasPassword: true } });
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toMatch(/Secure/); // plain HTTP on loopback
    expect(rig.gateway.admin.setupCode()).toBeUndefined();
    const again = await rig.client().post('/api/session/setup', { code, username: 'eve', password: PASSWORD });
    expect(again.status).toBe(409);
    const file = join(rig.dataDir, 'admin.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(PASSWORD);
    expect(JSON.parse(text).accounts[0].passwordHash).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect((await c.get('/api/status')).status).toBe(200);
  });

  it('signs in, refuses a wrong password, and locks the account after 5 failures with the time left', async () => {
    const c = rig.client();
    const ok = await c.post('/api/session/login', { username: 'ADA', password: PASSWORD });
    expect(ok.status).toBe(200);
    expect(ok.body.csrfToken).toBeTruthy();
    const out = await c.post('/api/session/logout');
    expect(out.status).toBe(200);
    expect((await c.get('/api/status')).status).toBe(401);

    const bad = rig.client();
    const wrong = await bad.post('/api/session/login', { username: 'ada', password: 'not the password' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.message).toBe('The user name or password is not right.');
    for (let i = 0; i < 3; i++) expect((await bad.post('/api/session/login', { username: 'ada', password: `guess ${i}` })).status).toBe(401);
    const fifth = await bad.post('/api/session/login', { username: 'ada', password: 'guess 5' });
    expect(fifth.status).toBe(429);
    expect(fifth.body.error.message).toMatch(/Try again in 15 minutes/);
    expect(Number(fifth.headers.get('retry-after'))).toBeGreaterThan(800);
    // Locked: even the right password is refused, and the refusal does not extend the lockout.
    const locked = await rig.client().post('/api/session/login', { username: 'ada', password: PASSWORD });
    expect(locked.status).toBe(429);
    rig.clock.advance(10 * MINUTE);
    expect((await rig.client().post('/api/session/login', { username: 'ada', password: PASSWORD })).body.error.message).toMatch(/Try again in 5 minutes/);
    rig.clock.advance(5 * MINUTE + 1000);
    expect((await rig.client().post('/api/session/login', { username: 'ada', password: PASSWORD })).status).toBe(200);
    // The failures are audited, without what was typed.
    const page = await rig.gateway.audit.query({ action: 'admin.login', result: 'failure' });
    expect(page.records.length).toBeGreaterThanOrEqual(5);
    expect(JSON.stringify(page.records)).not.toContain('guess');
  });

  it('an address that tries many user names locks those names only, not the admin signing in from it', async () => {
    rig.clock.advance(16 * MINUTE);
    const c = rig.client();
    for (let i = 0; i < 6; i++) await c.post('/api/session/login', { username: `user${i}`, password: 'x' });
    const res = await c.post('/api/session/login', { username: 'someone', password: 'x' });
    expect(res.status).toBe(401);
    expect((await c.post('/api/session/login', { username: 'ada', password: PASSWORD })).status).toBe(200);
  });

  it('requires the CSRF token and the console origin on state-changing requests', async () => {
    const c = rig.client();
    await c.post('/api/session/login', { username: 'ada', password: PASSWORD });
    const missing = await c.post('/api/tokens', { name: 'x' }, { 'X-CSRF-Token': '' });
    expect(missing.status).toBe(403);
    expect(missing.body.error.code).toBe('csrf');
    expect((await c.post('/api/tokens', { name: 'x' }, { 'X-CSRF-Token': 'forged' })).status).toBe(403);
    expect((await c.post('/api/tokens', { name: 'x' }, { Origin: 'http://evil.example' })).status).toBe(403);
    const form = await c.post('/api/tokens', 'name=x', { 'Content-Type': 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(415);
    const ok = await c.post('/api/tokens', { name: 'Okta' }, { Origin: c.base });
    expect(ok.status).toBe(201);
  });

  it('ends a session after the idle time and after the absolute limit', async () => {
    const c = rig.client();
    await c.post('/api/session/login', { username: 'ada', password: PASSWORD });
    rig.clock.advance(29 * MINUTE);
    expect((await c.get('/api/status')).status).toBe(200);
    rig.clock.advance(31 * MINUTE);
    const expired = await c.get('/api/status');
    expect(expired.status).toBe(401);
    expect(expired.body.error.code).toBe('session_expired');

    // The console's automatic refreshes do not count as activity: an open dashboard still idles out.
    const watcher = rig.client();
    await watcher.post('/api/session/login', { username: 'ada', password: PASSWORD });
    for (let i = 0; i < 3; i++) {
      rig.clock.advance(10 * MINUTE - 1000);
      expect((await watcher.get('/api/status', { 'X-Console-Refresh': '1' })).status).toBe(200);
    }
    rig.clock.advance(4 * MINUTE);
    expect((await watcher.get('/api/status', { 'X-Console-Refresh': '1' })).body.error.code).toBe('session_expired');

    const busy = rig.client();
    await busy.post('/api/session/login', { username: 'ada', password: PASSWORD });
    for (let h = 0; h < 12 * 3; h++) {
      rig.clock.advance(20 * MINUTE);
      const r = await busy.get('/api/session');
      if (!r.body.authenticated) break;
    }
    expect((await busy.get('/api/status')).status).toBe(401);
  });

  it('sets the security headers, and no caching on /api', async () => {
    const c = rig.client();
    const page = await fetch(rig.gateway.adminUrl + '/');
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    const api = await c.get('/api/session');
    expect(api.headers.get('cache-control')).toBe('no-store');
    const missing = await c.get('/api/nothing-here');
    expect(missing.status).toBe(401); // routes are hidden until signed in
    // health checks stay open for monitoring
    expect((await fetch(rig.gateway.adminUrl + '/healthz')).status).toBe(200);
  });

  it('refuses a Host that is not loopback (DNS rebinding)', async () => {
    const { request } = await import('node:http');
    const url = new URL(rig.gateway.adminUrl);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: '/api/session', headers: { Host: 'attacker.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(403);
  });

  it('changes the password (current one required) and signs other sessions out', async () => {
    const a = rig.client();
    const b = rig.client();
    await a.post('/api/session/login', { username: 'ada', password: PASSWORD });
    await b.post('/api/session/login', { username: 'ada', password: PASSWORD });
    const wrong = await a.post('/api/session/password', { currentPassword: 'nope', newPassword: 'a new long passphrase' });
    expect(wrong.status).toBe(401);
    expect((await a.post('/api/session/password', { currentPassword: PASSWORD, newPassword: 'a new long passphrase' })).status).toBe(200);
    expect((await a.get('/api/status')).status).toBe(200);
    expect((await b.get('/api/status')).status).toBe(401);
    expect((await rig.client().post('/api/session/login', { username: 'ada', password: 'a new long passphrase' })).status).toBe(200);
    await a.post('/api/session/password', { currentPassword: 'a new long passphrase', newPassword: PASSWORD });
  });
});

describe('local login link (desktop app)', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig();
  });
  afterAll(() => rig?.stop());

  it('signs the local admin in once, creating the account on first run, and expires after 60 s', async () => {
    const { url } = rig.gateway.admin.issueLocalLogin();
    expect(url.startsWith(rig.gateway.adminUrl + '/auth/local/')).toBe(true);
    const c = rig.client();
    const res = await c.call('GET', url.slice(rig.gateway.adminUrl.length));
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/#/');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const s = await c.get('/api/session');
    expect(s.body).toMatchObject({ authenticated: true, setupRequired: false, user: { hasPassword: false } });
    expect(rig.gateway.admin.setupCode()).toBeUndefined();
    // once only
    const again = await rig.client().call('GET', url.slice(rig.gateway.adminUrl.length));
    expect(again.headers.get('location')).toBe('/#/login?link=expired');
    // short-lived
    const late = rig.gateway.admin.issueLocalLogin().url;
    rig.clock.advance(61_000);
    expect((await rig.client().call('GET', late.slice(rig.gateway.adminUrl.length))).headers.get('location')).toBe('/#/login?link=expired');
    // a password can then be set without a current one
    expect((await c.post('/api/session/password', { newPassword: PASSWORD })).status).toBe(200);
    expect((await c.get('/api/session')).body.user.hasPassword).toBe(true);
  });
});

describe('admin API routes', () => {
  let rig: Rig;
  let c: ConsoleClient;
  let scim: ScimClient;
  let scimToken: string;
  beforeAll(async () => {
    rig = await startRig();
    c = await setUp(rig);
    scimToken = createToken(rig.dataDir, { name: 'Okta' }).token;
    scim = new ScimClient(rig.gateway.scimUrl, scimToken);
  });
  afterAll(() => rig?.stop());

  it('status: per connection, Connected after the first call, traffic and errors per minute', async () => {
    const before = await c.get('/api/status');
    expect(before.status).toBe(200);
    const d = before.body.connections.find((x: any) => x.name === 'default');
    expect(d.connected).toBe(false);
    expect(before.body.keychain.state).toBe('file');
    expect(before.body.audit.ok).toBe(true);
    expect(before.body.auditHealth).toEqual({ lost: 0, behind: false, leftOut: 0 });
    expect(before.body.traffic).toHaveLength(60);

    expect((await scim.post('/Users', user('grace@example.com'))).status).toBe(201);
    expect((await new ScimClient(rig.gateway.scimUrl, 'scb_' + 'x'.repeat(43)).get('/Users')).status).toBe(401);
    expect((await scim.post('/Users', { schemas: [] })).status).toBe(400);
    await waitFor(async () => (await c.get('/api/status')).body.connections.find((x: any) => x.name === 'default').connected, 5_000, 'connected');
    const after = (await c.get('/api/status')).body;
    const def = after.connections.find((x: any) => x.name === 'default');
    expect(def.firstRequestAt).toBeTruthy();
    expect(def.users).toBe(1);
    expect(def.lastRequest).toMatchObject({ method: 'POST', path: '/Users', status: 400, tokenName: 'Okta' });
    expect(def.lastRequest.detail).toBeTruthy();
    const minute = def.traffic[def.traffic.length - 1];
    expect(minute).toMatchObject({ requests: 2, errors: 1 });
    expect(after.traffic[after.traffic.length - 1]).toMatchObject({ requests: 3, errors: 2 });
  });

  it('tokens: create shows the value once, list never, revoke, rotate with grace or at once', async () => {
    const created = await c.post('/api/tokens', { name: 'Entra', connection: 'default', expiresInDays: 90 });
    expect(created.status).toBe(201);
    expect(created.body.value).toMatch(/^scb_[A-Za-z0-9_-]{43}$/);
    expect(created.body.token).toMatchObject({ name: 'Entra', state: 'active' });
    const list = await c.get('/api/tokens');
    expect(list.text).not.toContain(created.body.value);
    expect(list.text).not.toContain('"hash"');
    expect(list.body.tokens.map((t: any) => t.name)).toContain('Entra');

    const missingConn = await c.post('/api/tokens', { name: 'x', connection: 'nope' });
    expect(missingConn.status).toBe(400);
    expect(missingConn.body.error.field).toBe('connection');
    expect((await c.post('/api/tokens', { name: '' })).body.error.field).toBe('name');

    // rotate with a grace period: both work
    const rotated = await c.post(`/api/tokens/${created.body.token.id}/rotate`, { graceHours: 2 });
    expect(rotated.status).toBe(201);
    expect(rotated.body.previous).toMatchObject({ state: 'grace', replacedBy: rotated.body.token.id });
    const oldClient = new ScimClient(rig.gateway.scimUrl, created.body.value);
    const newClient = new ScimClient(rig.gateway.scimUrl, rotated.body.value);
    await waitFor(async () => (await newClient.get('/Users?count=1')).status === 200, 3_000, 'new token');
    expect((await oldClient.get('/Users?count=1')).status).toBe(200);
    expect((await c.post(`/api/tokens/${created.body.token.id}/rotate`, {})).status).toBe(409);

    // rotate with revoke-now: the old one stops at once
    const now = await c.post(`/api/tokens/${rotated.body.token.id}/rotate`, { revokeNow: true });
    expect(now.body.previous.state).toBe('revoked');
    await waitFor(async () => (await newClient.get('/Users?count=1')).status === 401, 3_000, 'revoked token refused');

    const revoked = await c.post(`/api/tokens/${now.body.token.id}/revoke`);
    expect(revoked.body.token.state).toBe('revoked');
    expect((await c.post(`/api/tokens/${now.body.token.id}/revoke`)).status).toBe(409);
    expect((await c.post('/api/tokens/tok_nothing/revoke')).status).toBe(404);
    const audit = await rig.gateway.audit.query({ action: 'token.*' });
    expect(audit.records.map((r) => r.action)).toEqual(expect.arrayContaining(['token.create', 'token.rotate', 'token.revoke']));
    expect(audit.records.every((r) => r.actor.kind === 'admin' && r.actor.id === 'ada')).toBe(true);
    expect(JSON.stringify(audit.records)).not.toContain(created.body.value);
  });

  it('connections: create with policies, refuse bad input, list with sources, delete', async () => {
    const bad = await c.put('/api/connections/Bad Name', { policies: {} });
    expect(bad.status).toBe(400);
    const badPolicy = await c.put('/api/connections/hr', { policies: { deleteMode: 'sometimes' } });
    expect(badPolicy.status).toBe(400);
    expect(badPolicy.body.error.message).toMatch(/deleteMode/);
    const created = await c.put('/api/connections/hr', { policies: { allowCreate: false, allowedDomains: ['example.com'] } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'hr', source: 'runtime', policies: { allowCreate: false, allowedDomains: ['example.com'] } });
    const list = await c.get('/api/connections');
    expect(list.body.connections.map((x: any) => x.name)).toEqual(['default', 'hr']);
    expect(readAccess(rig.dataDir).connections.map((x) => x.id)).toContain('hr');
    // The policy applies to SCIM at once.
    const hrToken = createToken(rig.dataDir, { name: 'hr', connection: 'hr' }).token;
    expect((await new ScimClient(rig.gateway.scimUrl, hrToken).post('/Users', user('x@example.com'))).status).toBe(403);
    expect((await c.delete('/api/connections/hr')).status).toBe(204);
    expect((await c.delete('/api/connections/hr')).status).toBe(409); // only its tokens remain
  });

  it('connectors: types with JSON schema, a saved connector with a secret never echoed, test, dry-run', async () => {
    const types = await c.get('/api/connector-types');
    const demo = types.body.types.find((t: any) => t.type === 'demo');
    expect(demo.configSchema.properties.accessKey.secret).toBe(true);
    expect(demo.secretFields).toEqual([{ path: 'accessKey', required: false }]);

    const unsaved = await c.post('/api/connectors/test', { type: 'demo', config: { name: 'lab' } });
    expect(unsaved.body).toMatchObject({ ok: true });
    expect(unsaved.body.message).toContain('memory://lab');
    const invalid = await c.post('/api/connectors/test', { type: 'demo', config: { name: '' } });
    expect(invalid.body.ok).toBe(false);
    expect(invalid.body.message).toMatch(/not valid: name/);

    const saved = await c.put('/api/connections/default/connectors/demo-1', { type: 'demo', config: { name: 'lab', accessKey: 'very-secret-key' }, mapping: {} });
    expect(saved.status).toBe(201);
    expect(saved.text).not.toContain('very-secret-key');
    const list = await c.get('/api/connectors');
    expect(list.text).not.toContain('very-secret-key');
    const item = list.body.connectors.find((x: any) => x.id === 'demo-1');
    expect(item).toMatchObject({ connection: 'default', type: 'demo', state: 'running', secrets: [{ path: 'accessKey', set: true, required: false }] });
    const tested = await c.post('/api/connectors/demo-1/test');
    expect(tested.body.ok).toBe(true);

    // The user created before the connector existed; a new one goes through the outbox.
    const u = await scim.post('/Users', user('linus@example.com', { name: { givenName: 'Linus', familyName: 'T' } }));
    await waitFor(() => [...rig.directory.users.values()].some((x) => x.userName === 'linus@example.com'), 5_000, 'delivered');
    const dry = await c.post('/api/connectors/demo-1/dry-run', { userId: u.body.id });
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ kind: 'updateUser', detailed: true });
    expect(dry.body.requests[0].description).toContain('users/linus@example.com');
    expect((await c.post('/api/connectors/demo-1/dry-run', { userId: 'nope' })).status).toBe(404);
    expect((await c.post('/api/connectors/nope/test')).status).toBe(404);
    const logs = rig.logs.join('');
    expect(logs).not.toContain('very-secret-key');
  });

  it('users and groups: search by text and filter with paging, detail with links and audit trail', async () => {
    for (const n of ['anna', 'anders', 'bob']) await scim.post('/Users', user(`${n}@example.com`, { displayName: n.toUpperCase() }));
    const g = await scim.post('/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Admins' });
    const text = await c.get('/api/connections/default/users?q=an&count=1');
    expect(text.body.totalResults).toBe(2);
    expect(text.body.items).toHaveLength(1);
    const filtered = await c.get(`/api/connections/default/users?filter=${encodeURIComponent('userName eq "bob@example.com"')}`);
    expect(filtered.body.items.map((x: any) => x.name)).toEqual(['bob@example.com']);
    const badFilter = await c.get(`/api/connections/default/users?filter=${encodeURIComponent('userName eq')}`);
    expect(badFilter.status).toBe(400);
    expect(badFilter.body.error.field).toBe('filter');
    const linus = (await c.get('/api/connections/default/users?q=linus')).body.items[0];
    await scim.patch(`/Users/${linus.id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] });
    const detail = await c.get(`/api/connections/default/users/${linus.id}`);
    expect(detail.body.summary).toMatchObject({ name: 'linus@example.com', active: false });
    expect(detail.body.summary.deactivatedAt).toBeTruthy();
    expect(detail.body.links).toEqual([{ connector: 'demo-1', key: 'users/linus@example.com', pending: expect.any(Number), dead: 0 }]);
    expect(detail.body.audit.map((r: any) => r.action)).toEqual(expect.arrayContaining(['user.create', 'user.deactivate']));
    const group = await c.get(`/api/connections/default/groups/${g.body.id}`);
    expect(group.body).toMatchObject({ summary: { name: 'Admins', memberCount: 0 }, membersTotal: 0 });
    expect((await c.get('/api/connections/default/users/nope')).status).toBe(404);
    expect((await c.get('/api/connections/nope/users')).status).toBe(404);
  });

  it('outbox: a failing entry shows its error, is retried and delivered; a dead one is discarded', async () => {
    rig.directory.down = true;
    const u = await scim.post('/Users', user('outage@example.com'));
    let page: any;
    await waitFor(async () => {
      page = (await c.get('/api/outbox?state=failing')).body;
      return page.items.some((x: any) => x.resourceId === u.body.id);
    }, 5_000, 'failing entry');
    const entry = page.items.find((x: any) => x.resourceId === u.body.id);
    expect(entry).toMatchObject({ kind: 'createUser', connector: 'demo-1', resourceName: 'outage@example.com', state: 'pending' });
    expect(entry.lastError).toMatch(/ECONNREFUSED/);
    expect(page.counts.failing).toBeGreaterThanOrEqual(1);
    rig.directory.down = false;
    expect((await c.post(`/api/outbox/${entry.id}/retry`)).status).toBe(200);
    await waitFor(() => [...rig.directory.users.values()].some((x) => x.userName === 'outage@example.com'), 5_000, 'retried delivery');

    // A permanent refusal dead-letters (the account was removed behind the gateway's back); discard drops it.
    rig.directory.users.delete('users/outage@example.com');
    await scim.patch(`/Users/${u.body.id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'displayName', value: 'Outage' }] });
    await waitFor(async () => (await c.get('/api/outbox?state=dead')).body.total === 1, 5_000, 'dead letter');
    const dead = (await c.get('/api/outbox?state=dead')).body.items[0];
    expect(dead).toMatchObject({ kind: 'updateUser', state: 'dead' });
    expect(dead.lastError).toMatch(/no user at users\/outage@example.com/);
    const bulk = await c.post('/api/outbox/retry', { state: 'dead' });
    expect(bulk.status).toBe(202);
    await waitFor(async () => (await c.get(`/api/jobs/${bulk.body.id}`)).body.state === 'done', 5_000, 'bulk retry');
    expect((await c.get(`/api/jobs/${bulk.body.id}`)).body).toMatchObject({ done: 1, total: 1 });
    await waitFor(async () => (await c.get('/api/outbox?state=dead')).body.total === 1, 5_000, 'dead again');
    expect((await c.post(`/api/outbox/${dead.id}/discard`)).status).toBe(200);
    expect((await c.get('/api/outbox?state=dead')).body.total).toBe(0);
    expect((await c.post(`/api/outbox/${dead.id}/retry`)).status).toBe(404);
    expect((await c.post('/api/outbox/retry', { state: 'dead' })).status).toBe(409);
  });

  it('audit: filter, page, export CSV and JSON Lines, verify the chain', async () => {
    const byAction = await c.get('/api/audit?action=user.create&limit=2');
    expect(byAction.body.records).toHaveLength(2);
    expect(byAction.body.records.every((r: any) => r.action === 'user.create')).toBe(true);
    expect(byAction.body.nextCursor).toBeTruthy();
    const next = await c.get(`/api/audit?action=user.create&limit=2&cursor=${encodeURIComponent(byAction.body.nextCursor)}`);
    expect(next.body.records[0].seq).toBeLessThan(byAction.body.records[1].seq);
    const byActor = await c.get('/api/audit?actor=ada');
    expect(byActor.body.records.length).toBeGreaterThan(0);
    expect(byActor.body.records.every((r: any) => r.actor.id === 'ada')).toBe(true);
    expect((await c.get('/api/audit?from=yesterday')).status).toBe(400);

    const csv = await c.get('/api/audit/export?format=csv');
    expect(csv.headers.get('content-type')).toMatch(/text\/csv/);
    expect(csv.headers.get('content-disposition')).toMatch(/attachment; filename="scim-bridge-audit-.*\.csv"/);
    expect(csv.text.split('\r\n')[0]).toBe('seq,time,actorKind,actorId,actorName,connection,action,resourceType,resourceId,resourceDisplay,changes,result,detail,requestId,storeSeq,prevHash,hash');
    const jsonl = await c.get('/api/audit/export?format=jsonl');
    const lines = jsonl.text.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[0].seq).toBe(1);
    const filtered = await c.get('/api/audit/export?format=jsonl&action=token.create');
    expect(filtered.text.trim().split('\n').every((l) => JSON.parse(l).action === 'token.create')).toBe(true);

    const v = await c.post('/api/audit/verify');
    expect(v.body.ok).toBe(true);
    expect(v.body.records).toBeGreaterThan(10);
    const status = await c.get('/api/status');
    expect(status.body.audit).toMatchObject({ ok: true, records: v.body.records });
  });

  it('reconciliation: run now as a job with progress, then the report', async () => {
    const run = await c.post('/api/reconciliations', { connector: 'demo-1' });
    expect(run.status).toBe(202);
    expect(run.body).toMatchObject({ kind: 'reconcile', state: 'running' });
    await waitFor(async () => (await c.get(`/api/jobs/${run.body.id}`)).body.state !== 'running', 10_000, 'reconcile job');
    const job = (await c.get(`/api/jobs/${run.body.id}`)).body;
    expect(job).toMatchObject({ state: 'done', done: 1, total: 1 });
    const reports = await c.get('/api/reconciliations');
    expect(reports.body.reports[0]).toMatchObject({ connector: 'demo-1', connection: 'default' });
    expect(reports.body.reports[0].checked).toBeGreaterThan(0);
    expect((await c.post('/api/reconciliations', { connector: 'nope' })).status).toBe(404);
    expect((await c.get('/api/jobs/job_nope')).status).toBe(404);
  });

  it('guides: the test request proves URL and token from this machine, and names what is wrong', async () => {
    const ctx = await c.get('/api/guides/context');
    expect(ctx.body).toMatchObject({ scimUrl: rig.gateway.scimUrl, https: false });
    const fresh = createToken(rig.dataDir, { name: 'JumpCloud', connection: 'default' }).token;
    const good = await c.post('/api/guides/test-request', { token: `Bearer ${fresh}` });
    expect(good.body.ok).toBe(true);
    expect(good.body.connection).toBe('default');
    expect(good.body.checks).toHaveLength(2);
    expect(good.body.checks[1].summary).toMatch(/ListResponse: \d+ users/);
    const bad = await c.post('/api/guides/test-request', { token: 'scb_' + 'A'.repeat(43) });
    expect(bad.body.ok).toBe(false);
    expect(bad.body.checks[0]).toMatchObject({ ok: false, status: 401 });
    expect(bad.body.checks[0].error).toMatch(/not valid/);
    expect((await c.post('/api/guides/test-request', {})).status).toBe(400);
    expect(JSON.stringify((await rig.gateway.audit.query({ action: 'guide.test-request' })).records)).not.toContain(fresh);
  });

  it('the console\'s test request does not mark a connection Connected', async () => {
    expect((await c.put('/api/connections/quiet', { policies: {} })).status).toBe(201);
    const t = createToken(rig.dataDir, { name: 'quiet', connection: 'quiet' }).token;
    expect((await c.post('/api/guides/test-request', { token: t })).body.ok).toBe(true);
    await new Promise((r) => setTimeout(r, 600)); // past the verifier's flush
    const s = (await c.get('/api/status')).body.connections.find((x: any) => x.name === 'quiet');
    expect(s.connected).toBe(false);
    expect(s.lastRequest.path).toBe('/Users');
  });

  it('never puts a session id, password or token in the log', async () => {
    const logs = rig.logs.join('');
    expect(logs).not.toContain(PASSWORD);
    expect(logs).not.toContain(scimToken);
    expect(logs).not.toMatch(/scb_session=/);
    expect(logs).not.toContain(c.cookie.split('=')[1]);
  });
});

describe('revoking from the console', () => {
  // Its own gateway, without the bad-token lockout: the revoked token's requests would lock out
  // 127.0.0.1 for the tests that follow.
  let rig: Rig;
  let c: ConsoleClient;
  beforeAll(async () => {
    rig = await startRig({ lockoutFailures: 0 });
    c = await setUp(rig);
  });
  afterAll(() => rig?.stop());

  it('revoke and rotate-with-revoke answer only once the gateway refuses the token', async () => {
    for (const action of ['revoke', 'rotate'] as const) {
      const created = await c.post('/api/tokens', { name: `Busy IdP ${action}` });
      const idp = keepRequesting(new ScimClient(rig.gateway.scimUrl, created.body.value));
      let answeredAt = Infinity;
      try {
        await waitFor(() => idp.sent.filter((r) => r.status === 200).length >= 5, 5_000, 'the IdP to be provisioning');
        const answer = await c.post(`/api/tokens/${created.body.token.id}/${action}`, action === 'rotate' ? { revokeNow: true } : undefined);
        answeredAt = performance.now();
        expect(answer.status).toBeLessThan(300);
        await waitFor(() => idp.sent.filter((r) => r.sentAt > answeredAt).length >= 20, 5_000, 'requests after the answer');
      } finally {
        await idp.stop();
      }
      // Every request sent after the console's answer was refused.
      expect(idp.sent.filter((r) => r.sentAt > answeredAt && r.status !== 401), action).toEqual([]);
    }
  });
});

describe('config-file connections', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig({ connections: { hr: { policies: { allowCreate: false }, connectors: [] } } });
  });
  afterAll(() => rig?.stop());

  it('are listed as config and refuse changes with a message naming the config file', async () => {
    const c = await setUp(rig);
    const list = await c.get('/api/connections');
    expect(list.body.connections.find((x: any) => x.name === 'hr')).toMatchObject({ source: 'config', policies: { allowCreate: false } });
    const put = await c.put('/api/connections/hr', { policies: { allowCreate: true } });
    expect(put.status).toBe(409);
    expect(put.body.error.message).toMatch(/managed by the config file/);
    const del = await c.delete('/api/connections/hr');
    expect(del.status).toBe(409);
  });
});

/** Every file under a directory whose bytes contain `text`. */
function filesContaining(dir: string, text: string): string[] {
  const found: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    if (readFileSync(path).includes(text)) found.push(path);
  }
  return found;
}

/** A legacy HTTP API for the rest connector: bearer-authenticated, no list endpoint (so no `read`). */
async function startHrApi(token: string): Promise<{ url: string; accounts: Map<string, Record<string, unknown>>; close(): Promise<void> }> {
  const accounts = new Map<string, Record<string, unknown>>();
  const server: Server = createServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"error":"unauthorized"}');
      return;
    }
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const m = /^\/accounts(?:\/([^/?]+))?/.exec(req.url ?? '');
      if (req.method === 'GET') return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ data: [...accounts.values()] }));
      if (!m) return void res.writeHead(404).end();
      const data = JSON.parse(body || '{}') as Record<string, unknown>;
      const id = m[1] ?? String(data.login);
      accounts.set(id, { id, ...data });
      res.writeHead(m[1] ? 200 : 201, { 'Content-Type': 'application/json' }).end(JSON.stringify({ id }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    accounts,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('policies and connector settings are edited without dropping what is not sent', () => {
  let rig: Rig;
  let c: ConsoleClient;
  beforeAll(async () => {
    rig = await startRig();
    c = await setUp(rig);
  });
  afterAll(() => rig?.stop());

  const allPolicies = {
    roleRules: [
      { group: 'Helpdesk', role: 'agent' },
      { group: 'Engineering Admins', role: 'admin' },
    ],
    syntheticGroups: true,
    syntheticRoles: { Admins: 'owner', Users: 'member' },
    existingAccounts: 'link',
    principal: 'userName',
    hook: { command: ['/bin/cat'], timeoutMs: 2000, onError: 'allow', resources: ['User'] },
  };

  it('shows and edits every policy; a change of one keeps the others, null resets one', async () => {
    const created = await c.put('/api/connections/sales', { policies: allPolicies });
    expect(created.status).toBe(201);
    expect(created.body.policies).toMatchObject(allPolicies);
    const mapping = {
      mail: { path: 'userName', transform: 'lowercase' },
      company: { const: 'Example Corp' },
      fullName: { concat: ['name.givenName', 'name.familyName'], separator: ' / ' },
      title: { path: 'title', default: 'Staff' },
    };
    const saved = await c.put('/api/connections/sales/connectors/sales-demo', { type: 'demo', config: { name: 'sales' }, mode: 'sync', mapping });
    expect(saved.status).toBe(201);
    expect(saved.body.connector).toEqual({ id: 'sales-demo', state: 'running' });

    // Only allowCreate is sent: every other policy, and the connector's mode and mapping, stay.
    const changed = await c.put('/api/connections/sales', { policies: { allowCreate: false } });
    expect(changed.status).toBe(200);
    expect(changed.body.policies).toMatchObject({ ...allPolicies, allowCreate: false });
    expect(changed.body.connectors).toHaveLength(1);
    expect(changed.body.connectors[0]).toMatchObject({ id: 'sales-demo', mode: 'sync', mapping });
    // The connector form sends type and config: mode and mapping stay.
    const reconfigured = await c.put('/api/connections/sales/connectors/sales-demo', { type: 'demo', config: { name: 'sales-2' } });
    expect(reconfigured.status).toBe(200);
    expect(reconfigured.body.connection.connectors[0]).toMatchObject({ mode: 'sync', mapping, config: { name: 'sales-2' } });
    expect(rig.gateway.connections.connectorConfig('sales-demo')).toMatchObject({ mode: 'sync', mapping });

    const reset = await c.put('/api/connections/sales', { policies: { hook: null, allowCreate: true } });
    expect(reset.body.policies.hook).toBeUndefined();
    expect(reset.body.policies).toMatchObject({ roleRules: allPolicies.roleRules, principal: 'userName', existingAccounts: 'link', syntheticGroups: true });
    const audit = await rig.gateway.audit.query({ action: 'connection.update' });
    expect(audit.records[0]).toMatchObject({ actor: { kind: 'admin', id: 'ada' }, detail: 'policies: hook, allowCreate' });
  });

  it('names the field of a policy or mapping that is not valid', async () => {
    const rule = await c.put('/api/connections/sales', { policies: { roleRules: [{ group: '', role: 'x' }] } });
    expect(rule.status).toBe(400);
    expect(rule.body.error.field).toBe('policies.roleRules.0.group');
    const hook = await c.put('/api/connections/sales', { policies: { hook: { command: ['relative/hook'] } } });
    expect(hook.body.error.field).toBe('policies.hook.command');
    expect(hook.body.error.message).toMatch(/absolute path/);
    const unknown = await c.put('/api/connections/sales', { policies: { deleteMod: 'hard' } });
    expect(unknown.status).toBe(400);
    const badRule = await c.put('/api/connections/sales/connectors/sales-demo', { type: 'demo', mapping: { mail: {} } });
    expect(badRule.status).toBe(400);
    expect(badRule.body.error).toMatchObject({ field: 'mapping.mail', message: expect.stringMatching(/give one of "path", "const" or "concat"/) });
    const badMode = await c.put('/api/connections/sales/connectors/sales-demo', { type: 'demo', mode: 'later' });
    expect(badMode.body.error.field).toBe('mode');
    // Nothing of that was kept.
    expect(rig.gateway.connections.get('sales')?.policies.roleRules).toHaveLength(2);
  });

  it('a mapping path that does not exist is saved, and the connector says why it did not start', async () => {
    const bad = await c.put('/api/connections/sales/connectors/sales-demo', { type: 'demo', mapping: { mail: 'emails[type eq "work"].valu' } });
    expect(bad.status).toBe(200);
    expect(bad.body.connector).toMatchObject({ state: 'failed', error: expect.stringMatching(/mapping for "mail"/) });
    const listed = (await c.get('/api/connectors')).body.connectors.find((x: any) => x.id === 'sales-demo');
    expect(listed).toMatchObject({ state: 'failed', error: expect.stringMatching(/mapping for "mail"/), since: expect.any(String) });
    const status = (await c.get('/api/status')).body.connections.find((x: any) => x.name === 'sales');
    expect(status.connectors[0]).toMatchObject({ id: 'sales-demo', state: 'failed', error: expect.stringMatching(/mapping for "mail"/) });
    const fixed = await c.put('/api/connections/sales/connectors/sales-demo', { type: 'demo', mapping: { mail: { path: 'userName', transform: 'lowercase' }, company: { const: 'Example Corp' }, fullName: { concat: ['name.givenName', 'name.familyName'], separator: ' / ' } } });
    expect(fixed.body.connector.state).toBe('running');
  });

  it('the mapping and sync mode apply to what the IdP sends', async () => {
    const token = createToken(rig.dataDir, { name: 'sales', connection: 'sales' }).token;
    const scim = new ScimClient(rig.gateway.scimUrl, token);
    const created = await scim.post('/Users', user('Mia.Wong@Example.com', { name: { givenName: 'Mia', familyName: 'Wong' } }));
    expect(created.status).toBe(201);
    // Sync: delivered before the answer.
    const record = rig.directory.users.get('users/mia.wong@example.com');
    expect(record?.attributes).toMatchObject({ mail: 'mia.wong@example.com', company: 'Example Corp', fullName: 'Mia / Wong' });
    // Sync: a target that is down fails the IdP's request, and nothing is kept.
    rig.directory.down = true;
    const refused = await scim.post('/Users', user('down@example.com'));
    rig.directory.down = false;
    expect(refused.status).toBe(503);
    expect((await scim.get(`/Users?filter=${encodeURIComponent('userName eq "down@example.com"')}`)).body.totalResults).toBe(0);
  });
});

describe('connector secrets and status', () => {
  const TOKEN = 'hr-bearer-Zq8-never-shown';
  let rig: Rig;
  let c: ConsoleClient;
  let api: Awaited<ReturnType<typeof startHrApi>>;
  beforeAll(async () => {
    api = await startHrApi(TOKEN);
    rig = await startRig();
    c = await setUp(rig);
  });
  afterAll(async () => {
    await rig?.stop();
    await api?.close();
  });

  const restConfig = (auth: Record<string, unknown>) => ({
    baseUrl: api.url,
    auth,
    health: { url: '/accounts' },
    operations: {
      createUser: { method: 'POST', url: '/accounts', body: { login: '{{userName}}' }, key: { from: 'body', path: '/id' } },
      updateUser: { method: 'PUT', url: '/accounts/{{key}}', body: { login: '{{userName}}' } },
    },
  });

  it('a connector whose secret is missing is saved, does not start, and says so; the secret typed later starts it', async () => {
    const answers: string[] = [];
    const call = async (method: 'get' | 'post' | 'put', path: string, body?: unknown) => {
      const r = method === 'get' ? await c.get(path) : method === 'post' ? await c.post(path, body) : await c.put(path, body);
      answers.push(r.text);
      return r;
    };
    const missing = await call('put', '/api/connections/default/connectors/hr', { type: 'rest', config: restConfig({ type: 'bearer' }) });
    expect(missing.status).toBe(201);
    expect(missing.body.connector).toMatchObject({ state: 'failed', error: expect.stringMatching(/auth\.token.*secret is not set/) });
    let listed = (await call('get', '/api/connectors')).body.connectors.find((x: any) => x.id === 'hr');
    expect(listed).toMatchObject({ state: 'failed', secrets: expect.arrayContaining([{ path: 'auth.token', required: false, set: false }]) });
    expect((await call('get', '/api/status')).body.connections[0].connectors).toEqual([expect.objectContaining({ id: 'hr', state: 'failed', error: expect.stringMatching(/secret is not set/) })]);
    const notRunning = await call('post', '/api/connectors/hr/test');
    expect(notRunning.body).toMatchObject({ ok: false, message: expect.stringMatching(/not running/) });

    // The form sends the value once; the gateway keeps it in its secret store and starts the connector.
    const set = await call('put', '/api/connections/default/connectors/hr', { type: 'rest', config: restConfig({ type: 'bearer', token: TOKEN }) });
    expect(set.body.connector).toEqual({ id: 'hr', state: 'running' });
    expect(await rig.gateway.secrets!.has('hr:auth.token')).toBe(true);
    listed = (await call('get', '/api/connectors')).body.connectors.find((x: any) => x.id === 'hr');
    expect(listed).toMatchObject({ state: 'running', secrets: expect.arrayContaining([{ path: 'auth.token', required: false, set: true }]), config: { auth: { type: 'bearer', token: { $secret: true } } } });
    expect((await call('post', '/api/connectors/hr/test')).body).toMatchObject({ ok: true });
    // A save that leaves the secret out keeps it.
    const kept = await call('put', '/api/connections/default/connectors/hr', { type: 'rest', config: restConfig({ type: 'bearer' }) });
    expect(kept.body.connector.state).toBe('running');
    expect((await call('post', '/api/connectors/hr/test')).body.ok).toBe(true);
    // Delivered with the stored secret.
    const scim = new ScimClient(rig.gateway.scimUrl, createToken(rig.dataDir, { name: 'idp' }).token);
    expect((await scim.post('/Users', user('olga@example.com'))).status).toBe(201);
    await waitFor(() => api.accounts.has('olga@example.com'), 5_000, 'delivered to the HR API');

    // Never in an answer, the log, or a file of the data dir but the encrypted one (and not readable there).
    expect(answers.join('\n')).not.toContain(TOKEN);
    expect(rig.logs.join('')).not.toContain(TOKEN);
    expect(filesContaining(rig.dataDir, TOKEN)).toEqual([]);
    expect(statSync(join(rig.dataDir, SECRETS_FILE)).size).toBeGreaterThan(0);
    expect(JSON.stringify((await rig.gateway.audit.query({ action: 'connector.*' })).records)).not.toContain(TOKEN);
  });

  it('a connector that cannot list its accounts explains how existing users reach it', async () => {
    const listed = (await c.get('/api/connectors')).body.connectors.find((x: any) => x.id === 'hr');
    expect(listed.capabilities.read).toBeUndefined();
    const refused = await c.post('/api/connectors/hr/provision-existing');
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(/cannot list the accounts in its target.*Existing users reach it on their next change/);
    expect((await c.post('/api/connectors/nope/provision-existing')).status).toBe(404);
  });

  it('the status shows the backend, and where it is', async () => {
    const status = (await c.get('/api/status')).body;
    expect(status.keychain).toMatchObject({ state: 'file', requested: 'file', location: expect.stringContaining(SECRETS_FILE) });
    expect(status.keychain.warning).toBeUndefined();
  });
});

describe('secret store fallback', () => {
  let rig: Rig;
  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'scim-bridge-fallback-'));
    // What openSecretStore gives when `auto` finds no keychain: the file, with the reason.
    const store = await openFileSecretStore({ dataDir, requested: 'auto', fallbackReason: 'no Secret Service answered on the session bus' });
    rig = await startRig({}, store);
    rmSync(dataDir, { recursive: true, force: true });
  });
  afterAll(() => rig?.stop());

  it('is shown with describe()\'s warning and reason', async () => {
    const c = await setUp(rig);
    const k = (await c.get('/api/status')).body.keychain;
    expect(k).toMatchObject({ state: 'file', warning: true, requested: 'auto', fallbackReason: 'no Secret Service answered on the session bus' });
    expect(k.message).toMatch(/because no Secret Service answered on the session bus.*keep the key file at mode 0600/);
  });
});

describe('provision existing users to a connector added later', () => {
  let rig: Rig;
  let c: ConsoleClient;
  beforeAll(async () => {
    rig = await startRig();
    c = await setUp(rig);
  });
  afterAll(() => rig?.stop());

  it('runs as a job that creates the missing users in the target and reports what it did', async () => {
    const scim = new ScimClient(rig.gateway.scimUrl, createToken(rig.dataDir, { name: 'idp' }).token);
    for (const n of ['ann', 'ben', 'cy']) expect((await scim.post('/Users', user(`${n}@example.com`))).status).toBe(201);
    // Already in the target before the gateway knew it: not managed, reported, never touched.
    rig.directory.users.set('users/legacy@example.com', { scimId: 'legacy', userName: 'legacy@example.com', active: true, attributes: {} });
    expect((await c.put('/api/connections/default/connectors/late', { type: 'demo', config: { name: 'late' } })).status).toBe(201);
    expect(rig.directory.users.size).toBe(1);

    const started = await c.post('/api/connectors/late/provision-existing');
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ kind: 'provision', state: 'running' });
    expect((await c.post('/api/connectors/late/provision-existing')).status).toBe(409); // one at a time
    let job: any;
    await waitFor(async () => (job = (await c.get(`/api/jobs/${started.body.id}`)).body).state !== 'running', 10_000, 'provision job');
    expect(job).toMatchObject({ state: 'done', done: 3, total: 3 });
    expect(job.result).toEqual({ connector: 'late', connection: 'default', checked: 3, missing: 3, different: 0, extra: 1, inFlight: 0, repairsQueued: 3, delivered: 3, failed: 0, waiting: 0 });
    expect([...rig.directory.users.keys()].sort()).toEqual(['users/ann@example.com', 'users/ben@example.com', 'users/cy@example.com', 'users/legacy@example.com']);
    const audit = (await rig.gateway.audit.query({ action: 'connector.provision-existing' })).records[0];
    expect(audit).toMatchObject({ actor: { kind: 'admin', id: 'ada' }, result: 'success', resource: { type: 'Connector', id: 'late' } });

    // A second run finds nothing to do.
    const again = await c.post('/api/connectors/late/provision-existing');
    await waitFor(async () => (job = (await c.get(`/api/jobs/${again.body.id}`)).body).state !== 'running', 10_000, 'second job');
    expect(job.result).toMatchObject({ missing: 0, repairsQueued: 0, delivered: 0 });
  });
});

describe('users edited from the console', () => {
  let rig: Rig;
  let c: ConsoleClient;
  let scim: ScimClient;
  beforeAll(async () => {
    rig = await startRig();
    c = await setUp(rig);
    scim = new ScimClient(rig.gateway.scimUrl, createToken(rig.dataDir, { name: 'idp' }).token);
    expect((await c.put('/api/connections/default/connectors/demo-1', { type: 'demo', config: { name: 'lab' } })).status).toBe(201);
  });
  afterAll(() => rig?.stop());

  it('changes role, user type and active state through the SCIM service: policies, connectors and audit apply', async () => {
    const owner = await scim.post('/Users', user('owner@example.com', { [BRIDGE]: { role: 'owner' } }));
    const dev = await scim.post('/Users', user('dev@example.com'));
    const path = (id: string) => `/api/connections/default/users/${id}`;

    const detail = await c.get(path(dev.body.id));
    expect(detail.body.summary).toMatchObject({ role: 'member', userType: 'Internal' });
    expect(detail.body.edit).toEqual({ available: true, roleFromGroups: false, lastOwnerRole: 'owner', defaultRole: 'member', knownRoles: ['member', 'owner'] });

    const edited = await c.call('PATCH', path(dev.body.id), { role: 'admin', userType: 'Contractor' });
    expect(edited.status).toBe(200);
    expect(edited.body.summary).toMatchObject({ role: 'admin', userType: 'Contractor', active: true });
    expect((await scim.get(`/Users/${dev.body.id}`)).body[BRIDGE]).toMatchObject({ role: 'admin', userType: 'Contractor' });
    await waitFor(() => rig.directory.users.get('users/dev@example.com')?.attributes.role === 'admin', 5_000, 'role delivered');
    const record = (await rig.gateway.audit.query({ resourceId: dev.body.id, action: 'user.*' })).records[0];
    expect(record).toMatchObject({ action: 'user.update', actor: { kind: 'admin', id: 'ada' }, result: 'success' });
    expect(JSON.stringify(record.changes)).toMatch(/role.*admin/);

    const off = await c.call('PATCH', path(dev.body.id), { active: false });
    expect(off.body.summary).toMatchObject({ active: false, deactivatedAt: expect.any(String) });
    await waitFor(() => rig.directory.users.get('users/dev@example.com')?.active === false, 5_000, 'deactivation delivered');

    // Last-owner protection answers as it does to the IdP, in the console's words.
    const last = await c.call('PATCH', path(owner.body.id), { active: false });
    expect(last.status).toBe(409);
    expect(last.body.error).toMatchObject({ code: 'conflict', message: expect.stringMatching(/^The change was refused: Cannot deactivate the last active user with role "owner"/) });
    const demote = await c.call('PATCH', path(owner.body.id), { role: 'member' });
    expect(demote.status).toBe(409);
    const refusal = (await rig.gateway.audit.query({ resourceId: owner.body.id, result: 'failure' })).records[0];
    expect(refusal).toMatchObject({ action: 'user.update', actor: { kind: 'admin', id: 'ada' }, detail: expect.stringMatching(/last active user with role "owner"/) });

    // The later write wins: the IdP's next update sets the role again.
    await scim.patch(`/Users/${dev.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: `${BRIDGE}:role`, value: 'member' }] });
    expect((await c.get(path(dev.body.id))).body.summary.role).toBe('member');

    expect((await c.call('PATCH', path(dev.body.id), {})).status).toBe(400);
    expect((await c.call('PATCH', path(dev.body.id), { role: '' })).body.error.field).toBe('role');
    expect((await c.call('PATCH', path(dev.body.id), { displayName: 'x' })).status).toBe(400);
    expect((await c.call('PATCH', path('nope'), { active: true })).status).toBe(404);
    expect((await c.call('PATCH', path(dev.body.id), { active: true }, { 'X-CSRF-Token': 'forged' })).status).toBe(403);
  });

  it('refuses a role by hand where groups own the role', async () => {
    expect((await c.put('/api/connections/default', { policies: { roleRules: [{ group: 'Helpdesk', role: 'agent' }] } })).status).toBe(200);
    const u = await scim.post('/Users', user('agent@example.com'));
    const detail = await c.get(`/api/connections/default/users/${u.body.id}`);
    expect(detail.body.edit).toMatchObject({ roleFromGroups: true, knownRoles: ['member', 'owner', 'agent'] });
    const refused = await c.call('PATCH', `/api/connections/default/users/${u.body.id}`, { role: 'agent' });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ field: 'role', message: expect.stringMatching(/gives roles from groups/) });
    // The rest may still change.
    expect((await c.call('PATCH', `/api/connections/default/users/${u.body.id}`, { userType: 'Partner' })).body.summary.userType).toBe('Partner');
  });
});
