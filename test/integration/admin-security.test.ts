/**
 * The admin listener's defences over real sockets: the one-time setup code under concurrency,
 * the Host check (DNS rebinding) in front of every route, the client address behind trusted
 * proxies (both listeners), the sign-in lockout under bursts and its CLI unlock, and the
 * listener's header timeout.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleClient, rawRequest } from '../helpers/console.js';
import { runCli } from '../helpers/cli.js';
import { startTestGateway, user, waitFor, type TestGateway } from '../helpers/gateway.js';

const PASSWORD = 'correct horse battery staple';

async function setUp(gw: TestGateway, username = 'ada'): Promise<ConsoleClient> {
  const c = new ConsoleClient(gw.gateway.adminUrl);
  const res = await c.post('/api/session/setup', { code: gw.gateway.admin.setupCode()!.code, username, password: PASSWORD });
  expect(res.status).toBe(201);
  return c;
}

function accountsOnDisk(gw: TestGateway): string[] {
  return JSON.parse(readFileSync(join(gw.dataDir, 'admin.json'), 'utf8')).accounts.map((a: { username: string }) => a.username);
}

/** A sign-in from a given loopback source address (each is another client to the gateway). */
function login(gw: TestGateway, username: string, password: string, from = '127.0.0.1') {
  const url = new URL(gw.gateway.adminUrl);
  return rawRequest(`${gw.gateway.adminUrl}/api/session/login`, {
    method: 'POST',
    headers: { Host: url.host, 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
    localAddress: from,
  }).then((r) => ({ ...r, body: JSON.parse(r.text) }));
}

describe('one-time setup code', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(() => gw?.stop());

  it('creates one admin account when five setup requests race with the one code', async () => {
    const code = gw.gateway.admin.setupCode()!.code;
    const replies = await Promise.all(
      ['ada', 'eve', 'mallory', 'trent', 'oscar'].map((username) => new ConsoleClient(gw.gateway.adminUrl).post('/api/session/setup', { code, username, password: PASSWORD })),
    );
    expect(replies.filter((r) => r.status === 201)).toHaveLength(1);
    for (const r of replies.filter((x) => x.status !== 201)) {
      expect([409, 410]).toContain(r.status);
      expect(r.body.error.message).toMatch(/already|used|running/i);
    }
    expect(accountsOnDisk(gw)).toHaveLength(1);
    expect(gw.gateway.admin.setupCode()).toBeUndefined();
  });
});

describe('setup racing the desktop app\'s local login', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(() => gw?.stop());

  it('still ends with one account', async () => {
    const code = gw.gateway.admin.setupCode()!.code;
    const link = gw.gateway.admin.issueLocalLogin().url;
    const c = new ConsoleClient(gw.gateway.adminUrl);
    await Promise.all([c.post('/api/session/setup', { code, username: 'ada', password: PASSWORD }), new ConsoleClient(gw.gateway.adminUrl).call('GET', link.slice(gw.gateway.adminUrl.length))]);
    expect(accountsOnDisk(gw)).toHaveLength(1);
  });
});

