/**
 * HTTP for the `rest` connector: auth (basic, bearer, API key header, OAuth2 client credentials
 * with a cached token refreshed once on 401), per-call timeouts, a bounded response reader, and
 * the one place where HTTP statuses and network failures become SDK errors.
 */
import { ConflictError, NotFoundError, PermanentError, TransientError } from '../sdk/index.js';

/** The HTTP call the connector needs; injected so tests can count or wrap calls. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** Auth as configured, with its secret already read from the secret store. */
export type ResolvedAuth =
  | { type: 'none' }
  | { type: 'basic'; username: string; password: string }
  | { type: 'bearer'; token: string }
  | { type: 'apiKey'; header: string; prefix: string; key: string }
  | { type: 'oauth2'; tokenUrl: string; clientId: string; clientSecret: string; scope?: string; audience?: string; clientAuth: 'basic' | 'body' };

/** A request ready to send (URL absolute, body already serialised). */
export interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
}

/** A response read to the end (bounded). */
export interface HttpResponse {
  status: number;
  statusText: string;
  headers: Headers;
  text: string;
  json: unknown;
}

/** Longest Retry-After honoured; a larger hint is capped so one answer cannot park an entry for days. */
export const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;

/**
 * Parses Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns milliseconds
 * from `now`, capped at MAX_RETRY_AFTER_MS; undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, MAX_RETRY_AFTER_MS);
  // Every HTTP-date form names a day or month; Date.parse alone would read "-5" as a year.
  const at = /[A-Za-z]/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS);
}

/** A short, single-line excerpt of a response body for an error message. */
export function excerpt(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** Network error codes worth naming in words. */
const NETWORK_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'DNS lookup failed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed by the server',
  UND_ERR_HEADERS_TIMEOUT: 'no response headers in time',
  CERT_HAS_EXPIRED: 'TLS certificate expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed TLS certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed TLS certificate in chain',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS certificate not trusted',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS certificate does not match the host name',
};

/** TLS failures are configuration problems: retrying does not fix a certificate. */
const TLS_CODES = new Set(['CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_TLS_CERT_ALTNAME_INVALID']);

function causeCode(err: unknown): string | undefined {
  let cur: unknown = err;
  for (let i = 0; i < 6 && typeof cur === 'object' && cur !== null; i++) {
    const rec = cur as { code?: unknown; cause?: unknown; errors?: unknown[] };
    if (typeof rec.code === 'string') return rec.code;
    if (Array.isArray(rec.errors) && rec.errors.length) cur = rec.errors[0];
    else cur = rec.cause;
  }
  return undefined;
}

/** A fetch failure (no HTTP answer at all) as an SDK error naming the URL. */
export function networkError(method: string, url: string, err: unknown, timeoutMs: number): Error {
  const e = err as { name?: string };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
    return new TransientError(`${method} ${url} timed out after ${timeoutMs} ms`, { code: 'timeout', cause: err });
  }
  const code = causeCode(err);
  const words = code ? (NETWORK_WORDS[code] ?? code) : (err as Error)?.message ?? String(err);
  if (code && TLS_CODES.has(code)) return new PermanentError(`${method} ${url} failed: ${words} (${code})`, { code: 'tls_error', cause: err });
  return new TransientError(`${method} ${url} failed: ${words}${code && words !== code ? ` (${code})` : ''}`, {
    code: 'target_unreachable',
    cause: err,
  });
}

/** Reads a body up to `limit` bytes; a larger one is a PermanentError (a misconfigured endpoint). */
async function readBounded(res: Response, limit: number, what: string): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new PermanentError(`${what}: response body over ${limit} bytes`, { code: 'response_too_large' });
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** How a non-2xx status should be read for one kind of call. */
export interface StatusPolicy {
  /** What the call is, for messages: `POST http://host/api/v1/accounts`. */
  label: string;
  /** 404 (and 410) means "no such entry": NotFoundError. Otherwise a 404 is a PermanentError (wrong URL). */
  notFoundIsMissing?: boolean;
}

