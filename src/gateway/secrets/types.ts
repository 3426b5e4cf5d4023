/** The secret store's public types. */

/** Where secrets live. */
export type SecretBackend = 'keychain' | 'file';

/** What the configuration asks for (`secretsBackend`); `auto` prefers the keychain. */
export type SecretBackendSetting = 'auto' | SecretBackend;

/** The logging surface the store needs (pino-compatible). It is never given a secret value. */
export interface SecretsLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
}

/** What the console's status shows about the secret store: safe to display and log. */
export interface SecretStoreStatus {
  backend: SecretBackend;
  /** The configured setting that led here. */
  requested: SecretBackendSetting;
  /** Keychain service name (`scim-bridge`). */
  service: string;
  /** One line for a human: where the secrets are. */
  location: string;
  /** The encrypted file (file backend). */
  file?: string;
  /** The key file (file backend). */
  keyFile?: string;
  /** Why the keychain is not used, when `auto` chose the file. */
  fallbackReason?: string;
  /** Loud text for the console banner and the log, when secrets are not in a keychain. */
  warning?: string;
}

/** Connector credentials by account (`<connectorId>:<fieldPath>`). Values are never logged. */
export interface SecretStore {
  readonly backend: SecretBackend;
  /** The value, or undefined when none is stored. */
  get(account: string): Promise<string | undefined>;
  /** Whether a value is stored (what the console may ask; it never reads values back). */
  has(account: string): Promise<boolean>;
  /** Stores or replaces a value (a non-empty string of at most 64 KiB). */
  set(account: string, value: string): Promise<void>;
  /** Removes a value; resolves to whether there was one. */
  delete(account: string): Promise<boolean>;
  /** Every stored account, sorted; never values. */
  list(): Promise<string[]>;
  /** Which backend, why, and where. */
  describe(): SecretStoreStatus;
  /** Waits for writes in flight; the store is not used afterwards. */
  close(): Promise<void>;
}
