import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, configSchema, limitsSchema, loadConfig } from './config.js';
import { SECRET_ENV_PREFIX } from './provisioning/connector-secrets.js';

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

  it('leaves SCIM_BRIDGE_SECRET_* to connector secrets: never a setting, never refused as an unknown one', () => {
    const c = loadConfig({ env: { SCIM_BRIDGE_SECRET_LDAP_BIND_PASSWORD: 'x', SCIM_BRIDGE_ADMIN_PORT: '9101' }, flags: { dataDir: tmpdir() } });
    expect(c.adminPort).toBe(9101);
    // No setting may ever be named so that a connector's {"$env"} reference could read it.
    const camel = (k: string) => k.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
    const names = [...Object.keys(configSchema.shape).map((k) => `SCIM_BRIDGE_${camel(k)}`), ...Object.keys(limitsSchema.shape).map((k) => `SCIM_BRIDGE_LIMITS_${camel(k)}`)];
    expect(names).toContain('SCIM_BRIDGE_SECRETS_BACKEND');
    expect(names.filter((n) => n.startsWith(SECRET_ENV_PREFIX))).toEqual([]);
  });

  it('refuses unknown keys in a config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ limits: { maxResult: 3 } }));
    expect(() => loadConfig({ configFile: file, env: {} })).toThrow(/limits.*unknown key\(s\) maxResult/);
    writeFileSync(file, '{ nope');
    expect(() => loadConfig({ configFile: file, env: {} })).toThrow(/not a JSON object/);
  });

  it('reads trustProxy as true/false, a hop count or addresses, from the file or the environment', () => {
    const env = (v: string) => loadConfig({ env: { SCIM_BRIDGE_TRUST_PROXY: v } }).trustProxy;
    expect(loadConfig({ env: {} }).trustProxy).toBe(false);
    expect(env('yes')).toBe(true);
    expect(env('off')).toBe(false);
    expect(env('1')).toBe(1); // one hop, as true
    expect(env('2')).toBe(2);
    expect(env('10.0.0.0/8, loopback')).toEqual(['10.0.0.0/8', 'loopback']);
    expect(() => env('10.0.0.0/8,proxy.example')).toThrow(/"trustProxy" \(from environment variable SCIM_BRIDGE_TRUST_PROXY\).*"proxy\.example" is not an IP address/);
    expect(loadConfig({ env: {}, flags: { trustProxy: ['192.0.2.0/24'] } }).trustProxy).toEqual(['192.0.2.0/24']);
    expect(() => loadConfig({ env: {}, flags: { trustProxy: 'true' } })).toThrow(/trustProxy/);
  });

  it('reads adminAllowedHosts as a list, naming an entry that is not a host', () => {
    expect(loadConfig({ env: { SCIM_BRIDGE_ADMIN_ALLOWED_HOSTS: 'console.example.com, proxy.example.com:8443' } }).adminAllowedHosts).toEqual(['console.example.com', 'proxy.example.com:8443']);
    expect(() => loadConfig({ env: { SCIM_BRIDGE_ADMIN_ALLOWED_HOSTS: 'http://console.example.com' } })).toThrow(/adminAllowedHosts.*"http:\/\/console\.example\.com" is not a host name/);
  });
});
