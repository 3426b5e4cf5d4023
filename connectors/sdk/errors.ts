/**
 * The connector error hierarchy. A connector only has to throw the right class: the host decides
 * what happens next (the outbox retries a TransientError with backoff and dead-letters a
 * PermanentError), so no connector implements its own retry loop.
 */
import type { OperationKind } from './types.js';

/** Every error code the SDK itself produces; connectors may use their own codes as well. */
export const ERROR_CODES = {
  transient: 'the target could not be reached or was busy; the host retries',
  target_unreachable: 'a network error (ECONNREFUSED, ETIMEDOUT, ...) thrown by a driver, mapped by the host',
  permanent: 'the target refused the operation; retrying will not help (dead letter)',
  unexpected_error: 'an error the connector did not classify; treated as permanent',
  conflict: 'the target holds an entry this gateway does not manage (claim protection)',
  already_exists: 'create found the same user already in the target; the host turns it into an update',
  not_found: 'the target has no entry for the key',
  unsupported_operation: 'the operation needs a capability the manifest does not declare',
  invalid_operation: 'the operation handed to the host is malformed',
  invalid_config: 'the connector configuration does not match its schema',
  contract: 'the connector definition lacks a method its capabilities require',
} as const;

/** A code from the SDK's catalogue. */
export type SdkErrorCode = keyof typeof ERROR_CODES;

/** Options shared by every connector error. */
export interface ConnectorErrorOptions {
  /** Machine-readable code; defaults per class (see ERROR_CODES). */
  code?: string;
  cause?: unknown;
}

/** Base class: a human message (never a secret) and a stable `code`. */
export abstract class ConnectorError extends Error {
  /** Whether the host should retry the operation. */
  abstract readonly retryable: boolean;
  readonly code: string;
  /** Set by the host when the error leaves `apply`. */
  operationKind?: OperationKind;
  /** Set by the host: how long the failed call took. */
  durationMs?: number;

  constructor(message: string, code: string, options: ConnectorErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code ?? code;
    this.name = new.target.name;
  }
}

/** The target is down, busy or timed out: the host retries with backoff. */
export class TransientError extends ConnectorError {
  readonly retryable = true;
  /** The target's own hint (HTTP Retry-After, LDAP busy); the host waits at least this long. */
  readonly retryAfterMs?: number;

  constructor(message: string, options: ConnectorErrorOptions & { retryAfterMs?: number } = {}) {
    super(message, 'transient', options);
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }
}

/** The target refused the operation for a reason a retry cannot fix: the host dead-letters it. */
export class PermanentError extends ConnectorError {
  readonly retryable = false;

  constructor(message: string, options: ConnectorErrorOptions = {}) {
    super(message, 'permanent', options);
  }
}

/** The target holds an entry for this user that the gateway does not manage (claim protection). */
export class ConflictError extends PermanentError {
  constructor(message: string, options: ConnectorErrorOptions = {}) {
    super(message, { code: 'conflict', ...options });
  }
}

/** The target has no entry for the key: delete treats it as done, other operations dead-letter. */
export class NotFoundError extends PermanentError {
  constructor(message: string, options: ConnectorErrorOptions = {}) {
    super(message, { code: 'not_found', ...options });
  }
}

/**
 * createUser found the same user already present (a retry after a crash, a unique-key violation):
 * the host turns the create into an update of `key`. Use ConflictError instead when the entry
 * belongs to someone else.
 */
export class AlreadyExistsError extends PermanentError {
  readonly key: string;

  constructor(message: string, key: string, options: ConnectorErrorOptions = {}) {
    super(message, { code: 'already_exists', ...options });
    this.key = key;
  }
}

/** Thrown at start-up when a definition lacks what its manifest promises (Auth.js's assert idea). */
export class ConnectorContractError extends Error {
  readonly code = 'contract';
  /** One line per problem, e.g. `capability "groups" requires method deleteGroup`. */
  readonly problems: string[];

  constructor(connectorType: string, problems: string[]) {
    super(`connector "${connectorType}" does not meet the connector contract: ${problems.join('; ')}`);
    this.name = 'ConnectorContractError';
    this.problems = problems;
  }
}

/** One configuration problem, located by dot path. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** Thrown by the host when the configuration does not match the manifest's schema. */
export class ConnectorConfigError extends Error {
  readonly code = 'invalid_config';
  readonly issues: ConfigIssue[];

  constructor(connectorType: string, issues: ConfigIssue[]) {
    const list = issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ');
    super(`connector "${connectorType}" configuration is invalid: ${list}`);
    this.name = 'ConnectorConfigError';
    this.issues = issues;
  }
}
