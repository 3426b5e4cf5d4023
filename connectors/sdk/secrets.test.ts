import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { REDACTED, describeSecretFields, redact, redactDeep, secret, secretFields } from './index.js';

describe('secretFields', () => {
  it('lists dot paths of secret fields, however they are nested or wrapped', () => {
    const schema = z.object({
      url: z.string(),
      bindPassword: secret(z.string().min(8)),
      tls: z.object({ keyPassphrase: secret(z.string(), { optional: true }) }).optional(),
      auth: z.discriminatedUnion('kind', [
        z.object({ kind: z.literal('basic'), password: secret(z.string()) }),
        z.object({ kind: z.literal('oauth2'), clientSecret: secret(z.string()).describe('client secret') }),
      ]),
      plain: z.string().default('x'),
    });
    expect(secretFields(schema).sort()).toEqual(['auth.clientSecret', 'auth.password', 'bindPassword', 'tls.keyPassphrase']);
    expect(describeSecretFields(schema).find((f) => f.path === 'tls.keyPassphrase')?.required).toBe(false);
    expect(describeSecretFields(schema).find((f) => f.path === 'bindPassword')?.required).toBe(true);
  });

  it('is empty for a schema without secrets', () => {
    expect(secretFields(z.object({ a: z.string(), b: z.number().optional() }))).toEqual([]);
  });

  it('makes the field optional in the config type, since the connector reads it from secrets', () => {
    const schema = z.object({ pw: secret(z.string()) });
    expect(schema.safeParse({}).success).toBe(true);
    expect(schema.safeParse({ pw: 1 }).success).toBe(false);
  });
});

describe('redact', () => {
  it('replaces raw and URL-encoded occurrences, longest secret first', () => {
    const text = 'postgres://app:p%40ss%2Fw0rd@db:5432 failed; password p@ss/w0rd; prefix p@ss';
    expect(redact(text, ['p@ss/w0rd', 'p@ss'])).toBe(
      `postgres://app:${REDACTED}@db:5432 failed; password ${REDACTED}; prefix ${REDACTED}`,
    );
  });

  it('treats regex characters literally and ignores empty secrets', () => {
    expect(redact('a.*b and axxb', ['.*', ''])).toBe(`a${REDACTED}b and axxb`);
  });

  it('never leaves a secret in the output', () => {
    const secretArb = fc.stringMatching(/^[a-z0-9]{4,16}$/);
    fc.assert(
      fc.property(fc.array(secretArb, { minLength: 1, maxLength: 3 }), fc.array(fc.string(), { maxLength: 4 }), (secrets, parts) => {
        const text = parts.map((p, i) => `${p}${secrets[i % secrets.length]}`).join('') + secrets.join(' ');
        const out = redact(text, secrets);
        for (const s of secrets) expect(out).not.toContain(s);
      }),
    );
  });

  it('redacts nested strings and errors in log fields', () => {
    const out = redactDeep({ a: ['x hunter22 y'], b: { c: new Error('bad hunter22') }, n: 3 }, ['hunter22']);
    expect(JSON.stringify(out)).not.toContain('hunter22');
    expect(out.n).toBe(3);
  });
});
