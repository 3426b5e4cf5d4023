/**
 * The encrypted-file backend on a real file system: round trip, modes, refusal of a loose key
 * file, tamper and swap detection through the GCM tag and AAD, restart, concurrent writers
 * (one store and two stores on one dir), durable replace order, failures mid-write, and key
 * rotation including rotations a crash interrupted.
 */
import { chmod, chown, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KEY_FILE, MAX_SECRET_BYTES, openFileSecretStore, SECRETS_FILE, SecretStoreError, testing, type SecretsIo } from './index.js';
import { captureLogger, cleanupDirs, errorText, tempDir } from './secrets.fixture.js';

afterEach(cleanupDirs);

const PW = 'S3cret-bind-pw!';
const posix = process.platform !== 'win32';

async function readJson(dir: string): Promise<{ entries: Record<string, Record<string, string>> } & Record<string, unknown>> {
  return JSON.parse(await readFile(join(dir, SECRETS_FILE), 'utf8'));
}

async function editJson(dir: string, edit: (data: { entries: Record<string, Record<string, string>> }) => void): Promise<void> {
  const data = await readJson(dir);
  edit(data);
  await writeFile(join(dir, SECRETS_FILE), JSON.stringify(data));
}

async function rejection(p: Promise<unknown>): Promise<SecretStoreError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a rejection').toBeInstanceOf(SecretStoreError);
  return err as SecretStoreError;
}

