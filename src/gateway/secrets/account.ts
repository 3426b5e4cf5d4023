/**
 * Account names and value rules shared by both backends. An account is
 * `<connectorId>:<fieldPath>` (e.g. `ldap-main:bindPassword`, `api:auth.clientSecret`): the
 * connector instance id and the dot path of the secret field in its config schema.
 */
import { SecretStoreError } from './errors.js';

/** The keychain service name every secret is stored under. */
export const SECRET_SERVICE = 'scim-bridge';

/** Largest accepted secret, in UTF-8 bytes: far above any password, key or certificate. */
export const MAX_SECRET_BYTES = 64 * 1024;

/** Same rule as connector instance ids in provisioning (kept here so secrets import nothing). */
const CONNECTOR_ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** Dot path of identifiers: what `describeSecretFields` yields, arrays excluded (the SDK refuses them). */
const FIELD_PATH = /^[A-Za-z_$][A-Za-z0-9_$-]*(\.[A-Za-z_$][A-Za-z0-9_$-]*)*$/;
const MAX_FIELD_PATH = 192;

/** The parts of an account name. */
export interface SecretAccount {
  connectorId: string;
  fieldPath: string;
}

function invalidAccount(why: string): SecretStoreError {
  return new SecretStoreError('invalid-account', `Invalid secret account: ${why}. Accounts are "<connectorId>:<fieldPath>", e.g. "ldap-main:bindPassword".`);
}

/** Builds the account of a connector's secret field; throws SecretStoreError on a bad part. */
export function secretAccount(connectorId: string, fieldPath: string): string {
  if (!CONNECTOR_ID.test(connectorId)) throw invalidAccount(`connector id ${JSON.stringify(connectorId.slice(0, 80))} is not 1-63 lower-case letters, digits, "-" or "_"`);
  if (fieldPath.length > MAX_FIELD_PATH || !FIELD_PATH.test(fieldPath)) {
    throw invalidAccount(`field path ${JSON.stringify(fieldPath.slice(0, 80))} is not a dot path of names (at most ${MAX_FIELD_PATH} characters)`);
  }
  return `${connectorId}:${fieldPath}`;
}

/** Splits an account into connector id and field path; throws SecretStoreError when malformed. */
export function parseSecretAccount(account: string): SecretAccount {
  if (typeof account !== 'string') throw invalidAccount('not a string');
  const colon = account.indexOf(':');
  if (colon < 0) throw invalidAccount(`${JSON.stringify(account.slice(0, 80))} has no ":"`);
  const connectorId = account.slice(0, colon);
  const fieldPath = account.slice(colon + 1);
  secretAccount(connectorId, fieldPath);
  return { connectorId, fieldPath };
}

/** Whether `account` is well formed (for filtering foreign entries under our keychain service). */
export function isSecretAccount(account: string): boolean {
  try {
    parseSecretAccount(account);
    return true;
  } catch {
    return false;
  }
}

/** Throws unless `account` is well formed. */
export function assertAccount(account: string): void {
  parseSecretAccount(account);
}

/**
 * Throws unless `value` is a storable secret. Messages give sizes, never content. Empty values
 * are refused (delete the secret instead) because a keychain cannot tell "" from "not set" well.
 */
export function assertSecretValue(account: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') throw new SecretStoreError('invalid-value', `The secret for ${account} must be a string.`);
  if (value.length === 0) throw new SecretStoreError('invalid-value', `The secret for ${account} is empty; delete it instead of saving an empty value.`);
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_SECRET_BYTES) {
    throw new SecretStoreError('invalid-value', `The secret for ${account} is ${bytes} bytes; at most ${MAX_SECRET_BYTES} bytes are accepted.`);
  }
  // libsecret stores C strings (a NUL would cut the value); lone surrogates would not survive UTF-8.
  if (value.includes('\0')) throw new SecretStoreError('invalid-value', `The secret for ${account} contains a NUL character, which a keychain cannot store.`);
  if (Buffer.from(value, 'utf8').toString('utf8') !== value) {
    throw new SecretStoreError('invalid-value', `The secret for ${account} is not valid Unicode text (it holds a lone surrogate).`);
  }
}
