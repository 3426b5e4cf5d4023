/**
 * The one place where LDAP result codes, socket errors and TLS failures become SDK errors with
 * messages an admin can act on. Messages name the URL, the bind DN, the entry and the attribute;
 * never the password.
 */
import { ResultCodeError } from 'ldapts';
import { NETWORK_ERROR_CODES, NotFoundError, PermanentError, TransientError, type ConnectorError } from '../sdk/index.js';

/** RFC 4511 §4.1.9 result codes this connector treats specially. */
export const LDAP = {
  operationsError: 1,
  protocolError: 2,
  timeLimitExceeded: 3,
  adminLimitExceeded: 11,
  confidentialityRequired: 13,
  noSuchAttribute: 16,
  undefinedAttributeType: 17,
  constraintViolation: 19,
  attributeOrValueExists: 20,
  invalidAttributeSyntax: 21,
  noSuchObject: 32,
  invalidDNSyntax: 34,
  invalidCredentials: 49,
  insufficientAccessRights: 50,
  busy: 51,
  unavailable: 52,
  unwillingToPerform: 53,
  namingViolation: 64,
  objectClassViolation: 65,
  notAllowedOnNonLeaf: 66,
  notAllowedOnRDN: 67,
  entryAlreadyExists: 68,
  strongAuthRequired: 8,
} as const;

const NAMES: Record<number, string> = Object.fromEntries(Object.entries(LDAP).map(([name, code]) => [code, name]));

/** The LDAP result code of an error, if it is one. */
export function resultCode(err: unknown): number | undefined {
  return err instanceof ResultCodeError ? err.code : undefined;
}

/** Node's TLS verification codes: the certificate is not trusted or does not fit the host. */
const TLS_TRUST_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** ldapts reports these as plain Errors: the connection broke or an answer did not come in time. */
const LDAPTS_TRANSIENT = [/Connection timeout/i, /Operation timed out/i, /^Socket error/i, /Connection closed before message response/i, /Socket connection not established/i];

function codeOf(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

/** What failed while opening a session; used for test() and for operations alike. */
export type ConnectStep = 'connect' | 'startTls' | 'bind';

/** Where an error happened, for its message. */
export interface ErrorContext {
  url: string;
  bindDN: string;
  /** e.g. "LDAP modify uid=ada,ou=people,dc=example,dc=org". */
  action?: string;
  /** Attributes the request carried, named when the server's message does not say which. */
  attributes?: string[];
  step?: ConnectStep;
  connectMs?: number;
  tlsCaFile?: string;
}

/** The attribute an LDAP diagnostic message talks about, when it names one. */
export function attributeInMessage(message: string): string | undefined {
  const patterns = [
    /requires attribute '([^']+)'/i,
    /attribute '([^']+)' not allowed/i,
    /(?:^|: )([A-Za-z][\w-]*): value #\d/m,
    /^([A-Za-z][\w-]*): (?:attribute type undefined|no equality matching rule|multiple values provided)/m,
    /attribute ['"]?([A-Za-z][\w-]*)['"]? (?:is )?(?:already in use|already exists|not allowed|invalid)/i,
    /\b([A-Za-z][\w-]*) contains invalid/i,
    /(?:^|\s)([A-Za-z][\w-]*) '[^']*' is already in use/i,
    /attribute ([A-Za-z][\w-]*)\b/i,
  ];
  for (const p of patterns) {
    const m = p.exec(message);
    if (m?.[1]) return m[1];
  }
  return undefined;
}

/** Errors while opening a session: refused, timed out, TLS, StartTLS refused, bind refused. */
export function connectFailure(err: unknown, ctx: ErrorContext): ConnectorError {
  const where = `${ctx.url}`;
  const code = codeOf(err);
  const message = err instanceof Error ? err.message : String(err);
  const rc = resultCode(err);
  if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
    return new PermanentError(`cannot connect to ${where}: tlsCaFile ${ctx.tlsCaFile ?? ''} cannot be read (${code}); give the path of a PEM file with the directory's CA certificate`, {
      code: 'ldap_tls_config',
      cause: err,
    });
  }
  if (code && TLS_TRUST_CODES.has(code)) {
    const hint =
      code === 'ERR_TLS_CERT_ALTNAME_INVALID'
        ? 'the certificate was issued for another host name: put that name in the URL'
        : code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID'
          ? "renew the directory's certificate"
          : ctx.tlsCaFile
            ? `the CA in tlsCaFile ${ctx.tlsCaFile} did not issue it: point tlsCaFile at the CA certificate that did`
            : "set tlsCaFile to the PEM file of the CA that issued the directory's certificate";
    return new PermanentError(`TLS with ${where} failed: the server certificate is not trusted (${code}: ${message}); ${hint}`, { code: 'ldap_tls', cause: err });
  }
  if (code === 'EPROTO' || code?.startsWith('ERR_SSL')) {
    return new PermanentError(
      `TLS with ${where} failed (${message.split('\n')[0]}): is this port plain LDAP? Use ldap:// (with startTls) for it, ldaps:// for an LDAPS port (usually 636)`,
      { code: 'ldap_tls', cause: err },
    );
  }
  if (ctx.step === 'startTls' && rc !== undefined) {
    return new PermanentError(`${where} refused StartTLS (${NAMES[rc] ?? rc}: ${message}): enable TLS on the directory, or use ldaps://`, { code: 'ldap_tls', cause: err });
  }
  if (rc === LDAP.invalidCredentials) {
    return new PermanentError(`cannot bind to ${where} as ${ctx.bindDN}: invalid credentials (check bindDN and the bind password)`, {
      code: 'ldap_invalid_credentials',
      cause: err,
    });
  }
  if (rc === LDAP.strongAuthRequired || rc === LDAP.confidentialityRequired) {
    return new PermanentError(`cannot bind to ${where} as ${ctx.bindDN}: the directory requires an encrypted connection; use ldaps:// or startTls: true`, {
      code: 'ldap_tls_required',
      cause: err,
    });
  }
  if (code === 'ECONNRESET' && ctx.step !== 'startTls' && ctx.url.toLowerCase().startsWith('ldaps:')) {
    // slapd drops a TLS hello on its plain port; a reset can also be a network blip, so retry.
    return new TransientError(`cannot connect to ${where}: the connection was reset during the TLS handshake (is this port plain LDAP? Use ldap:// with startTls for it)`, {
      code: 'target_unreachable',
      cause: err,
    });
  }
  if (code && NETWORK_ERROR_CODES.has(code)) {
    const what = code === 'ECONNREFUSED' ? 'connection refused (is the directory running, and are the host and port right?)' : code;
    return new TransientError(`cannot connect to ${where}: ${what}`, { code: 'target_unreachable', cause: err });
  }
  if (code === 'ENOTFOUND') return new PermanentError(`cannot connect to ${where}: host name not found (check the URL)`, { code: 'ldap_host_not_found', cause: err });
  if (LDAPTS_TRANSIENT.some((p) => p.test(message))) {
    const what = /timeout|timed out/i.test(message) ? `no answer within ${ctx.connectMs ?? '?'} ms` : 'the connection broke';
    return new TransientError(`cannot connect to ${where}: ${what}`, { code: 'target_unreachable', cause: err });
  }
  if (ctx.step === 'bind' && rc !== undefined) return operationFailure(err, { ...ctx, action: `bind as ${ctx.bindDN}` });
  return operationFailure(err, ctx);
}

