/** The SCIM listener's defences over real sockets: TLS, the IP allow-list, rate limits, lockout, headers. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScimClient, startTestGateway, user, type TestGateway } from '../helpers/gateway.js';

const certDir = mkdtempSync(join(tmpdir(), 'scim-bridge-tls-'));
const certFile = join(certDir, 'cert.pem');
const keyFile = join(certDir, 'key.pem');
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
afterAll(() => rmSync(certDir, { recursive: true, force: true }));

/** GET over TLS, trusting only the test's own certificate. */
function tlsGet(url: string, token: string, ca: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { Authorization: `Bearer ${token}` }, ca }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('TLS on the SCIM listener', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ tlsCert: certFile, tlsKey: keyFile });
  });
  afterAll(async () => gw.stop());

  it('serves SCIM over HTTPS with HSTS, and the base URL says https', async () => {
    expect(gw.base.startsWith('https://')).toBe(true);
    const { readFileSync } = await import('node:fs');
    const r = await tlsGet(`${gw.base}/ServiceProviderConfig`, gw.token, readFileSync(certFile, 'utf8'));
    expect(r.status).toBe(200);
    expect(r.headers['strict-transport-security']).toBe('max-age=31536000');
    expect(JSON.parse(r.body).schemas).toContain('urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig');
  });

  it('refuses to start with a key that does not match, or a file that is missing, naming it', async () => {
    const otherKey = join(certDir, 'other.pem');
    execFileSync('openssl', ['genrsa', '-out', otherKey, '2048'], { stdio: 'ignore' });
    await expect(startTestGateway({ tlsCert: certFile, tlsKey: otherKey })).rejects.toThrow(/cannot be used together/);
    await expect(startTestGateway({ tlsCert: join(certDir, 'nope.pem'), tlsKey: keyFile })).rejects.toThrow(/Cannot read the TLS certificate .*nope\.pem/);
  });
});

describe('IP allow-list', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ ipAllowList: ['10.0.0.0/8'] });
  });
  afterAll(async () => gw.stop());

  it('answers 403 with a SCIM error to an address outside the list, whatever the token', async () => {
    const r = await gw.client.get('/Users');
    expect(r.status).toBe(403);
    expect(r.headers.get('content-type')).toContain('application/scim+json');
    expect(r.body.detail).toMatch(/127\.0\.0\.1 are not allowed.*ipAllowList/);
  });
});

describe('rate limits and bad-token lockout', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ rateLimitPerToken: 5, lockoutFailures: 5 });
  });
  afterAll(async () => gw.stop());

  it('answers 429 with Retry-After to a token over its rate, and sends security headers', async () => {
    const replies = await Promise.all(Array.from({ length: 20 }, () => gw.client.get('/Users?count=1')));
    const limited = replies.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(8);
    expect(Number(limited[0].headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limited[0].body.detail).toMatch(/more than 5 requests per second/);
    expect(replies[0].headers.get('x-content-type-options')).toBe('nosniff');
    expect(replies[0].headers.get('cache-control')).toBe('no-store');
  });

  it('locks out an address that keeps sending bad tokens, while a valid token still works', async () => {
    const bad = new ScimClient(gw.base, 'scb_not-a-real-token');
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await bad.get('/Users')).status);
    expect(statuses.slice(0, 4)).toEqual([401, 401, 401, 401]);
    expect(statuses.slice(4)).toEqual([429, 429, 429]);
    await new Promise((r) => setTimeout(r, 1_100)); // the valid token's bucket refills
    expect((await gw.client.post('/Users', user('still-works@example.com'))).status).toBe(201);
  });
});
