/** Account names, and the per-connector helpers the gateway uses over any store. */
import { afterAll, describe, expect, it } from 'vitest';
import { connectorSecrets, deleteConnectorSecrets, isSecretAccount, openFileSecretStore, parseSecretAccount, secretAccount, SecretStoreError } from './index.js';
import { cleanupDirs, tempDir } from './secrets.fixture.js';

afterAll(cleanupDirs);

describe('secret accounts', () => {
  it('builds and parses "<connectorId>:<fieldPath>"', () => {
    expect(secretAccount('ldap-main', 'bindPassword')).toBe('ldap-main:bindPassword');
    expect(secretAccount('rest_1', 'auth.clientSecret')).toBe('rest_1:auth.clientSecret');
    expect(parseSecretAccount('rest_1:auth.clientSecret')).toEqual({ connectorId: 'rest_1', fieldPath: 'auth.clientSecret' });
    expect(() => parseSecretAccount('a:b:c')).toThrow(SecretStoreError); // one colon only
  });

  it('refuses what is not a connector id and a dot path, naming the rule', () => {
    const bad = [
      ['', 'x'],
      ['Upper', 'x'],
      ['-lead', 'x'],
      ['a'.repeat(64), 'x'],
      ['ok', ''],
      ['ok', 'a..b'],
      ['ok', '.a'],
      ['ok', 'a.'],
      ['ok', 'servers[].password'],
      ['ok', 'has space'],
      ['ok', 'colon:inside'],
      ['ok', 'x'.repeat(193)],
    ];
    for (const [id, path] of bad) {
      expect(() => secretAccount(id, path), `${id}:${path}`).toThrow(SecretStoreError);
      expect(isSecretAccount(`${id}:${path}`), `${id}:${path}`).toBe(false);
    }
    expect(() => parseSecretAccount('nocolon')).toThrow('has no ":"');
    expect(() => secretAccount('Upper', 'x')).toThrow('lower-case letters');
    expect(isSecretAccount('.probe-1-abc')).toBe(false); // the keychain probe's name is never listed
    expect(isSecretAccount('a'.repeat(63) + ':' + 'f'.repeat(192))).toBe(true);
  });
});

describe('connector helpers', () => {
  it('connectorSecrets reads a connector instance\'s fields; deleteConnectorSecrets removes only its own', async () => {
    const store = await openFileSecretStore({ dataDir: await tempDir() });
    await store.set('ldap-main:bindPassword', 'pw-main');
    await store.set('ldap-main:tls.keyPassphrase', 'pp');
    await store.set('ldap-main2:bindPassword', 'pw-other');

    const reader = connectorSecrets(store, 'ldap-main');
    expect(await reader.get('bindPassword')).toBe('pw-main');
    expect(await reader.get('tls.keyPassphrase')).toBe('pp');
    expect(await reader.get('missing')).toBeUndefined();
    await expect(reader.get('bad path')).rejects.toThrow(SecretStoreError);

    expect(await deleteConnectorSecrets(store, 'ldap-main')).toEqual(['ldap-main:bindPassword', 'ldap-main:tls.keyPassphrase']);
    expect(await store.list()).toEqual(['ldap-main2:bindPassword']);
  });
});
