/**
 * No secret value leaves the store except through get(): after every operation, including the
 * failing ones, the log (a real pino log file), every error's message and stack, describe(), and
 * every file written in the data dir and the key dir are searched for each value as text, URL-
 * encoded, base64 and hex. Only the encrypted file holds ciphertext, and nothing else holds it.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { copySecrets, KEY_FILE, openFileSecretStore, openSecretStore, SECRETS_FILE } from './index.js';
import { cleanupDirs, errorText, filesUnder, leaksIn, tempDir } from './secrets.fixture.js';

afterAll(cleanupDirs);

const SECRETS = [
  'Xq7!bind-pw-2f9c1e',
  'postgres://app:hunter2-db-pass@db.internal/app',
  'sk_live_4eC39HqLyjWDarjtT1zdp7dc',
  'pässwörd mit Leerzeichen €',
  '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n',
];

describe('secret values never leak', () => {
  it('are absent from the log, errors, describe() and every file but as ciphertext in the encrypted file', async () => {
    const dataDir = await tempDir();
    const keyDir = await tempDir('secrets-keydir-');
    const logDir = await tempDir('secrets-log-');
    const logFile = join(logDir, 'gateway.log');
    const destination = pino.destination({ dest: logFile, sync: true });
    const logger = pino({ level: 'trace' }, destination);
    const errors: unknown[] = [];
    const keep = (p: Promise<unknown>): Promise<unknown> => p.catch((e: unknown) => errors.push(e));

    // auto with no keychain reachable (a missing keytar module is the portable way to force it).
    const store = await openSecretStore({ dataDir, backend: 'auto', keyFile: join(keyDir, 'key'), logger, keytarModule: 'keytar-not-installed-here' });
    expect(store.backend).toBe('file');
    const accounts = SECRETS.map((_, i) => `conn-${i}:secret.field${i}`);
    for (const [i, s] of SECRETS.entries()) await store.set(accounts[i], s);
    for (const [i, s] of SECRETS.entries()) expect(await store.get(accounts[i])).toBe(s);
    await store.set(accounts[0], SECRETS[0]); // overwrite with the same value
    await store.delete(accounts[4]);
    await store.set(accounts[4], SECRETS[4]);
    await store.list();
    const fileStore = await openFileSecretStore({ dataDir, keyFile: join(keyDir, 'key'), logger });
    await fileStore.rotateKey();
    expect(await store.get(accounts[1])).toBe(SECRETS[1]);

    // Failures that have a secret at hand.
    await keep(store.set('Bad Account', SECRETS[0]));
    await keep(store.set(accounts[0], `${SECRETS[0]}\0`));
    await keep(store.set(accounts[0], SECRETS[1].repeat(2000)));
    const other = await openFileSecretStore({ dataDir: await tempDir(), logger });
    await other.set(accounts[0], 'other-store-value');
    await copySecrets(store, other);
    // Tamper with one entry and read it.
    const text = await readFile(join(dataDir, SECRETS_FILE), 'utf8');
    const data = JSON.parse(text) as { entries: Record<string, { ct: string }> };
    const saved = data.entries[accounts[2]].ct;
    data.entries[accounts[2]].ct = Buffer.from(Buffer.from(saved, 'base64').map((b) => b ^ 1)).toString('base64');
    await writeFile(join(dataDir, SECRETS_FILE), JSON.stringify(data));
    await keep(store.get(accounts[2]));
    data.entries[accounts[2]].ct = saved;
    await writeFile(join(dataDir, SECRETS_FILE), JSON.stringify(data));
    await store.close();
    destination.flushSync();

    expect(errors.length).toBe(4);
    const log = await readFile(logFile, 'utf8');
    expect(log).toContain('Connector secrets are kept in the encrypted file'); // the fallback warning
    expect(log).toContain('secrets key rotated');
    expect(leaksIn(log, SECRETS), 'log').toEqual([]);
    for (const e of errors) expect(leaksIn(errorText(e), SECRETS), errorText(e)).toEqual([]);
    expect(leaksIn(JSON.stringify(store.describe()), SECRETS)).toEqual([]);

    // Files: the data dir holds only the encrypted file; the key dir only the key.
    expect(await readdir(dataDir)).toEqual([SECRETS_FILE]);
    expect(await readdir(keyDir)).toEqual(['key']);
    const files = [...(await filesUnder(dataDir)), ...(await filesUnder(keyDir))];
    for (const f of files) expect(leaksIn(f.content, SECRETS), f.path).toEqual([]);
    const ciphertexts = Object.values((JSON.parse(await readFile(join(dataDir, SECRETS_FILE), 'utf8')) as typeof data).entries).map((e) => e.ct);
    expect(ciphertexts).toHaveLength(SECRETS.length);
    for (const ct of ciphertexts) {
      expect(log).not.toContain(ct);
      for (const f of files) if (!f.path.endsWith(SECRETS_FILE)) expect(f.content.includes(ct), f.path).toBe(false);
    }
  });

  it('the default layout puts the key beside the encrypted file, and nothing else in the data dir', async () => {
    const dataDir = await tempDir();
    const store = await openSecretStore({ dataDir, backend: 'file' });
    for (const [i, s] of SECRETS.entries()) await store.set(`c${i}:pw`, s);
    expect((await readdir(dataDir)).sort()).toEqual([SECRETS_FILE, KEY_FILE].sort());
    for (const f of await filesUnder(dataDir)) expect(leaksIn(f.content, SECRETS), f.path).toEqual([]);
  });
});
