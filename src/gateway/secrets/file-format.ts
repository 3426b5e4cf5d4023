/**
 * The encrypted secrets file's format (docs/decisions/0006-secrets-file-format.md). Each entry is
 * sealed on its own with AES-256-GCM: a fresh random 12-byte IV, the 16-byte tag, and additional
 * authenticated data binding format version, key id and account name, so an entry copied under
 * another account, or read with another key, fails authentication instead of decrypting.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { isSecretAccount } from './account.js';
import { SecretStoreError } from './errors.js';

export const FORMAT_NAME = 'scim-bridge-secrets';
export const FORMAT_VERSION = 1;
export const CIPHER = 'aes-256-gcm';
export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64');

const entrySchema = z
  .object({
    /** Id of the key that sealed the entry (see keyIdOf). */
    kid: z.string().regex(/^[0-9a-f]{16}$/),
    iv: base64,
    tag: base64,
    ct: base64,
    updatedAt: z.string(),
  })
  .strict();
export type SealedEntry = z.infer<typeof entrySchema>;

const fileSchema = z
  .object({
    format: z.literal(FORMAT_NAME),
    version: z.literal(FORMAT_VERSION),
    cipher: z.literal(CIPHER),
    entries: z.record(z.string().refine(isSecretAccount, 'not a secret account name'), entrySchema),
  })
  .strict();
export type SecretsFileData = z.infer<typeof fileSchema>;

/** An empty secrets file. */
export function emptySecretsFile(): SecretsFileData {
  return { format: FORMAT_NAME, version: FORMAT_VERSION, cipher: CIPHER, entries: {} };
}

/** A loaded key: its bytes and its public id. */
export interface SecretsKey {
  bytes: Buffer;
  id: string;
}

/** A key's public id: a hash prefix, so a wrong key file is named as such before any decryption. */
export function keyIdOf(bytes: Buffer): string {
  return createHash('sha256').update(`${FORMAT_NAME} key id\0`).update(bytes).digest('hex').slice(0, 16);
}

/** A new random key. */
export function generateKey(): SecretsKey {
  const bytes = randomBytes(KEY_BYTES);
  return { bytes, id: keyIdOf(bytes) };
}

/** Reads a key file's bytes; throws SecretStoreError when they are not a key. */
export function keyFromBytes(bytes: Buffer, keyFile: string): SecretsKey {
  if (bytes.length !== KEY_BYTES) {
    throw new SecretStoreError('key-file-invalid', `${keyFile} is not a scim-bridge secrets key (expected ${KEY_BYTES} bytes, found ${bytes.length}). Restore the key file from your backup.`);
  }
  return { bytes: Buffer.from(bytes), id: keyIdOf(bytes) };
}

function aadFor(kid: string, account: string): Buffer {
  return Buffer.from(`${FORMAT_NAME}\0v${FORMAT_VERSION}\0${CIPHER}\0${kid}\0${account}`, 'utf8');
}

/** Seals one value for one account. */
export function sealEntry(key: SecretsKey, account: string, value: string, now = new Date()): SealedEntry {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(CIPHER, key.bytes, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aadFor(key.id, account));
  const plain = Buffer.from(value, 'utf8');
  const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
  plain.fill(0);
  return { kid: key.id, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ct: ct.toString('base64'), updatedAt: now.toISOString() };
}

/** Opens one entry; throws SecretStoreError (never quoting content) when it fails authentication. */
export function openEntry(key: SecretsKey, account: string, entry: SealedEntry, file: string): string {
  if (entry.kid !== key.id) {
    throw new SecretStoreError('key-mismatch', `The secret ${account} in ${file} was encrypted with key id ${entry.kid}, but the key file holds key id ${key.id}. Restore the key file that belongs to this secrets file.`);
  }
  const iv = Buffer.from(entry.iv, 'base64');
  const tag = Buffer.from(entry.tag, 'base64');
  const tampered = (): SecretStoreError =>
    new SecretStoreError('entry-tampered', `The secret ${account} in ${file} failed its integrity check: it was changed, copied from another account, or damaged. Set it again, or restore ${file} from a backup.`);
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw tampered();
  const decipher = createDecipheriv(CIPHER, key.bytes, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aadFor(entry.kid, account));
  decipher.setAuthTag(tag);
  let plain: Buffer;
  try {
    plain = Buffer.concat([decipher.update(Buffer.from(entry.ct, 'base64')), decipher.final()]);
  } catch {
    throw tampered();
  }
  const value = plain.toString('utf8');
  plain.fill(0);
  return value;
}

/** Parses the secrets file's text; throws SecretStoreError naming the file and the damaged place. */
export function parseSecretsFile(text: string, file: string): SecretsFileData {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new SecretStoreError('file-corrupt', `${file} is not valid JSON. Restore it from a backup (with the key file it was written with), or move it aside and set the secrets again.`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SecretStoreError('file-corrupt', `${file} is damaged at "${issue.path.join('.')}": ${issue.message}. Restore it from a backup (with the key file it was written with).`);
  }
  return parsed.data;
}

/** The file's text: stable key order, one entry per line for readable diffs of account names. */
export function serializeSecretsFile(data: SecretsFileData): Buffer {
  const entries: Record<string, SealedEntry> = {};
  for (const account of Object.keys(data.entries).sort()) entries[account] = data.entries[account];
  return Buffer.from(JSON.stringify({ ...data, entries }, null, 2) + '\n', 'utf8');
}