/**
 * Maps a non-2xx response to an SDK error: 429 and 5xx are TransientError (with Retry-After),
 * 401/403 an auth failure, 404/410 NotFoundError where that means a missing entry, 409
 * ConflictError, other statuses PermanentError with the status and a body excerpt. Request
 * headers (which carry the credentials) never appear in the message.
 */
export function statusError(res: HttpResponse, policy: StatusPolicy): Error {
  const status = res.status;
  const body = res.text ? `: ${excerpt(res.text)}` : '';
  const what = `${policy.label} answered HTTP ${status}${res.statusText ? ` ${res.statusText}` : ''}`;
  if (status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
    return new TransientError(`${what}${retryAfterMs !== undefined ? ` (retry after ${Math.ceil(retryAfterMs / 1000)} s)` : ''}${body}`, {
      code: status === 429 ? 'rate_limited' : 'server_error',
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  if (status === 401 || status === 403) {
    return new PermanentError(`${what}: the credentials were refused or lack the permission${body}`, { code: 'auth_failed' });
  }
  if ((status === 404 || status === 410) && policy.notFoundIsMissing) return new NotFoundError(`${what}${body}`);
  if (status === 409) return new ConflictError(`${what}${body}`);
  if (status >= 300 && status < 400) {
    const location = res.headers.get('location');
    return new PermanentError(`${what}: redirects are not followed (credentials stay with the configured host)${location ? `; it points to ${location}` : ''}`, {
      code: 'redirect',
    });
  }
  return new PermanentError(`${what}${body}`, { code: `http_${status}` });
}

interface CachedToken {
  value: string;
  /** ms since epoch after which it is fetched again. */
  refreshAt: number;
}

/** Options of the HTTP client. */
export interface HttpClientOptions {
  fetch: FetchLike;
  auth: ResolvedAuth;
  maxResponseBytes: number;
  /** Default timeout of the token request. */
  timeoutMs: number;
  now?: () => number;
}

/** Sends requests with auth; the only place that talks HTTP. */
export class HttpClient {
  private token: CachedToken | undefined;
  private pendingToken: Promise<string> | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: HttpClientOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** The Authorization (or API key) header as it would be sent, with the credential replaced. */
  redactedAuthHeaders(): Record<string, string> {
    const a = this.opts.auth;
    switch (a.type) {
      case 'none':
        return {};
      case 'basic':
        return { Authorization: 'Basic [REDACTED]' };
      case 'bearer':
      case 'oauth2':
        return { Authorization: 'Bearer [REDACTED]' };
      case 'apiKey':
        return { [a.header]: `${a.prefix}[REDACTED]` };
    }
  }

  /** A short description of the auth for messages (never the secret). */
  describeAuth(): string {
    const a = this.opts.auth;
    switch (a.type) {
      case 'none':
        return 'no authentication';
      case 'basic':
        return `basic auth as "${a.username}"`;
      case 'bearer':
        return 'a bearer token';
      case 'apiKey':
        return `an API key in header ${a.header}`;
      case 'oauth2':
        return `OAuth2 client "${a.clientId}" of ${a.tokenUrl}`;
    }
  }

  private async authHeaders(): Promise<Record<string, string>> {
    const a = this.opts.auth;
    switch (a.type) {
      case 'none':
        return {};
      case 'basic':
        return { Authorization: `Basic ${Buffer.from(`${a.username}:${a.password}`, 'utf8').toString('base64')}` };
      case 'bearer':
        return { Authorization: `Bearer ${a.token}` };
      case 'apiKey':
        return { [a.header]: `${a.prefix}${a.key}` };
      case 'oauth2':
        return { Authorization: `Bearer ${await this.accessToken()}` };
    }
  }

  /** The cached OAuth2 token, or a new one; concurrent callers share one token request. */
  private async accessToken(): Promise<string> {
    if (this.token && this.token.refreshAt > this.now()) return this.token.value;
    this.pendingToken ??= this.fetchToken().finally(() => {
      this.pendingToken = undefined;
    });
    return this.pendingToken;
  }

  /** RFC 6749 §4.4: client credentials grant. */
  private async fetchToken(): Promise<string> {
    const a = this.opts.auth;
    if (a.type !== 'oauth2') throw new Error('not an OAuth2 configuration');
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (a.scope) form.set('scope', a.scope);
    if (a.audience) form.set('audience', a.audience);
    const headers: Record<string, string> = { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' };
    if (a.clientAuth === 'basic') {
      // RFC 6749 §2.3.1: id and secret are form-urlencoded before the Basic encoding.
      const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
      headers.Authorization = `Basic ${Buffer.from(`${enc(a.clientId)}:${enc(a.clientSecret)}`).toString('base64')}`;
    } else {
      form.set('client_id', a.clientId);
      form.set('client_secret', a.clientSecret);
    }
    const label = `token request to ${a.tokenUrl}`;
    const res = await this.raw({ method: 'POST', url: a.tokenUrl, headers, body: form.toString(), timeoutMs: this.opts.timeoutMs }, label);
    if (res.status < 200 || res.status >= 300) {
      if (res.status === 429 || res.status >= 500) throw statusError(res, { label });
      const oauthError = (res.json as { error?: unknown } | undefined)?.error;
      throw new PermanentError(
        `token endpoint ${a.tokenUrl} refused client "${a.clientId}" (HTTP ${res.status}${typeof oauthError === 'string' ? `: ${oauthError}` : ''}): check the client id, secret and scope`,
        { code: 'auth_failed' },
      );
    }
    const body = res.json as { access_token?: unknown; expires_in?: unknown } | undefined;
    if (typeof body?.access_token !== 'string' || !body.access_token) {
      throw new PermanentError(`token endpoint ${a.tokenUrl} answered without an access_token`, { code: 'auth_failed' });
    }
    const lifetimeMs = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in * 1000 : 3600_000;
    // Refresh a little early (10% of the lifetime, at most 60 s) so a token never expires in flight.
    this.token = { value: body.access_token, refreshAt: this.now() + lifetimeMs - Math.min(60_000, lifetimeMs / 10) };
    return body.access_token;
  }

  /** Sends without auth and reads the answer; network failures become SDK errors. */
  private async raw(req: HttpRequest, label: string): Promise<HttpResponse> {
    let res: Response;
    try {
      res = await this.opts.fetch(req.url, {
        method: req.method,
        headers: req.headers,
        ...(req.body !== undefined ? { body: req.body } : {}),
        // Credentials must not follow a redirect to another host: redirects are reported instead.
        redirect: 'manual',
        signal: AbortSignal.timeout(req.timeoutMs),
      });
    } catch (err) {
      throw networkError(req.method, req.url, err, req.timeoutMs);
    }
    let text: string;
    try {
      text = await readBounded(res, this.opts.maxResponseBytes, label);
    } catch (err) {
      if (err instanceof PermanentError) throw err;
      throw networkError(req.method, req.url, err, req.timeoutMs);
    }
    let json: unknown;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    return { status: res.status, statusText: res.statusText, headers: res.headers, text, json };
  }

  /**
   * Sends a request with auth. With OAuth2, a 401 drops the cached token and the request is sent
   * once more with a fresh one (the vendor may have rotated or expired it early).
   */
  async send(req: HttpRequest): Promise<HttpResponse> {
    const label = `${req.method} ${req.url}`;
    const attempt = async (): Promise<HttpResponse> =>
      this.raw({ ...req, headers: { Accept: 'application/json', ...req.headers, ...(await this.authHeaders()) } }, label);
    const res = await attempt();
    if (res.status === 401 && this.opts.auth.type === 'oauth2') {
      this.token = undefined;
      return attempt();
    }
    return res;
  }
}
