/**
 * The database goes away under a gateway on the PostgreSQL store: SCIM answers 503 (IdPs retry)
 * without the password in any answer or log line, nothing acknowledged is lost, and the gateway
 * works again by itself once the database is back. The password may come from the secret store;
 * a config without databaseUrl is refused.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { openSecretStore } from '../../src/gateway/secrets/index.js';
import { startGateway } from '../../src/gateway/server.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/gateway/config.js';
import { startTestGateway, user, waitFor, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type PostgresServer } from '../servers/postgres.js';

let pg: PostgresServer;
beforeAll(async () => {
  pg = await startPostgres();
}, 60_000);
afterAll(async () => {
  await pg?.close();
});

describe('PostgreSQL store: the database goes away', () => {
  it('503 while it is down, back to normal when it returns, nothing lost, no password shown', { timeout: 90_000 }, async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
    const url = await pg.createDatabase('outage');
    let gw: TestGateway | undefined;
    try {
      gw = await startTestGateway({ store: 'postgres', databaseUrl: url }, { logger });
      const before = await gw.client.post('/Users', user('kept@example.com'));
      expect(before.status).toBe(201);

      await pg.stop();
      const down = await gw.client.post('/Users', user('refused@example.com'));
      expect(down.status).toBe(503);
      expect(down.headers.get('content-type')).toMatch(/scim\+json/);
      expect((await gw.client.get(`/Users/${before.body.id}`)).status).toBe(503);
      expect(down.text).not.toContain(pg.password);

      await pg.start();
      await waitFor(async () => (await gw!.client.get(`/Users/${before.body.id}`)).status === 200, 30_000, 'reads to work again');
      expect((await gw.client.post('/Users', user('after@example.com'))).status).toBe(201);
      const list = await gw.client.get('/Users?filter=' + encodeURIComponent('userName eq "refused@example.com"'));
      expect(list.body.totalResults).toBe(0);
    } finally {
      await gw?.stop();
    }
    expect(lines.join('')).not.toContain(pg.password);
  });

  it('takes the password from the secret store (store:databasePassword) when the URL has none', { timeout: 60_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'scim-bridge-pgsecret-'));
    try {
      const secrets = await openSecretStore({ dataDir, backend: 'file' });
      await secrets.set('store:databasePassword', pg.password);
      await secrets.close();
      const url = (await pg.createDatabase('from_secret')).replace(`:${encodeURIComponent(pg.password)}@`, '@');
      const config = loadConfig({ env: {}, flags: { dataDir, port: 0, adminPort: 0, host: '127.0.0.1', logLevel: 'silent', secretsBackend: 'file', store: 'postgres', databaseUrl: url } });
      const gateway = await startGateway(config, { logger: pino({ level: 'silent' }) });
      try {
        expect((await gateway.store.stats()).users).toBe(0);
        expect((await pg.admin<{ n: string }>("SELECT count(*)::text AS n FROM pg_tables WHERE tablename = 'scim_resources'", [], 'from_secret'))[0].n).toBe('1');
      } finally {
        await gateway.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a database that asks for a password nobody configured: the error names the settings, not the SASL internals', { timeout: 60_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'scim-bridge-pgnopass-'));
    const saved = process.env.PGPASSWORD;
    delete process.env.PGPASSWORD;
    try {
      const url = (await pg.createDatabase('no_password')).replace(`:${encodeURIComponent(pg.password)}@`, '@').replace(/^postgres:/, 'postgresql:');
      const config = loadConfig({ env: {}, flags: { dataDir, port: 0, adminPort: 0, host: '127.0.0.1', logLevel: 'silent', secretsBackend: 'file', store: 'postgres', databaseUrl: url } });
      const failure = await startGateway(config, { logger: pino({ level: 'silent' }) }).then(
        async (g) => {
          await g.stop();
          return undefined;
        },
        (err: Error) => err.message,
      );
      expect(failure).toMatch(/asks for a password/);
      expect(failure).toMatch(/PGPASSWORD/);
      expect(failure).toMatch(/secrets set store databasePassword/);
      expect(failure).not.toMatch(/SASL|SCRAM/);
    } finally {
      if (saved !== undefined) process.env.PGPASSWORD = saved;
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses store postgres without a database URL, and a URL that is not postgres://, without repeating it', () => {
    expect(() => loadConfig({ env: {}, flags: { dataDir: '/tmp/x', store: 'postgres' } })).toThrow(/needs databaseUrl/);
    expect(() => loadConfig({ env: { SCIM_BRIDGE_DATABASE_URL: 'mysql://u:topsecret@h/db' }, flags: { dataDir: '/tmp/x' } })).toThrow(/must start with postgres:\/\/ or postgresql:\/\//);
    try {
      loadConfig({ env: { SCIM_BRIDGE_DATABASE_URL: 'mysql://u:topsecret@h/db' }, flags: { dataDir: '/tmp/x' } });
    } catch (err) {
      expect((err as Error).message).not.toContain('topsecret');
    }
  });
});
