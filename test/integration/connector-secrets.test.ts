/**
 * What a console session can do with connector secrets it cannot read, over the admin API of a
 * real gateway, with two real HTTP APIs: the one the admin saved the credential for, and another
 * one standing in for a host of the session's choosing (it records every request it gets).
 *
 * - A saved secret is sent only where it was entered: Test connection and save with another host
 *   (or port) need it typed again, and change nothing until then.
 * - `{"$env"}` references are read only from `SCIM_BRIDGE_SECRET_*` variables and are never set
 *   from the console.
 * - Deleting a connector deletes its secrets; a new connector with the same id inherits none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { legacyApiConfig } from '../../connectors/rest/legacy-api.fixture.js';
import { signInFirstAdmin, type ConsoleClient } from '../helpers/console.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startLegacyApi, type LegacyApi } from '../servers/legacy-api.js';

const PASSWORD = 'legacy-api-password-Qx7';
const GATEWAY_ONLY_ENV = 'SCIM_BRIDGE_TEST_GATEWAY_ONLY';
const GATEWAY_ONLY_VALUE = 'gateway-private-value-9Lk';

let gw: TestGateway;
let c: ConsoleClient;
let real: LegacyApi;
let other: LegacyApi;

beforeAll(async () => {
  real = await startLegacyApi({ auth: { kind: 'basic', username: 'svc-scim', password: PASSWORD } });
  other = await startLegacyApi({ auth: { kind: 'basic', username: 'nobody', password: 'nothing' } });
  process.env[GATEWAY_ONLY_ENV] = GATEWAY_ONLY_VALUE;
  gw = await startTestGateway();
  c = await signInFirstAdmin(gw.gateway);
  expect((await c.put('/api/connections/hr', { policies: {} })).status).toBe(201);
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await real?.close();
  await other?.close();
  delete process.env[GATEWAY_ONLY_ENV];
});

const basic = (password?: unknown) => ({ type: 'basic', username: 'svc-scim', ...(password !== undefined ? { password } : {}) });
const save = (id: string, config: unknown) => c.put(`/api/connections/hr/connectors/${id}`, { type: 'rest', config });
const listed = async (id: string) => ((await c.get('/api/connectors')).body.connectors as Array<Record<string, any>>).find((k) => k.id === id);
/** Whether the other host got any of the secrets, in any form (Basic auth is base64). */
const otherGot = (...secrets: string[]) =>
  other.requests.some((r) => {
    const seen = JSON.stringify(r);
    return secrets.some((s) => seen.includes(s) || seen.includes(Buffer.from(`svc-scim:${s}`).toString('base64')));
  });

describe('a saved secret is sent only where it was entered', () => {
  it('Test connection uses the saved password for the same API, and refuses to send it to another host', async () => {
    const saved = await save('hr-api', legacyApiConfig(real.url, basic(PASSWORD)));
    expect(saved.status).toBe(201);
    expect(saved.body.connector.state).toBe('running');

    const same = await c.post('/api/connectors/test', { type: 'rest', id: 'hr-api', config: legacyApiConfig(real.url, basic()) });
    expect(same.body).toMatchObject({ ok: true });

    const moved = await c.post('/api/connectors/test', { type: 'rest', id: 'hr-api', config: legacyApiConfig(other.url, basic()) });
    expect(moved.status).toBe(400);
    expect(moved.body.error).toMatchObject({ code: 'invalid', field: 'config.auth.password' });
    expect(moved.body.error.message).toMatch(/auth\.password.*type it again/);
    expect(moved.body.error.message).toContain(other.url.replace('http://', ''));
    expect(otherGot(PASSWORD)).toBe(false);

    // A password typed into the form goes where the form says: that is the admin's own choice.
    const typed = await c.post('/api/connectors/test', { type: 'rest', id: 'hr-api', config: legacyApiConfig(other.url, basic('typed-for-the-other-host')) });
    expect(typed.status).toBe(200);
    expect(typed.body.ok).toBe(false); // the other API does not know this account
    expect(otherGot(PASSWORD)).toBe(false);
  });

  it('saving with another host or port needs the password again, and changes nothing until it is given', async () => {
    const port = Number(new URL(real.url).port);
    for (const baseUrl of [other.url, `http://127.0.0.1:${port + 1}`, `http://localhost:${port}`]) {
      const refused = await save('hr-api', legacyApiConfig(baseUrl, basic()));
      expect(refused.status, baseUrl).toBe(400);
      expect(refused.body.error.field).toBe('config.auth.password');
    }
    const kept = await listed('hr-api');
    expect(kept).toMatchObject({ state: 'running', config: { baseUrl: real.url }, secrets: expect.arrayContaining([{ path: 'auth.password', set: true, required: false }]) });
    expect((await c.post('/api/connectors/hr-api/test')).body).toMatchObject({ ok: true });
    expect(otherGot(PASSWORD)).toBe(false);

    // Another setting on the same API keeps the saved password.
    const retimed = await save('hr-api', { ...legacyApiConfig(real.url, basic()), timeoutMs: 7_000 });
    expect(retimed.status).toBe(200);
    expect(retimed.body.connector.state).toBe('running');

    // Typed again, the move is saved: the new host gets the password typed for it, never the old one.
    const moved = await save('hr-api', legacyApiConfig(other.url, basic('typed-for-the-other-host')));
    expect(moved.status).toBe(200);
    await c.post('/api/connectors/hr-api/test');
    expect(otherGot('typed-for-the-other-host')).toBe(true);
    expect(otherGot(PASSWORD)).toBe(false);
    // null removes a saved secret (the way to leave one out on a move).
    const cleared = await save('hr-api', legacyApiConfig(other.url, basic(null)));
    expect(cleared.body.connector).toMatchObject({ state: 'failed', error: expect.stringMatching(/auth\.password.*secret is not set/) });
    expect(await gw.gateway.secrets!.has('hr-api:auth.password')).toBe(false);
  });
});