describe('admin accounts (an extra admin cannot go unseen)', () => {
  let gw: TestGateway;
  let ada: ConsoleClient;
  beforeAll(async () => {
    gw = await startTestGateway();
    ada = await setUp(gw);
  });
  afterAll(() => gw?.stop());

  it('lists every account with its last sign-in', async () => {
    const res = await ada.get('/api/admins');
    expect(res.status).toBe(200);
    expect(res.body.accounts).toEqual([expect.objectContaining({ username: 'ada', hasPassword: true, you: true, lastSignInFrom: '127.0.0.1' })]);
    expect(res.text).not.toContain('scrypt');
  });

  it('adds an account only with the signed-in admin\'s password; the new admin can sign in', async () => {
    const noPassword = await ada.post('/api/admins', { username: 'grace', password: 'another long passphrase' });
    expect(noPassword.status).toBe(401);
    expect(noPassword.body.error.field).toBe('currentPassword');
    const weak = await ada.post('/api/admins', { username: 'grace', password: 'short', currentPassword: PASSWORD });
    expect(weak.status).toBe(400);
    expect(weak.body.error.field).toBe('password');
    const badName = await ada.post('/api/admins', { username: 'no spaces', password: 'another long passphrase', currentPassword: PASSWORD });
    expect(badName.status).toBe(400);
    expect(badName.body.error.field).toBe('username');
    const added = await ada.post('/api/admins', { username: 'grace', password: 'another long passphrase', currentPassword: PASSWORD });
    expect(added.status).toBe(201);
    expect(added.body.account).toMatchObject({ username: 'grace', createdBy: 'ada', hasPassword: true, you: false });
    expect(added.body.account.lastSignInAt).toBeUndefined();
    expect((await ada.post('/api/admins', { username: 'GRACE', password: 'another long passphrase', currentPassword: PASSWORD })).status).toBe(409);
    const grace = new ConsoleClient(gw.gateway.adminUrl);
    expect((await grace.post('/api/session/login', { username: 'grace', password: 'another long passphrase' })).status).toBe(200);
    const list = (await ada.get('/api/admins')).body.accounts;
    expect(list.map((a: { username: string }) => a.username)).toEqual(['ada', 'grace']);
    expect(list[1].lastSignInAt).toBeTruthy();
    const page = await gw.gateway.audit.query({ action: 'admin.account.create' });
    expect(page.records[0]).toMatchObject({ actor: { id: 'ada' }, result: 'success' });
  });

  it('removes another account (ending its sessions), never your own or the last one', async () => {
    const grace = new ConsoleClient(gw.gateway.adminUrl);
    await grace.post('/api/session/login', { username: 'grace', password: 'another long passphrase' });
    expect((await grace.delete('/api/admins/grace', { currentPassword: 'another long passphrase' })).status).toBe(409);
    expect((await ada.delete('/api/admins/nobody', { currentPassword: PASSWORD })).status).toBe(404);
    expect((await ada.delete('/api/admins/grace', { currentPassword: 'wrong' })).status).toBe(401);
    const removed = await ada.delete('/api/admins/grace', { currentPassword: PASSWORD });
    expect(removed.status).toBe(200);
    expect(removed.body.accounts.map((a: { username: string }) => a.username)).toEqual(['ada']);
    expect((await grace.get('/api/status')).status).toBe(401);
    expect(accountsOnDisk(gw)).toEqual(['ada']);
  });

  it('needs a session and the CSRF token', async () => {
    expect((await new ConsoleClient(gw.gateway.adminUrl).get('/api/admins')).status).toBe(401);
    expect((await ada.post('/api/admins', { username: 'x', password: 'another long passphrase', currentPassword: PASSWORD }, { 'X-CSRF-Token': 'forged' })).status).toBe(403);
  });
});

