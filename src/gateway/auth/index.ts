/** Public surface of auth/: SCIM bearer tokens, the access file of connections and tokens, and the console's admin sign-in. */
export { TokenVerifier, createToken, revokeToken, rotateToken, listTokens, createConnection, confirmWithRunningGateway, hashToken, TOKEN_PREFIX, CONNECTION_NAME_RE } from './tokens.js';
export type { AuthResult, CreatedToken, GatewayConfirmation } from './tokens.js';
export { readAccess, updateAccess, writeFileDurably, ACCESS_FILE } from './access-file.js';
export type { TokenRecord, ConnectionRecord, AccessData } from './access-file.js';
export { AdminAccounts, AdminAccountError, ADMIN_FILE, ADMIN_USERNAME_RE, MIN_PASSWORD_LENGTH, hashPassword, verifyPasswordHash, passwordProblem } from './admin-accounts.js';
export type { AdminAccount } from './admin-accounts.js';
export { AdminSessions, SetupCode, LocalLoginTokens, sameSecret } from './admin-sessions.js';
export type { AdminSession, AdminSessionOptions } from './admin-sessions.js';
export { LoginThrottle, lockoutMessage, lastTriesWarning, requestUnlock, SETUP_SCOPE, UNLOCK_FILE } from './admin-lockout.js';
export type { LockoutOptions, LockoutState, LoginAttempt, Reservation, UnlockRequest } from './admin-lockout.js';
export { createRequestGuard, parseAllowList, normalizeIp, type RequestGuard, type RequestGuardOptions, type GuardRefusal } from './request-guard.js';
export { createProxyTrust, compileTrustProxy, type ProxyTrust, type TrustProxySetting } from './proxy-trust.js';
export { createHostCheck, isLoopbackBind, parseAllowedHost, type HostCheckOptions } from './host-check.js';
export { createInFlightLimits, type InFlightLimits, type InFlightLimitsOptions, type InFlightRefusal, type InFlightTicket } from './in-flight.js';
