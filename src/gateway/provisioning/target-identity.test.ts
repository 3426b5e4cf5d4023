/**
 * The built-in connectors' target identities, as the gateway reads them from stored
 * configurations (secret fields as references): what counts as one target, and which changes send
 * secrets somewhere else.
 */
import { describe, expect, it } from 'vitest';
import { resolveTargetIdentity, secretsMayFollow, type ResolvedTargetIdentity } from '../../../connectors/sdk/index.js';
import { builtInConnectorTypes } from './connectors.js';

const types = builtInConnectorTypes();
const identity = (type: string, config: unknown): ResolvedTargetIdentity => resolveTargetIdentity(types.get(type)!().manifest, config);
const SECRET = { $secret: true };

describe('ldap', () => {
  const ldap = (url: unknown, baseDN = 'ou=people,dc=Example,dc=org') => ({ url, bindDN: 'cn=admin,dc=example,dc=org', bindPassword: SECRET, users: { baseDN } });

  it('is the first server and the naming context, so two OUs of one directory are one target', () => {
    expect(identity('ldap', ldap('ldap://DIR.example.org'))).toMatchObject({ target: 'ldap://dir.example.org:389/dc=example,dc=org', endpoints: ['ldap://dir.example.org:389'] });
    expect(identity('ldap', ldap('ldap://dir.example.org:389/', 'ou=staff,ou=people,dc=example,dc=org')).target).toBe('ldap://dir.example.org:389/dc=example,dc=org');
    expect(identity('ldap', ldap('ldap://dir.example.org', 'ou=people,o=Example')).target).toBe('ldap://dir.example.org:389/ou=people,o=example');
  });

  it('sends the bind password to every server of a failover list', () => {
    const saved = identity('ldap', ldap(['ldaps://a.example.org', 'ldaps://b.example.org']));
    expect(saved.endpoints).toEqual(['ldaps://a.example.org:636', 'ldaps://b.example.org:636']);
    expect(secretsMayFollow(identity('ldap', ldap('ldaps://b.example.org:636')), saved)).toBe(true);
    expect(secretsMayFollow(identity('ldap', ldap(['ldaps://a.example.org', 'ldaps://c.example.org'])), saved)).toBe(false);
  });
});

describe('sql', () => {
  const pg = (connection: Record<string, unknown>) => ({ dialect: 'postgres', connection: { user: 'scim', password: SECRET, ...connection }, table: {} });

  it('is the server and database; another database needs the password again', () => {
    const saved = identity('sql', pg({ host: 'DB.example.org', database: 'hr' }));
    expect(saved.target).toBe('postgres://db.example.org:5432/hr');
    expect(secretsMayFollow(identity('sql', pg({ host: 'db.example.org', port: 5432, database: 'hr', user: 'other' })), saved)).toBe(true);
    expect(secretsMayFollow(identity('sql', pg({ host: 'db.example.org', database: 'crm' })), saved)).toBe(false);
    expect(identity('sql', { dialect: 'mariadb', connection: { host: '::1', database: 'intranet', user: 'scim' }, table: {} }).target).toBe('mysql://[::1]:3306/intranet');
    expect(identity('sql', { dialect: 'sqlite', connection: { file: '/var/lib/app/app.db' }, table: {} }).target).toBe('sqlite:///var/lib/app/app.db');
  });
});

describe('rest', () => {
  const rest = (baseUrl: string, auth: Record<string, unknown>) => ({ baseUrl, auth, operations: { createUser: { method: 'POST', url: '/users' }, updateUser: { method: 'PUT', url: '/users/{{key}}' } } });

  it('is the base URL; credentials go to its server, and to the token URL with OAuth2', () => {
    expect(identity('rest', rest('https://HR.example.org/api/', { type: 'bearer', token: SECRET }))).toMatchObject({ target: 'https://hr.example.org:443/api', endpoints: ['https://hr.example.org:443'] });
    const oauth = identity('rest', rest('https://hr.example.org', { type: 'oauth2', tokenUrl: 'https://login.example.org/token', clientId: 'scim', clientSecret: SECRET }));
    expect(oauth.endpoints).toEqual(['https://hr.example.org:443', 'https://login.example.org:443']);
    const elsewhere = identity('rest', rest('https://hr.example.org', { type: 'oauth2', tokenUrl: 'https://evil.example.org/token', clientId: 'scim', clientSecret: SECRET }));
    expect(secretsMayFollow(elsewhere, oauth)).toBe(false);
  });
});

describe('script', () => {
  const script = (extra: Record<string, unknown> = {}) => ({ command: '/opt/erp/provision', args: ['--tenant', 'a'], credentials: { apiKey: SECRET }, ...extra });

  it('is the command line: its arguments, directory and environment all decide what receives the credentials', () => {
    const saved = identity('script', script());
    expect(saved.target).toBe('script:/opt/erp/provision --tenant a');
    expect(secretsMayFollow(identity('script', script({ timeoutMs: 60_000 })), saved)).toBe(true);
    for (const changed of [{ command: '/bin/sh' }, { args: ['-c', 'env'] }, { cwd: '/tmp' }, { env: { NODE_OPTIONS: '--require /tmp/x.js' } }, { inheritEnv: ['PATH', 'SCIM_BRIDGE_SECRET_OTHER'] }]) {
      expect(secretsMayFollow(identity('script', script(changed)), saved), JSON.stringify(changed)).toBe(false);
    }
  });
});

describe('csv', () => {
  it('is the file', () => {
    const csv = { path: '/srv/export/users.csv', columns: [{ header: 'login', field: 'key' }, { header: 'active', flag: { active: 'Y', inactive: 'N' } }] };
    expect(identity('csv', csv).target).toBe('file:///srv/export/users.csv');
  });
});
