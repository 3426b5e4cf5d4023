/**
 * The one error type of the secret store. Messages name accounts, files and key ids (none of
 * them secret) and say what to do; they never carry a secret value.
 */

/** Stable codes, for callers that map errors (console, CLI exit codes) without parsing text. */
export type SecretStoreErrorCode =
  /** The account is not `<connectorId>:<fieldPath>`, or too long. */
  | 'invalid-account'
  /** The value is not a non-empty string of at most MAX_SECRET_BYTES, or holds a NUL. */
  | 'invalid-value'
  /** `backend: 'keychain'` was asked for and no keychain answered. */
  | 'keychain-unavailable'
  /** The keychain answered, but is locked (it can be read as empty but not written). */
  | 'keychain-locked'
  /** A keychain call did not answer in time. */
  | 'keychain-timeout'
  /** A keychain call failed for another reason. */
  | 'keychain-error'
  /** The key file is readable by group or others. */
  | 'key-file-permissions'
  /** The key file is missing while encrypted secrets exist, or is not a key. */
  | 'key-file-invalid'
  /** The key file holds another key than the one the secrets file was written with. */
  | 'key-mismatch'
  /** The secrets file is not valid JSON or not in the expected format. */
  | 'file-corrupt'
  /** An entry failed its authentication tag: changed, moved to another account, or damaged. */
  | 'entry-tampered'
  /** Another process holds the secrets file's lock for too long. */
  | 'locked-by-other-process';

/** An error of the secret store: a human message (never a secret) and a stable `code`. */
export class SecretStoreError extends Error {
  override name = 'SecretStoreError';
  readonly code: SecretStoreErrorCode;

  constructor(code: SecretStoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The message of an unknown thrown value, with `value` cut out should a lower layer echo it. */
export function describeCause(err: unknown, value?: string): string {
  const text = err instanceof Error ? err.message : String(err);
  if (!value) return text;
  return text.split(value).join('[REDACTED]');
}
