import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('uses defaults, then file, then environment, then flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ port: 9000, adminPort: 9001, limits: { maxResults: 50 }, dataDir: dir }));
    const c = loadConfig({ configFile: file, env: { SCIM_BRIDGE_ADMIN_PORT: '9101', SCIM_BRIDGE_LIMITS_BULK_MAX_OPERATIONS: '10' }, flags: { adminPort: '9201' } });
    expect(c.port).toBe(9000);
    expect(c.adminPort).toBe(9201);
    expect(c.limits.maxResults).toBe(50);
    expect(c.limits.bulkMaxOperations).toBe(10);
    expect(c.limits.maxBodyBytes).toBe(1_048_576);
    expect(c.limits.bodyBudgetBytes).toBe(64 * 1_048_576);
    expect(c.concurrencyPerToken).toBe(32);
    expect(c.host).toBe('0.0.0.0');
    expect(c.adminHost).toBe('127.0.0.1');
  });

  it.each([
    [{ env: { SCIM_BRIDGE_PORT: 'x' } }, /"port" \(from environment variable SCIM_BRIDGE_PORT\)/],
    [{ env: { SCIM_BRIDGE_LOG_LEVEL: 'loud' } }, /"logLevel"/],
    [{ env: { SCIM_BRIDGE_NOPE: '1' } }, /Unknown environment variable SCIM_BRIDGE_NOPE/],
    [{ env: {}, flags: { port: 70000 } }, /"port" \(from command-line flag --port\)/],
    [{ env: {}, flags: { publicUrl: 'not a url' } }, /"publicUrl"/],
    [{ env: { SCIM_BRIDGE_LIMITS_BODY_BUDGET_BYTES: '1000' } }, /"limits.bodyBudgetBytes".*at least maxBodyBytes and bulkMaxPayloadBytes/],
    [{ env: { SCIM_BRIDGE_CONCURRENCY_PER_TOKEN: '-1' } }, /"concurrencyPerToken"/],
  ])('refuses bad values naming the key and source: %j', (opts, message) => {
    expect(() => loadConfig(opts as never)).toThrow(ConfigError);
    expect(() => loadConfig(opts as never)).toThrow(message);
  });

  it('refuses unknown keys in a config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ limits: { maxResult: 3 } }));
    expect(() => loadConfig({ configFile: file, env: {} })).toThrow(/limits.*unknown key\(s\) maxResult/);
    writeFileSync(file, '{ nope');
    expect(() => loadConfig({ configFile: file, env: {} })).toThrow(/not a JSON object/);
  });
});
