/** Public surface of auth/: SCIM bearer tokens and the access file of connections and tokens. */
export { TokenVerifier, createToken, revokeToken, listTokens, createConnection, hashToken, TOKEN_PREFIX, CONNECTION_NAME_RE } from './tokens.js';
export type { AuthResult, CreatedToken } from './tokens.js';
export { readAccess, updateAccess, writeFileDurably, ACCESS_FILE } from './access-file.js';
export type { TokenRecord, ConnectionRecord, AccessData } from './access-file.js';
