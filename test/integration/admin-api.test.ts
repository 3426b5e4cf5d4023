/**
 * The admin API over real HTTP against a started gateway: first-run setup with the one-time code,
 * sign-in, lockout, CSRF, session expiry, the SCIM token that must not open /api, and each route's
 * main path and errors. A movable clock drives expiry and lockout; the log is captured to prove
 * no secret reaches it.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoConnector, DemoDirectory } from '../../connectors/demo/index.js';
import { createToken, readAccess } from '../../src/gateway/auth/index.js';
import { loadConfig } from '../../src/gateway/config.js';
import { openSecretStore } from '../../src/gateway/secrets/index.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { ScimClient, user, waitFor } from '../helpers/gateway.js';

const PASSWORD = 'correct horse battery staple';
const MINUTE = 60_000;

class Clock {
  offset = 0;
  now = () => Date.now() + this.offset;
  advance(ms: number) {
    this.offset += ms;
  }
}

/** A browser stand-in: one cookie jar, the CSRF token from the session answers. */
class ConsoleClient {
  cookie = '';
  csrf = '';
  constructor(readonly base: string) {}

  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const h: Record<string, string> = { ...headers };
    if (this.cookie) h.Cookie = this.cookie;
    if (method !== 'GET' && this.csrf && h['X-CSRF-Token'] === undefined) h['X-CSRF-Token'] = this.csrf;
    if (body !== undefined) h['Content-Type'] ??= 'application/json';
    const res = await fetch(this.base + path, { method, headers: h, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), redirect: 'manual' });
    const setCookie = res.headers.get('set-cookie');
    if (setCookie) {
      const m = /scb_session=([^;]*)/.exec(setCookie);
      if (m) this.cookie = m[1] ? `scb_session=${m[1]}` : '';
    }
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (json?.csrfToken) this.csrf = json.csrfToken;
    return { status: res.status, headers: res.headers, body: json, text };
  }
  get(path: string, headers?: Record<string, string>) {
    return this.call('GET', path, undefined, headers);
  }
  post(path: string, body?: unknown, headers?: Record<string, string>) {
    return this.call('POST', path, body, headers);
  }
  put(path: string, body: unknown) {
    return this.call('PUT', path, body);
  }
  delete(path: string) {
    return this.call('DELETE', path);
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

async function startRig(configOverrides: Record<string, unknown> = {}): Promise<Rig> {
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
  const config = loadConfig({ env: {}, flags: { dataDir, port: 0, adminPort: 0, host: '127.0.0.1', ...configOverrides } });
  const secrets = await openSecretStore({ dataDir, backend: 'file' });
  const directory = new DemoDirectory();
  const gateway = await startGateway(config, {
    logger,
    secrets,
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
      await secrets.close();
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

  it('locks an address that tries many user names', async () => {
    rig.clock.advance(16 * MINUTE);
    const c = rig.client();
    for (let i = 0; i < 5; i++) await c.post('/api/session/login', { username: `user${i}`, password: 'x' });
    const res = await c.post('/api/session/login', { username: 'someone', password: 'x' });
    expect(res.status).toBe(429);
    expect(res.body.error.message).toMatch(/this address/);
    rig.clock.advance(16 * MINUTE);
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