describe('{"$env"} references', () => {
  it('are never read from a variable outside SCIM_BRIDGE_SECRET_*, and never set from the console', async () => {
    const gatewayVar = await c.post('/api/connectors/test', { type: 'rest', config: legacyApiConfig(other.url, basic({ $env: GATEWAY_ONLY_ENV })) });
    expect(gatewayVar.status).toBe(400);
    expect(gatewayVar.body.error.field).toBe('config.auth.password');
    const prefixed = await c.post('/api/connectors/test', { type: 'rest', config: legacyApiConfig(other.url, basic({ $env: 'SCIM_BRIDGE_SECRET_HR' })) });
    expect(prefixed.status).toBe(400);
    expect(prefixed.body.error.message).toMatch(/config file/);
    const saved = await save('hr-env', legacyApiConfig(other.url, basic({ $env: GATEWAY_ONLY_ENV })));
    expect(saved.status).toBe(400);
    expect(saved.body.error.field).toBe('config.auth.password');
    expect(await listed('hr-env')).toBeUndefined();
    expect(otherGot(GATEWAY_ONLY_VALUE)).toBe(false);
  });
});

describe('a deleted connector takes its secrets with it', () => {
  it('deletes them from the secret store, and a new connector with the same id starts without any', async () => {
    expect((await save('hr-gone', legacyApiConfig(real.url, basic(PASSWORD)))).body.connector.state).toBe('running');
    expect(await gw.gateway.secrets!.has('hr-gone:auth.password')).toBe(true);
    expect((await c.delete('/api/connections/hr/connectors/hr-gone')).status).toBe(204);
    expect(await gw.gateway.secrets!.list()).not.toContain('hr-gone:auth.password');

    const again = await save('hr-gone', legacyApiConfig(real.url, basic()));
    expect(again.status).toBe(201);
    expect(again.body.connector).toMatchObject({ state: 'failed', error: expect.stringMatching(/auth\.password.*secret is not set/) });
    expect((await listed('hr-gone'))?.secrets).toContainEqual({ path: 'auth.password', set: false, required: false });
  });

  it('a secret left under that id (a crash between the delete and the cleanup, an older version) is not inherited either', async () => {
    await gw.gateway.secrets!.set('hr-left:auth.password', PASSWORD);
    const created = await save('hr-left', legacyApiConfig(real.url, basic()));
    expect(created.body.connector.state).toBe('failed');
    expect((await listed('hr-left'))?.secrets).toContainEqual({ path: 'auth.password', set: false, required: false });
    expect(await gw.gateway.secrets!.has('hr-left:auth.password')).toBe(false);
  });

  it('a connector that changes type drops the secrets of its old type', async () => {
    expect((await save('hr-retyped', legacyApiConfig(real.url, basic(PASSWORD)))).body.connector.state).toBe('running');
    const retyped = await c.put('/api/connections/hr/connectors/hr-retyped', { type: 'demo', config: { name: 'lab' } });
    expect(retyped.status).toBe(200);
    expect(await gw.gateway.secrets!.list()).not.toContain('hr-retyped:auth.password');
  });
});