/**
 * Errors of an operation on an open session. noSuchObject becomes NotFoundError; the rest names
 * the request, the server's diagnostic and the attribute when there is one.
 */
export function operationFailure(err: unknown, ctx: ErrorContext): ConnectorError {
  const rc = resultCode(err);
  const message = err instanceof Error ? err.message : String(err);
  const action = ctx.action ?? 'LDAP request';
  if (rc === undefined) {
    const code = codeOf(err);
    if ((code && NETWORK_ERROR_CODES.has(code)) || LDAPTS_TRANSIENT.some((p) => p.test(message))) {
      return new TransientError(`${action} on ${ctx.url}: ${/timeout|timed out/i.test(message) ? 'no answer in time' : 'connection lost'} (${message.split('\n')[0]})`, {
        code: 'target_unreachable',
        cause: err,
      });
    }
    return new PermanentError(`${action} on ${ctx.url} failed: ${message}`, { code: 'unexpected_error', cause: err });
  }
  const name = NAMES[rc] ?? `result code ${rc}`;
  const diagnostic = message.replace(/\s*Code: 0x[0-9a-f]+\s*$/i, '').trim();
  switch (rc) {
    case LDAP.noSuchObject:
      return new NotFoundError(`${action}: no such entry (${diagnostic})`, { cause: err });
    case LDAP.busy:
    case LDAP.unavailable:
    case LDAP.timeLimitExceeded:
    case LDAP.adminLimitExceeded:
      return new TransientError(`${action} on ${ctx.url}: the directory is ${name} (${diagnostic}); will retry`, { code: `ldap_${name}`, cause: err });
    case LDAP.invalidCredentials:
      return new PermanentError(`cannot bind to ${ctx.url} as ${ctx.bindDN}: invalid credentials (check bindDN and the bind password)`, {
        code: 'ldap_invalid_credentials',
        cause: err,
      });
    case LDAP.insufficientAccessRights:
      return new PermanentError(`${action}: ${ctx.bindDN} has no right to do this (${diagnostic}); grant it in the directory's ACLs`, { code: 'ldap_insufficient_access', cause: err });
    case LDAP.strongAuthRequired:
    case LDAP.confidentialityRequired:
      return new PermanentError(`${action}: the directory requires an encrypted connection (${diagnostic}); use ldaps:// or startTls: true`, { code: 'ldap_tls_required', cause: err });
    case LDAP.constraintViolation:
    case LDAP.objectClassViolation:
    case LDAP.invalidAttributeSyntax:
    case LDAP.undefinedAttributeType:
    case LDAP.namingViolation:
    case LDAP.notAllowedOnRDN:
    case LDAP.attributeOrValueExists:
    case LDAP.noSuchAttribute: {
      const attribute = attributeInMessage(diagnostic);
      const named = attribute ? `attribute ${attribute}` : ctx.attributes?.length ? `one of the attributes ${ctx.attributes.join(', ')}` : 'an attribute';
      const hint =
        rc === LDAP.undefinedAttributeType
          ? ': the directory schema has no such attribute (fix the mapping, or load the schema/overlay that defines it)'
          : rc === LDAP.objectClassViolation
            ? ': the object classes do not allow or require it (fix the mapping or users.objectClasses)'
            : '';
      return new PermanentError(`${action} refused (${name}) for ${named}: ${diagnostic}${hint}`, { code: `ldap_${name}`, cause: err });
    }
    default:
      return new PermanentError(`${action} refused (${name}): ${diagnostic}`, { code: `ldap_${name}`, cause: err });
  }
}
