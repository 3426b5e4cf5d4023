import { describe, expect, it } from 'vitest';
import { changesBetween, isSecretName, redactChanges, redactText, REDACTED } from './index.js';

describe('redactChanges', () => {
  it('masks secret attributes whatever their case or path, keeping that they changed', () => {
    const out = redactChanges([
      { attribute: 'password', before: 'old', after: 'new' },
      { attribute: 'PASSWORD', after: 'x' },
      { attribute: 'urn:ietf:params:scim:schemas:core:2.0:User:password', after: 'x' },
      { attribute: 'config.bindPassword', before: 'b' },
      { attribute: 'apiKey', after: 'k' },
      { attribute: 'api_key', after: 'k' },
      { attribute: 'clientSecret', after: 's' },
      { attribute: 'Token', after: 't' },
      { attribute: 'secret', before: null, after: 's' },
    ]);
    expect(out).toEqual([
      { attribute: 'password', before: REDACTED, after: REDACTED },
      { attribute: 'PASSWORD', after: REDACTED },
      { attribute: 'urn:ietf:params:scim:schemas:core:2.0:User:password', after: REDACTED },
      { attribute: 'config.bindPassword', before: REDACTED },
      { attribute: 'apiKey', after: REDACTED },
      { attribute: 'api_key', after: REDACTED },
      { attribute: 'clientSecret', after: REDACTED },
      { attribute: 'Token', after: REDACTED },
      // "it had none" is not a secret
      { attribute: 'secret', before: null, after: REDACTED },
    ]);
  });

  it('masks secret keys nested anywhere in a value, and leaves the rest alone', () => {
    const before = { host: 'ldap.local', auth: { bindPassword: 'p', user: 'cn=admin' }, list: [{ apiKey: 'k', name: 'a' }], Secret: { deep: 1 } };
    const [c] = redactChanges([{ attribute: 'connectorConfig', before }]);
    expect(c.before).toEqual({ host: 'ldap.local', auth: { bindPassword: REDACTED, user: 'cn=admin' }, list: [{ apiKey: REDACTED, name: 'a' }], Secret: REDACTED });
    expect(before.auth.bindPassword).toBe('p'); // the input is not modified
    expect(JSON.stringify(c)).not.toMatch(/"p"|"k"/);
  });

  it('does not mask attributes that only look alike', () => {
    for (const name of ['userName', 'tokenId', 'displayName', 'passwordChangedAt', 'secretary']) expect(isSecretName(name)).toBe(false);
    const [c] = redactChanges([{ attribute: 'tokenId', after: 'tok_1' }]);
    expect(c.after).toBe('tok_1');
  });

  it('masks SCIM tokens in free text', () => {
    expect(redactText('bad token scb_abcdefgh1234 here')).toBe(`bad token scb_${REDACTED} here`);
  });
});

describe('changesBetween', () => {
  it('lists only changed top-level attributes, ignoring meta', () => {
    expect(
      changesBetween(
        { userName: 'a', title: 'Dev', emails: [{ value: 'a@x' }], meta: { version: '1' } },
        { userName: 'a', title: 'Lead', emails: [{ value: 'a@x' }], active: false, meta: { version: '2' } },
      ),
    ).toEqual([
      { attribute: 'active', after: false },
      { attribute: 'title', before: 'Dev', after: 'Lead' },
    ]);
  });
});