/** Real io that records each call, optionally failing one step. */
function recordingIo(fail?: { step: 'sync' | 'rename' | 'writeFile'; when?: (path: string) => boolean }): SecretsIo & { calls: string[] } {
  const calls: string[] = [];
  const real = testing.realIo;
  return {
    calls,
    async open(path, flags, mode) {
      const handle = await real.open(path, flags, mode);
      calls.push(`open ${path} ${flags}`);
      const shouldFail = (step: string): boolean => fail?.step === step && (fail.when ?? (() => true))(path);
      return new Proxy(handle, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver);
          if (typeof value !== 'function') return value;
          return async (...args: unknown[]) => {
            calls.push(`${String(prop)} ${path}`);
            if (shouldFail(String(prop))) throw Object.assign(new Error(`injected ${String(prop)} failure`), { code: 'EIO' });
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
    },
    async rename(from, to) {
      calls.push(`rename ${from} -> ${to}`);
      if (fail?.step === 'rename' && (fail.when ?? (() => true))(to)) throw Object.assign(new Error('injected rename failure'), { code: 'EIO' });
      return real.rename(from, to);
    },
    async link(existing, target) {
      calls.push(`link ${existing} -> ${target}`);
      return real.link(existing, target);
    },
    async unlink(path) {
      calls.push(`unlink ${path}`);
      return real.unlink(path);
    },
  };
}

describe('file secret store', () => {
  it('stores, reads, lists and deletes secrets', async () => {
    const dir = await tempDir();
    const store = await openFileSecretStore({ dataDir: dir });
    expect(store.backend).toBe('file');
    expect(await store.get('ldap-main:bindPassword')).toBeUndefined();
    expect(await store.list()).toEqual([]);

    await store.set('ldap-main:bindPassword', PW);
    await store.set('api:auth.clientSecret', 'ünïcødé ✓ 🔑');
    await store.set('api:auth.clientSecret', 'replaced');
    expect(await store.get('ldap-main:bindPassword')).toBe(PW);
    expect(await store.get('api:auth.clientSecret')).toBe('replaced');
    expect(await store.has('api:auth.clientSecret')).toBe(true);
    expect(await store.list()).toEqual(['api:auth.clientSecret', 'ldap-main:bindPassword']);

    expect(await store.delete('api:auth.clientSecret')).toBe(true);
    expect(await store.delete('api:auth.clientSecret')).toBe(false);
    expect(await store.has('api:auth.clientSecret')).toBe(false);
    expect(await store.list()).toEqual(['ldap-main:bindPassword']);
    await store.close();
  });

  it('accepts a value of exactly 64 KiB and refuses bad values and accounts without quoting the value', async () => {
    const dir = await tempDir();
    const store = await openFileSecretStore({ dataDir: dir });
    const big = 'x'.repeat(MAX_SECRET_BYTES);
    await store.set('c1:big', big);
    expect(await store.get('c1:big')).toBe(big);

    const tooBig = `${PW}${'y'.repeat(MAX_SECRET_BYTES)}`;
    for (const [account, value, code] of [
      ['c1:big', tooBig, 'invalid-value'],
      ['c1:empty', '', 'invalid-value'],
      ['c1:nul', `${PW}\0tail`, 'invalid-value'],
      ['c1:surrogate', `${PW}\ud800`, 'invalid-value'],
      ['no-colon', PW, 'invalid-account'],
      ['UPPER:field', PW, 'invalid-account'],
      ['c1:bad path', PW, 'invalid-account'],
      ['c1:arr[].x', PW, 'invalid-account'],
      ['__proto__:x', PW, 'invalid-account'],
    ] as const) {
      const err = await rejection(store.set(account, value));
      expect(err.code, account).toBe(code);
      expect(errorText(err)).not.toContain(PW);
    }
    expect(await store.list()).toEqual(['c1:big']);
  });

  it.runIf(posix)('creates the key file (32 bytes) and the secrets file with mode 0600, only on the first write', async () => {
    const dir = await tempDir();
    const store = await openFileSecretStore({ dataDir: dir });
    expect(await readdir(dir)).toEqual([]); // opening creates nothing
    await store.set('c1:password', PW);
    expect((await readdir(dir)).sort()).toEqual([KEY_FILE, SECRETS_FILE].sort());
    const key = await stat(join(dir, KEY_FILE));
    expect(key.mode & 0o777).toBe(0o600);
    expect(key.size).toBe(32);
    expect((await stat(join(dir, SECRETS_FILE))).mode & 0o777).toBe(0o600);
  });

  it.runIf(posix)('creates 0600 files even under a permissive umask', async () => {
    const dir = await tempDir();
    const old = process.umask(0o000);
    try {
      const store = await openFileSecretStore({ dataDir: dir });
      await store.set('c1:password', PW);
    } finally {
      process.umask(old);
    }
    expect((await stat(join(dir, KEY_FILE))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, SECRETS_FILE))).mode & 0o777).toBe(0o600);
  });

  it.runIf(posix)('refuses to open when the key file is readable by group or others, and says to chmod 600', async () => {
    const dir = await tempDir();
    await (await openFileSecretStore({ dataDir: dir })).set('c1:password', PW);
    const keyFile = join(dir, KEY_FILE);
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      await chmod(keyFile, mode);
      const err = await rejection(openFileSecretStore({ dataDir: dir }));
      expect(err.code).toBe('key-file-permissions');
      expect(err.message).toContain(`chmod 600 ${keyFile}`);
      expect(err.message).toContain(`mode 0${mode.toString(8)}`);
    }
    await chmod(keyFile, 0o400); // read-only for the owner is fine
    expect(await (await openFileSecretStore({ dataDir: dir })).get('c1:password')).toBe(PW);
  });

  it.runIf(posix && process.getuid?.() === 0)('as root, keeps the files owned by the service user who owns the data dir (new, replaced and rotated)', async () => {
    const dir = await tempDir();
    await chown(dir, 4321, 4322);
    const store = await openFileSecretStore({ dataDir: dir });
    const owners = async (): Promise<string[]> =>
      Promise.all([SECRETS_FILE, KEY_FILE].map(async (n) => `${n} ${(await stat(join(dir, n))).uid}:${(await stat(join(dir, n))).gid}`));
    await store.set('c1:password', PW);
    expect(await owners()).toEqual([`${SECRETS_FILE} 4321:4322`, `${KEY_FILE} 4321:4322`]);
    await store.set('c1:password', 'replaced by root');
    await store.rotateKey();
    expect(await owners()).toEqual([`${SECRETS_FILE} 4321:4322`, `${KEY_FILE} 4321:4322`]);
    expect((await stat(join(dir, KEY_FILE))).mode & 0o777).toBe(0o600);
  });

  it('reads back after a restart, and with the key file kept outside the data dir', async () => {
    const dir = await tempDir();
    const keyDir = await tempDir('secrets-key-');
    const keyFile = join(keyDir, 'nested', 'scim-bridge.key');
    const first = await openFileSecretStore({ dataDir: dir, keyFile });
    await first.set('ldap-main:bindPassword', PW);
    await first.set('db:password', 'pg-pass');
    await first.close();
    expect(await readdir(dir)).toEqual([SECRETS_FILE]);

    const second = await openFileSecretStore({ dataDir: dir, keyFile });
    expect(await second.get('ldap-main:bindPassword')).toBe(PW);
    expect(await second.get('db:password')).toBe('pg-pass');
    expect(second.describe()).toMatchObject({ backend: 'file', file: join(dir, SECRETS_FILE), keyFile });

    // Without the key file the secrets file cannot be opened, and the message says so.
    const err = await rejection(openFileSecretStore({ dataDir: dir }));
    expect(err.code).toBe('key-file-invalid');
    expect(err.message).toContain(join(dir, KEY_FILE));
    expect(err.message).toContain('missing');
  });

  it('detects a changed ciphertext, IV or tag through the GCM tag; other entries stay readable', async () => {
    const dir = await tempDir();
    const store = await openFileSecretStore({ dataDir: dir });
    await store.set('c1:password', PW);
    await store.set('c2:password', 'other-secret');
    for (const field of ['ct', 'iv', 'tag'] as const) {
      const before = await readFile(join(dir, SECRETS_FILE));
      await editJson(dir, (d) => {
        const bytes = Buffer.from(d.entries['c1:password'][field], 'base64');
        bytes[0] ^= 0x01;
        d.entries['c1:password'][field] = bytes.toString('base64');
      });
      const err = await rejection(store.get('c1:password'));
      expect(err.code, field).toBe('entry-tampered');
      expect(err.message).toContain('c1:password');
      expect(errorText(err)).not.toContain(PW);
      expect(await store.get('c2:password')).toBe('other-secret');
      await writeFile(join(dir, SECRETS_FILE), before);
      expect(await store.get('c1:password')).toBe(PW);
    }
  });

  it('detects an entry moved or swapped to another account (the AAD binds the account name)', async () => {
    const dir = await tempDir();
    const store = await openFileSecretStore({ dataDir: dir });
    await store.set('ldap-main:bindPassword', PW);
    await store.set('csv:token', 'low-value-token');
    await editJson(dir, (d) => {
      const a = d.entries['ldap-main:bindPassword'];
      d.entries['ldap-main:bindPassword'] = d.entries['csv:token'];
      d.entries['csv:token'] = a;
      d.entries['copy:bindPassword'] = a;
    });
    for (const account of ['ldap-main:bindPassword', 'csv:token', 'copy:bindPassword']) {
      const err = await rejection(store.get(account));
      expect(err.code, account).toBe('entry-tampered');
      expect(errorText(err)).not.toContain(PW);
    }
  });

  it('names a wrong key file, a key of the wrong size, and a damaged secrets file', async () => {
    const dir = await tempDir();
    await (await openFileSecretStore({ dataDir: dir })).set('c1:password', PW);
    const keyFile = join(dir, KEY_FILE);
    const good = await readFile(keyFile);

    await writeFile(keyFile, Buffer.alloc(32, 7), { mode: 0o600 });
    let err = await rejection(openFileSecretStore({ dataDir: dir }));
    expect(err.code).toBe('key-mismatch');
    expect(err.message).toContain(keyFile);
    expect(err.message).toContain(testing.keyIdOf(Buffer.alloc(32, 7)));
    expect(err.message).toContain(testing.keyIdOf(good));

    await writeFile(keyFile, Buffer.alloc(10, 1), { mode: 0o600 });
    err = await rejection(openFileSecretStore({ dataDir: dir }));
    expect(err.code).toBe('key-file-invalid');
    expect(err.message).toContain('expected 32 bytes, found 10');

    await writeFile(keyFile, good, { mode: 0o600 });
    const text = await readFile(join(dir, SECRETS_FILE), 'utf8');
    await writeFile(join(dir, SECRETS_FILE), text.slice(0, text.length / 2));
    err = await rejection(openFileSecretStore({ dataDir: dir }));
    expect(err.code).toBe('file-corrupt');
    expect(err.message).toContain('not valid JSON');

    await writeFile(join(dir, SECRETS_FILE), JSON.stringify({ ...JSON.parse(text), version: 9 }));
    err = await rejection(openFileSecretStore({ dataDir: dir }));
    expect(err.code).toBe('file-corrupt');
    expect(err.message).toContain('"version"');
  });

  it('serialises concurrent sets on one store: every write lands, and the last call wins', async () => {
    const dir = await tempDir();
    const store = await openFileSecretStore({ dataDir: dir });
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 40; i++) writes.push(store.set(`c${i}:password`, `value-${i}`));
    for (let i = 0; i < 20; i++) writes.push(store.set('shared:password', `round-${i}`));
    writes.push(store.delete('c3:password').then(() => undefined));
    await Promise.all(writes);

    const reopened = await openFileSecretStore({ dataDir: dir });
    const accounts = await reopened.list();
    expect(accounts).toHaveLength(40); // c0..c39 minus c3, plus shared
    expect(accounts).not.toContain('c3:password');
    for (let i = 0; i < 40; i++) if (i !== 3) expect(await reopened.get(`c${i}:password`)).toBe(`value-${i}`);
    expect(await reopened.get('shared:password')).toBe('round-19');
    expect((await readdir(dir)).filter((n) => n.endsWith('.tmp') || n.endsWith('.lock'))).toEqual([]);
  });

  it('serialises writers of two stores on one data dir (as the CLI beside a running gateway)', async () => {
    const dir = await tempDir();
    const a = await openFileSecretStore({ dataDir: dir });
    const b = await openFileSecretStore({ dataDir: dir });
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 25; i++) {
      writes.push(a.set(`a${i}:password`, `from-a-${i}`));
      writes.push(b.set(`b${i}:password`, `from-b-${i}`));
    }
    await Promise.all(writes);
    // Both created-the-key races resolve to one key; each store sees the other's writes.
    for (const store of [a, b]) {
      expect(await store.list()).toHaveLength(50);
      for (let i = 0; i < 25; i++) {
        expect(await store.get(`a${i}:password`)).toBe(`from-a-${i}`);
        expect(await store.get(`b${i}:password`)).toBe(`from-b-${i}`);
      }
    }
  });

  it('replaces the file durably: temp file written and fsynced, renamed over, then the directory fsynced', async () => {
    const dir = await tempDir();
    const io = recordingIo();
    const store = await openFileSecretStore({ dataDir: dir }, { io });
    await store.set('c1:password', PW);
    io.calls.length = 0;
    await store.set('c1:password', 'second');

    const file = join(dir, SECRETS_FILE);
    const calls = io.calls.map((c) => c.replace(/\.secrets\.enc\.json\.\d+\.[0-9a-f]+\.tmp/, 'TMP'));
    const tmp = join(dir, 'TMP');
    expect(calls).toEqual([
      `open ${tmp} wx`,
      `chmod ${tmp}`,
      `writeFile ${tmp}`,
      `sync ${tmp}`,
      `close ${tmp}`,
      `rename ${tmp} -> ${file}`,
      ...(posix ? [`open ${dir} r`, `sync ${dir}`, `close ${dir}`] : []),
    ]);
  });

  for (const step of ['writeFile', 'sync', 'rename'] as const) {
    it(`keeps the previous file whole when the ${step} of a write fails`, async () => {
      const dir = await tempDir();
      const store = await openFileSecretStore({ dataDir: dir });
      await store.set('c1:password', PW);
      const before = await readFile(join(dir, SECRETS_FILE));

      const failing = await openFileSecretStore({ dataDir: dir }, { io: recordingIo({ step, when: (p) => p.includes('.secrets.enc.json.') || p.endsWith(SECRETS_FILE) }) });
      const err = await failing.set('c1:password', 'never-stored').then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err?.message).toContain(`injected ${step} failure`);
      expect(await readFile(join(dir, SECRETS_FILE))).toEqual(before);
      expect((await readdir(dir)).filter((n) => n.endsWith('.tmp') || n.endsWith('.lock'))).toEqual([]);
      expect(await failing.get('c1:password')).toBe(PW);
      expect(await (await openFileSecretStore({ dataDir: dir })).get('c1:password')).toBe(PW);
    });
  }

  it('ignores and sweeps a temp file a crashed writer left behind', async () => {
    const dir = await tempDir();
    const store = await openFileSecretStore({ dataDir: dir });
    await store.set('c1:password', PW);
    const torn = join(dir, '.secrets.enc.json.99999.deadbeef.tmp');
    await writeFile(torn, '{"format":"scim-bridge-secrets","entr');
    const reopened = await openFileSecretStore({ dataDir: dir });
    expect(await reopened.get('c1:password')).toBe(PW);
    await reopened.set('c2:password', 'x2');
    expect(await readdir(dir)).not.toContain('.secrets.enc.json.99999.deadbeef.tmp');
  });

  it('takes over a lock left by a process that died', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, `${SECRETS_FILE}.lock`), '999999'); // no such pid
    const store = await openFileSecretStore({ dataDir: dir });
    await store.set('c1:password', PW);
    expect(await store.get('c1:password')).toBe(PW);
  });

  it('takes over at once a lock with our own pid that we do not hold (a restarted container reuses pids)', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, `${SECRETS_FILE}.lock`), `${process.pid} 0123456789abcdef\n`);
    const store = await openFileSecretStore({ dataDir: dir });
    const started = Date.now();
    await store.set('c1:password', PW);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await readdir(dir)).not.toContain(`${SECRETS_FILE}.lock`);
  });

  it('rotates the key: new key id, same values, and a store opened before the rotation keeps reading', async () => {
    const dir = await tempDir();
    const logger = captureLogger();
    const store = await openFileSecretStore({ dataDir: dir, logger });
    const other = await openFileSecretStore({ dataDir: dir });
    await store.set('c1:password', PW);
    await store.set('c2:token', 'tok');
    const oldKey = await readFile(join(dir, KEY_FILE));
    expect(await other.get('c1:password')).toBe(PW);

    const result = await store.rotateKey();
    expect(result).toEqual({ previousKeyId: testing.keyIdOf(oldKey), keyId: expect.any(String), entries: 2 });
    const newKey = await readFile(join(dir, KEY_FILE));
    expect(newKey.equals(oldKey)).toBe(false);
    expect(result.keyId).toBe(testing.keyIdOf(newKey));
    expect(Object.values((await readJson(dir)).entries).map((e) => e.kid)).toEqual([result.keyId, result.keyId]);
    if (posix) expect((await stat(join(dir, KEY_FILE))).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).not.toContain(`${KEY_FILE}.new`);

    expect(await store.get('c1:password')).toBe(PW);
    expect(await other.get('c1:password')).toBe(PW); // re-reads the rotated key
    await other.set('c3:x', 'three');
    expect(await (await openFileSecretStore({ dataDir: dir })).get('c3:x')).toBe('three');
    expect(logger.lines.some((l) => l.msg === 'secrets key rotated')).toBe(true);
  });

  it('finishes a rotation that stopped after the secrets were re-encrypted', async () => {
    const dir = await tempDir();
    await (await openFileSecretStore({ dataDir: dir })).set('c1:password', PW);
    const keyFile = join(dir, KEY_FILE);
    const io = recordingIo({ step: 'rename', when: (to) => to === keyFile });
    const crashing = await openFileSecretStore({ dataDir: dir }, { io });
    await expect(crashing.rotateKey()).rejects.toThrow('injected rename failure');
    expect(await readdir(dir)).toContain(`${KEY_FILE}.new`);

    const logger = captureLogger();
    const reopened = await openFileSecretStore({ dataDir: dir, logger });
    expect(await reopened.get('c1:password')).toBe(PW);
    expect(await readdir(dir)).not.toContain(`${KEY_FILE}.new`);
    expect(testing.keyIdOf(await readFile(keyFile))).toBe((await readJson(dir)).entries['c1:password'].kid);
    expect(logger.lines.map((l) => l.msg)).toContain('finished a secrets key rotation that was interrupted');
  });

  it('drops the new key of a rotation that stopped before the secrets were rewritten', async () => {
    const dir = await tempDir();
    await (await openFileSecretStore({ dataDir: dir })).set('c1:password', PW);
    const oldKey = await readFile(join(dir, KEY_FILE));
    const io = recordingIo({ step: 'rename', when: (to) => to.endsWith(SECRETS_FILE) });
    const crashing = await openFileSecretStore({ dataDir: dir }, { io });
    await expect(crashing.rotateKey()).rejects.toThrow('injected rename failure');

    const reopened = await openFileSecretStore({ dataDir: dir });
    expect(await reopened.get('c1:password')).toBe(PW);
    expect(await readdir(dir)).not.toContain(`${KEY_FILE}.new`);
    expect((await readFile(join(dir, KEY_FILE))).equals(oldKey)).toBe(true);
  });

  it('describes itself: where the file and key are, and a warning only when it is a fallback', async () => {
    const dir = await tempDir();
    const forced = await openFileSecretStore({ dataDir: dir, requested: 'file' });
    expect(forced.describe()).toEqual({
      backend: 'file',
      requested: 'file',
      service: 'scim-bridge',
      location: `encrypted file ${join(dir, SECRETS_FILE)} (key in ${join(dir, KEY_FILE)})`,
      file: join(dir, SECRETS_FILE),
      keyFile: join(dir, KEY_FILE),
    });
    const fallback = await openFileSecretStore({ dataDir: dir, requested: 'auto', fallbackReason: 'no OS keychain is reachable: test' });
    const status = fallback.describe();
    expect(status.fallbackReason).toBe('no OS keychain is reachable: test');
    expect(status.warning).toContain('because no OS keychain is reachable: test');
    expect(status.warning).toContain(join(dir, KEY_FILE));
  });
});
