import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AlreadyExistsError, ConflictError, ERROR_CODES, NotFoundError, PermanentError, TransientError } from './index.js';

const here = dirname(fileURLToPath(import.meta.url));

describe('error catalogue', () => {
  it('docs/connectors.md documents every SDK error code (fastify-style check)', () => {
    const doc = readFileSync(join(here, '../../docs/connectors.md'), 'utf8');
    const missing = Object.keys(ERROR_CODES).filter((code) => !doc.includes(`\`${code}\``));
    expect(missing).toEqual([]);
  });

  it('gives each class its default code and retry semantics', () => {
    expect(new TransientError('x')).toMatchObject({ code: 'transient', retryable: true, name: 'TransientError' });
    expect(new PermanentError('x')).toMatchObject({ code: 'permanent', retryable: false });
    expect(new ConflictError('x')).toMatchObject({ code: 'conflict', retryable: false, name: 'ConflictError' });
    expect(new NotFoundError('x')).toBeInstanceOf(PermanentError);
    expect(new AlreadyExistsError('x', 'k')).toMatchObject({ code: 'already_exists', key: 'k' });
    expect(new PermanentError('x', { code: 'ldap_constraint' }).code).toBe('ldap_constraint');
  });
});

describe('sdk boundaries', () => {
  // The gateway imports the SDK, never the reverse; and vitest stays out of the runtime path.
  const runtime = readdirSync(here).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'conformance.ts');
  it.each(runtime)('%s imports neither the gateway nor vitest', (file) => {
    const source = readFileSync(join(here, file), 'utf8');
    expect(source).not.toMatch(/from ['"][^'"]*src\/gateway/);
    expect(source).not.toMatch(/from ['"]vitest/);
    expect(source).not.toMatch(/from ['"]\.\/conformance\.js/);
  });
});
