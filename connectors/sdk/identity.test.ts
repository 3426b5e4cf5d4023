import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConnectorContractError, defineConnector, normalizeEndpoint, resolveTargetIdentity, secret, secretsMayFollow, validateConnector, type ConnectorManifest } from './index.js';

describe('normalizeEndpoint', () => {
  it.each([
    ['LDAP://Dir.Example.ORG', 'ldap://dir.example.org:389'],
    ['ldaps://dir.example.org/', 'ldaps://dir.example.org:636'],
    ['https://api.example.org/v1/users?x=1', 'https://api.example.org:443'],
    ['http://api.example.org:80', 'http://api.example.org:80'],
    ['https://user:pw@api.example.org.:8443/x', 'https://api.example.org:8443'],
    ['ldap://[::1]:1389', 'ldap://[::1]:1389'],
  ])('%s -> %s', (url, expected) => {
    expect(normalizeEndpoint(url)).toBe(expected);
  });

  it('takes a default port for a scheme it does not know, and refuses a URL without a host', () => {
    expect(normalizeEndpoint('erp://erp.example.org', 7000)).toBe('erp://erp.example.org:7000');
    expect(() => normalizeEndpoint('mailto:a@example.org')).toThrow(/names no host/);
  });
});

const configSchema = z
  .object({
    url: z.url(),
    auth: z.discriminatedUnion('type', [
      z.object({ type: z.literal('basic'), user: z.string(), password: secret(z.string().min(1), { optional: true }) }).strict().refine((a) => a.password !== undefined, 'password is not set'),
      z.object({ type: z.literal('token'), token: secret(z.string().min(1), { optional: true }) }).strict().refine((a) => a.token !== undefined, 'token is not set'),
    ]),
    timeoutMs: z.number().default(1000),
  })
  .strict();
type Config = z.infer<typeof configSchema>;

function manifest(targetIdentity?: ConnectorManifest<Config>['targetIdentity']): ConnectorManifest<Config> {
  return { type: 'fake-api', displayName: 'Fake', version: '1.0.0', description: 'test double', configSchema, capabilities: {}, ...(targetIdentity ? { targetIdentity } : {}) };
}
const byUrl = manifest((c) => ({ target: normalizeEndpoint(c.url) }));
const stored = (url: string, extra: Record<string, unknown> = {}) => ({ url, auth: { type: 'basic', user: 'svc', password: { $secret: true } }, ...extra });

describe('resolveTargetIdentity', () => {
  it('reads the identity of a stored configuration whose required secrets are references or absent', () => {
    expect(resolveTargetIdentity(byUrl, stored('https://API.example.org/x'))).toMatchObject({ target: 'https://api.example.org:443', endpoints: ['https://api.example.org:443'] });
    // The other union branch's secret must not be filled in where the schema refuses it.
    expect(resolveTargetIdentity(byUrl, { url: 'https://api.example.org', auth: { type: 'token' } }).target).toBe('https://api.example.org:443');
  });

  it('hands the identity function no secret, not even a stand-in', () => {
    let seen: unknown;
    resolveTargetIdentity(manifest((c) => ((seen = c), { target: 'x' })), stored('https://api.example.org'));
    expect(seen).toMatchObject({ auth: { type: 'basic', user: 'svc' } });
    expect((seen as Config).auth).not.toHaveProperty('password');
  });

  it('knows no identity for a type without targetIdentity, a configuration the schema refuses, or a function that throws', () => {
    for (const [m, config] of [
      [manifest(), stored('https://api.example.org')],
      [byUrl, stored('not a url')],
      [manifest(() => { throw new Error('boom'); }), stored('https://api.example.org')],
    ] as const) {
      const identity = resolveTargetIdentity(m, config);
      expect(identity.target).toBeUndefined();
      expect(identity.endpoints).toBeUndefined();
      expect(identity.config).toMatchObject({ url: config.url, auth: { type: 'basic', user: 'svc' } });
    }
  });
});

describe('secretsMayFollow', () => {
  it('lets a secret follow a configuration whose endpoints are all among the saved one\'s', () => {
    const saved = resolveTargetIdentity(byUrl, stored('https://api.example.org/v1'));
    expect(secretsMayFollow(resolveTargetIdentity(byUrl, stored('https://api.example.org/v2', { timeoutMs: 5 })), saved)).toBe(true);
    for (const url of ['https://evil.example.org', 'http://api.example.org', 'https://api.example.org:8443']) {
      expect(secretsMayFollow(resolveTargetIdentity(byUrl, stored(url)), saved), url).toBe(false);
    }
  });

  it('without an identity, lets it follow the very same configuration only (secrets aside)', () => {
    const plain = manifest();
    const saved = resolveTargetIdentity(plain, stored('https://api.example.org'));
    expect(secretsMayFollow(resolveTargetIdentity(plain, { ...stored('https://api.example.org'), auth: { user: 'svc', type: 'basic' } }), saved)).toBe(true);
    expect(secretsMayFollow(resolveTargetIdentity(plain, stored('https://api.example.org', { timeoutMs: 5 })), saved)).toBe(false);
  });
});

describe('the manifest check', () => {
  it('refuses a targetIdentity that is not a function', () => {
    const m = { ...manifest(), targetIdentity: 'ldap://x' } as unknown as ConnectorManifest<unknown>;
    const lifecycle = { init: async () => {}, test: async () => ({ ok: true, message: '' }), dispose: async () => {} };
    let problems: string[] = [];
    try {
      validateConnector(defineConnector(m, () => lifecycle));
    } catch (err) {
      expect(err).toBeInstanceOf(ConnectorContractError);
      problems = (err as ConnectorContractError).problems;
    }
    expect(problems).toEqual(['targetIdentity must be a function of the config']);
  });
});