describe('Host check on the admin listener (DNS rebinding)', () => {
  let gw: TestGateway;
  let port: string;
  beforeAll(async () => {
    gw = await startTestGateway();
    port = new URL(gw.gateway.adminUrl).port;
  });
  afterAll(() => gw?.stop());

  const get = (path: string, host: string) => rawRequest(`${gw.gateway.adminUrl}${path}`, { headers: { Host: host } });

  it('refuses names that only look like loopback, other ports and missing hosts on every route', async () => {
    for (const path of ['/api/session', '/healthz', '/readyz', '/metrics', '/']) {
      for (const host of ['127.attacker.example', `127.0.0.1.attacker.example:${port}`, 'attacker.example', `localhost:${Number(port) + 1}`, '127.0.0.1', `127.1:${port}`]) {
        const res = await get(path, host);
        expect(res.status, `${path} with Host ${host}`).toBe(403);
        expect(res.text).toMatch(/adminAllowedHosts|localhost/);
      }
    }
  });

  it('accepts literal loopback hosts with the listener\'s port', async () => {
    for (const host of [`127.0.0.1:${port}`, `127.0.0.2:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) {
      expect((await get('/healthz', host)).status, host).toBe(200);
      expect((await get('/api/session', host)).status, host).toBe(200);
    }
  });
});

describe('Host check on a non-loopback bind', () => {
  let gw: TestGateway;
  let port: string;
  beforeAll(async () => {
    gw = await startTestGateway({ adminHost: '0.0.0.0', adminAllowedHosts: ['console.corp.example', 'scim.corp.example:9443'] });
    port = new URL(gw.gateway.adminUrl).port;
  });
  afterAll(() => gw?.stop());

  const get = (host: string) => rawRequest(`http://127.0.0.1:${port}/healthz`, { headers: { Host: host } });

  it('accepts only the allow-list and loopback', async () => {
    expect((await get(`console.corp.example:${port}`)).status).toBe(200);
    expect((await get('console.corp.example')).status).toBe(200); // a proxy on the default port
    expect((await get('scim.corp.example:9443')).status).toBe(200);
    expect((await get(`scim.corp.example:${port}`)).status).toBe(403);
    expect((await get(`127.0.0.1:${port}`)).status).toBe(200);
    expect((await get(`other.corp.example:${port}`)).status).toBe(403);
    expect((await get(`10.0.0.5:${port}`)).status).toBe(403);
  });

  it('refuses a bad allow-list entry at start-up, naming it', async () => {
    await expect(startTestGateway({ adminAllowedHosts: ['https://console.example/'] })).rejects.toThrow(/adminAllowedHosts.*https:\/\/console\.example/);
  });
});

describe('client address behind trusted proxies', () => {
  /** The SCIM listener's allow-list refusal names the address the gateway settled on. */
  async function seenAs(gw: TestGateway, xff: string): Promise<string> {
    const res = await gw.client.get('/Users', { 'X-Forwarded-For': xff });
    expect(res.status).toBe(403);
    return /Requests from (\S+) are not allowed/.exec(res.body.detail)![1];
  }

  it('trustProxy true is one hop: the right-most X-Forwarded-For entry, which the proxy appended', async () => {
    const gw = await startTestGateway({ trustProxy: true, ipAllowList: ['192.0.2.1'] });
    try {
      expect(await seenAs(gw, '192.0.2.1, 203.0.113.7')).toBe('203.0.113.7');
      expect(await seenAs(gw, '203.0.113.9')).toBe('203.0.113.9');
    } finally {
      await gw.stop();
    }
  });

  it('CIDRs: the right-most address that is not a trusted proxy', async () => {
    const gw = await startTestGateway({ trustProxy: ['loopback', '10.0.0.0/8'], ipAllowList: ['192.0.2.1'] });
    try {
      expect(await seenAs(gw, '192.0.2.1, 203.0.113.7, 10.1.1.1')).toBe('203.0.113.7');
      expect(await seenAs(gw, '192.0.2.1, ::ffff:203.0.113.8')).toBe('203.0.113.8');
    } finally {
      await gw.stop();
    }
  });

  it('a hop count: that many proxies from the right', async () => {
    const gw = await startTestGateway({ trustProxy: 2, ipAllowList: ['192.0.2.1'] });
    try {
      expect(await seenAs(gw, '192.0.2.1, 203.0.113.7, 10.1.1.1')).toBe('203.0.113.7');
    } finally {
      await gw.stop();
    }
  });

  it('the allow-list lets in the real client, whatever it puts first', async () => {
    const gw = await startTestGateway({ trustProxy: true, ipAllowList: ['203.0.113.0/24'] });
    try {
      expect((await gw.client.get('/Users', { 'X-Forwarded-For': '6.6.6.6, 203.0.113.7' })).status).toBe(200);
      expect((await gw.client.get('/Users', { 'X-Forwarded-For': '203.0.113.7, 6.6.6.6' })).status).toBe(403);
    } finally {
      await gw.stop();
    }
  });

  it('X-Forwarded-Proto and -Host: the values the trusted proxy set, not what the client sent before them', async () => {
    const gw = await startTestGateway({ trustProxy: true });
    try {
      const res = await gw.client.post('/Users', user('loc@example.com'), { 'X-Forwarded-Host': 'evil.example, scim.corp.example', 'X-Forwarded-Proto': 'http, https' });
      expect(res.status).toBe(201);
      expect(res.headers.get('location')).toMatch(/^https:\/\/scim\.corp\.example\/scim\/v2\/Users\//);
    } finally {
      await gw.stop();
    }
  });

  it('the console lockout counts the real client, not the left-most entry it makes up', async () => {
    const gw = await startTestGateway({ trustProxy: true });
    try {
      await setUp(gw);
      const c = new ConsoleClient(gw.gateway.adminUrl);
      for (let i = 0; i < 5; i++) await c.post('/api/session/login', { username: 'ada', password: `guess ${i}` }, { 'X-Forwarded-For': `198.51.100.${i}, 203.0.113.7` });
      const res = await c.post('/api/session/login', { username: 'ada', password: PASSWORD }, { 'X-Forwarded-For': '198.51.100.99, 203.0.113.7' });
      expect(res.status).toBe(429);
    } finally {
      await gw.stop();
    }
  });

  it('refuses a trustProxy that is neither a boolean, a hop count nor addresses', async () => {
    await expect(startTestGateway({ trustProxy: ['10.0.0.0/33'] })).rejects.toThrow(/trustProxy.*10\.0\.0\.0\/33/);
  });
});

describe('console sign-in lockout', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
    await setUp(gw);
  });
  afterAll(() => gw?.stop());

  /** Password checks that failed for an address: each is audited. */
  async function triesFrom(address: string): Promise<number> {
    const page = await gw.gateway.audit.query({ action: 'admin.login', result: 'failure', limit: 1000 });
    return page.records.filter((r) => r.detail === `from ${address}`).length;
  }

  it('a burst of 20 wrong passwords gets 5 tries, not more', async () => {
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => login(gw, 'ada', `guess ${i}`, '127.0.0.2')));
    // Four "not right", then the fifth failure locks: 429 for it and for all that waited.
    expect(replies.filter((r) => r.status === 401)).toHaveLength(4);
    expect(replies.filter((r) => r.status === 429)).toHaveLength(16);
    await waitFor(async () => (await triesFrom('127.0.0.2')) >= 5, 5_000, 'the audited tries');
    expect(await triesFrom('127.0.0.2')).toBe(5);
  });

  it('the right password at the end of a burst of 60 wrong ones is refused', async () => {
    const burst = Array.from({ length: 60 }, (_, i) => login(gw, 'ada', `guess ${i}`, '127.0.0.3'));
    burst.push(login(gw, 'ada', PASSWORD, '127.0.0.3'));
    const replies = await Promise.all(burst);
    expect(replies[60].status).toBe(429);
    await waitFor(async () => (await triesFrom('127.0.0.3')) >= 5, 5_000, 'the audited tries');
    expect(await triesFrom('127.0.0.3')).toBe(5);
  });

  it('locks the account from that address only: the admin signs in from another', async () => {
    expect((await login(gw, 'ada', PASSWORD, '127.0.0.2')).status).toBe(429);
    expect((await login(gw, 'ada', PASSWORD, '127.0.0.1')).status).toBe(200);
  });

  it('warns on the last tries', async () => {
    const messages: string[] = [];
    for (let i = 0; i < 4; i++) messages.push((await login(gw, 'ada', `wrong ${i}`, '127.0.0.4')).body.error.message);
    expect(messages[0]).toBe('The user name or password is not right.');
    expect(messages[2]).toMatch(/2 more failed attempts .* lock/);
    expect(messages[3]).toMatch(/1 more failed attempt .* lock/);
    const locked = await login(gw, 'ada', 'wrong 4', '127.0.0.4');
    expect(locked.status).toBe(429);
    expect(locked.body.error.message).toMatch(/scim-bridge admin unlock/);
  });

  it('`scim-bridge admin unlock` lifts the lockout of a running gateway', async () => {
    expect((await login(gw, 'ada', PASSWORD, '127.0.0.2')).status).toBe(429);
    const out = runCli(['admin', 'unlock', 'ada', '--data-dir', gw.dataDir]);
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/ada/);
    expect((await login(gw, 'ada', PASSWORD, '127.0.0.2')).status).toBe(200);
    // Only what was asked: other addresses' lockouts of other names stay.
    const bad = runCli(['admin', 'unlock', '--address', 'not-an-ip', '--data-dir', gw.dataDir]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/not-an-ip/);
  });
});

describe('admin listener timeouts', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({}, { listenerTimeouts: { headersMs: 400, requestMs: 2_000 } });
  });
  afterAll(() => gw?.stop());

  /** Resolves true when the server closes a connection whose headers never end. */
  function closesSlowHeaders(base: string): Promise<boolean> {
    const url = new URL(base);
    return new Promise((resolve) => {
      const socket = connect(Number(url.port), url.hostname, () => socket.write(`GET /healthz HTTP/1.1\r\nHost: ${url.host}\r\nX-Slow: `));
      const bound = setTimeout(() => {
        socket.destroy();
        resolve(false);
      }, 10_000);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearTimeout(bound);
        resolve(true);
      });
      socket.resume();
    });
  }

  it('closes a connection that never finishes its headers, like the SCIM listener', async () => {
    expect(await closesSlowHeaders(gw.gateway.adminUrl)).toBe(true);
    expect(await closesSlowHeaders(gw.base)).toBe(true);
  });
});
