/**
 * A fake vendor API for the `rest` connector's tests: a small legacy-style HR accounts service
 * standing in for the kind of vendor REST API that cannot run on a test machine. It is not a mock
 * of any product; it is a realistic target with the quirks such APIs have:
 *
 * - accounts under `/api/v1/accounts` with snake_case fields, numeric ids, responses wrapped in
 *   `{ "data": ... }`, a `Location` header on create, 409 on a duplicate login, 422 on bad input;
 * - deactivation through action endpoints (`POST /api/v1/accounts/:id/disable` and `/enable`);
 * - teams with per-member endpoints (`PUT`/`DELETE /api/v1/teams/:id/members/:accountId`) and a
 *   batch form (`POST`/`DELETE /api/v1/teams/:id/members` with `{ "account_ids": [...] }`);
 * - listing with `page`/`per_page`, `offset`/`limit` or `cursor`, and a `links.next` URL;
 * - HTTP Basic auth, or OAuth2 client credentials (`POST /oauth/token`) with expiring tokens;
 * - a fault mode (429 with Retry-After, 503, a slow answer) and a real stop/start of the port.
 *
 * It listens on 127.0.0.1 on a free port. Tests read and change its state directly (`accounts`,
 * `teams`, `readAccount`...), never through the connector under test.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An account as the legacy API stores it. */
export interface LegacyAccount {
  id: number;
  login: string;
  email: string | null;
  first_name: string | null;
  last_name: string | null;
  department: string | null;
  external_ref: string | null;
  status: 'active' | 'disabled';
  created_at: string;
  updated_at: string;
}

/** A team and its members (account ids). */
export interface LegacyTeam {
  id: string;
  name: string;
  members: Set<number>;
}

export type LegacyAuth =
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'oauth2'; clientId: string; clientSecret: string; tokenTtlSeconds?: number; scope?: string };

/** What one request looked like, for tests that check headers or bodies the connector sent. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A fault the API answers with instead of doing its work. */
export interface LegacyFault {
  /** 429, 500, 503... */
  status: number;
  /** Sent as the Retry-After header, verbatim (seconds or an HTTP-date). */
  retryAfter?: string;
  /** How many requests get the fault; unlimited when absent. */
  times?: number;
  /** Only requests whose path matches; every /api/v1 request when absent. */
  path?: RegExp;
}

export interface LegacyApi {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly accounts: Map<number, LegacyAccount>;
  readonly teams: Map<string, LegacyTeam>;
  readonly requests: RecordedRequest[];
  /** Tokens handed out by /oauth/token since start (or the last reset). */
  readonly tokensIssued: number;
  readAccount(id: number | string): LegacyAccount | undefined;
  countLogin(login: string): number;
  /** Makes the next requests fail; `undefined` clears it. */
  setFault(fault: LegacyFault | undefined): void;
  /** Delays every /api/v1 answer (for timeout tests). */
  setDelay(ms: number): void;
  /** Forgets every issued token, as a vendor does after a key rotation or a restart. */
  revokeTokens(): void;
  /** Empties the data and clears faults, delays, tokens and the request log. */
  reset(): void;
  /** Closes the port (established connections too); `start` reopens the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

const MAX_BODY = 1 << 20;

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(`HTTP ${status}`);
  }
}

const problem = (status: number, code: string, message: string, extra: Record<string, unknown> = {}): HttpProblem =>
  new HttpProblem(status, { error: { code, message, ...extra } });

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw problem(413, 'too_large', 'request body over 1 MiB');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw problem(400, 'bad_json', 'request body is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw problem(400, 'bad_json', 'request body must be a JSON object');
  return value as Record<string, unknown>;
}

/** Validates the writable fields of an account; the API refuses unknown fields like many legacy ones do. */
function accountFields(body: Record<string, unknown>): Omit<LegacyAccount, 'id' | 'created_at' | 'updated_at'> {
  const allowed = new Set(['login', 'email', 'first_name', 'last_name', 'department', 'external_ref', 'status']);
  const errors: Array<{ field: string; message: string }> = [];
  for (const k of Object.keys(body)) if (!allowed.has(k)) errors.push({ field: k, message: 'unknown field' });
  const str = (k: string): string | null => {
    const v = body[k];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') {
      errors.push({ field: k, message: 'must be a string' });
      return null;
    }
    return v;
  };
  const login = str('login');
  if (!login) errors.push({ field: 'login', message: 'is required' });
  const email = str('email');
  if (email !== null && !/^[^@\s]+@[^@\s]+$/.test(email)) errors.push({ field: 'email', message: 'is not an email address' });
  const status = body.status ?? 'active';
  if (status !== 'active' && status !== 'disabled') errors.push({ field: 'status', message: 'must be "active" or "disabled"' });
  if (errors.length) throw new HttpProblem(422, { error: { code: 'validation_failed', message: 'invalid account', fields: errors } });
  return {
    login: login!,
    email,
    first_name: str('first_name'),
    last_name: str('last_name'),
    department: str('department'),
    external_ref: str('external_ref'),
    status: status as LegacyAccount['status'],
  };
}

/** Starts the legacy API on 127.0.0.1, on a free port. */
export async function startLegacyApi(options: { auth: LegacyAuth; maxPageSize?: number }): Promise<LegacyApi> {
  const { auth } = options;
  const maxPageSize = options.maxPageSize ?? 100;
  const accounts = new Map<number, LegacyAccount>();
  const teams = new Map<string, LegacyTeam>();
  const requests: RecordedRequest[] = [];
  const tokens = new Map<string, number>(); // token -> expiry (ms since epoch)
  let tokensIssued = 0;
  let nextAccountId = 1000;
  let nextTeamId = 1;
  let fault: LegacyFault | undefined;
  let delayMs = 0;
  /** Bumped by reset(): a request held by a delay across a reset changes nothing (it belonged to an earlier test). */
  let generation = 0;
  let port = 0;

  const findLogin = (login: string, except?: number): LegacyAccount | undefined =>
    [...accounts.values()].find((a) => a.login.toLowerCase() === login.toLowerCase() && a.id !== except);

  const authenticate = (req: IncomingMessage): void => {
    const header = req.headers.authorization ?? '';
    const [scheme, value = ''] = header.split(' ', 2);
    if (auth.kind === 'basic' && scheme?.toLowerCase() === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const sep = decoded.indexOf(':');
      if (sep > 0 && sameSecret(decoded.slice(0, sep), auth.username) && sameSecret(decoded.slice(sep + 1), auth.password)) return;
    }
    if (auth.kind === 'oauth2' && scheme?.toLowerCase() === 'bearer') {
      const expiry = tokens.get(value);
      if (expiry !== undefined && expiry > Date.now()) return;
      throw new HttpProblem(401, { error: { code: 'invalid_token', message: 'token expired or unknown' } }, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
    }
    throw new HttpProblem(401, { error: { code: 'unauthorized', message: 'authentication required' } }, {
      'WWW-Authenticate': auth.kind === 'basic' ? 'Basic realm="legacy-hr"' : 'Bearer',
    });
  };

  const issueToken = async (req: IncomingMessage, body: string): Promise<unknown> => {
    if (auth.kind !== 'oauth2') throw problem(404, 'not_found', 'no such endpoint');
    const form = new URLSearchParams(body);
    let clientId = form.get('client_id') ?? '';
    let clientSecret = form.get('client_secret') ?? '';
    const header = req.headers.authorization ?? '';
    if (header.toLowerCase().startsWith('basic ')) {
      // RFC 6749 §2.3.1: client_id and client_secret are form-urlencoded before the Basic encoding.
      const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
      const sep = decoded.indexOf(':');
      clientId = decodeURIComponent(decoded.slice(0, sep).replace(/\+/g, ' '));
      clientSecret = decodeURIComponent(decoded.slice(sep + 1).replace(/\+/g, ' '));
    }
    if (form.get('grant_type') !== 'client_credentials') throw new HttpProblem(400, { error: 'unsupported_grant_type' });
    if (!sameSecret(clientId, auth.clientId) || !sameSecret(clientSecret, auth.clientSecret)) {
      throw new HttpProblem(401, { error: 'invalid_client', error_description: 'client authentication failed' });
    }
    const scope = form.get('scope');
    if (auth.scope !== undefined && scope !== auth.scope) throw new HttpProblem(400, { error: 'invalid_scope' });
    const token = randomBytes(24).toString('base64url');
    const ttl = auth.tokenTtlSeconds ?? 3600;
    tokens.set(token, Date.now() + ttl * 1000);
    tokensIssued++;
    return { access_token: token, token_type: 'bearer', expires_in: ttl, ...(scope ? { scope } : {}) };
  };

  const list = (url: URL): { body: unknown } => {
    const q = url.searchParams;
    let rows = [...accounts.values()].sort((a, b) => a.id - b.id);
    const login = q.get('login');
    if (login !== null) rows = rows.filter((a) => a.login.toLowerCase() === login.toLowerCase());
    const ref = q.get('external_ref');
    if (ref !== null) rows = rows.filter((a) => a.external_ref === ref);
    const size = (name: string): number => {
      const n = Number(q.get(name) ?? 25);
      if (!Number.isInteger(n) || n < 1 || n > maxPageSize) throw problem(400, 'bad_paging', `${name} must be 1..${maxPageSize}`);
      return n;
    };
    const total = rows.length;
    const base = `${url.pathname}`;
    if (q.has('cursor')) {
      // The cursor is the last id seen, opaque to clients.
      const limit = size('limit');
      const after = q.get('cursor') ? Number(Buffer.from(q.get('cursor')!, 'base64url').toString()) : -1;
      const page = rows.filter((a) => a.id > after).slice(0, limit);
      const more = rows.some((a) => a.id > (page.at(-1)?.id ?? Infinity));
      const next = more ? Buffer.from(String(page.at(-1)!.id)).toString('base64url') : null;
      return { body: { data: page, meta: { total, next_cursor: next } } };
    }
    if (q.has('offset')) {
      const limit = size('limit');
      const offset = Number(q.get('offset'));
      const page = rows.slice(offset, offset + limit);
      const next = offset + limit < total ? `${base}?offset=${offset + limit}&limit=${limit}` : null;
      return { body: { data: page, meta: { total, offset, limit }, links: { next } } };
    }
    const perPage = size('per_page');
    const pageNo = Number(q.get('page') ?? 1);
    const page = rows.slice((pageNo - 1) * perPage, pageNo * perPage);
    const extra = [login !== null ? `&login=${encodeURIComponent(login)}` : '', ref !== null ? `&external_ref=${encodeURIComponent(ref)}` : ''].join('');
    const next = pageNo * perPage < total ? `${base}?page=${pageNo + 1}&per_page=${perPage}${extra}` : null;
    return { body: { data: page, meta: { total, page: pageNo, per_page: perPage }, links: { next } } };
  };

  const account = (id: string): LegacyAccount => {
    const a = /^\d+$/.test(id) ? accounts.get(Number(id)) : undefined;
    if (!a) throw problem(404, 'not_found', `no account ${id}`);
    return a;
  };
  const team = (id: string): LegacyTeam => {
    const t = teams.get(id);
    if (!t) throw problem(404, 'not_found', `no team ${id}`);
    return t;
  };
  const teamJson = (t: LegacyTeam) => ({ id: t.id, name: t.name, member_ids: [...t.members].sort((a, b) => a - b) });

  type Reply = { status: number; body?: unknown; headers?: Record<string, string> };

  const route = async (req: IncomingMessage, url: URL, body: string): Promise<Reply> => {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    if (method === 'POST' && path === '/oauth/token') return { status: 200, body: await issueToken(req, body) };
    if (method === 'GET' && path === '/api/v1/status') return { status: 200, body: { status: 'ok', version: '3.2.1' } };
    if (!path.startsWith('/api/v1/')) throw problem(404, 'not_found', 'no such endpoint');

    authenticate(req);
    if (fault && (!fault.path || fault.path.test(path))) {
      const f = fault;
      if (f.times !== undefined && --f.times <= 0) fault = undefined;
      throw new HttpProblem(f.status, { error: { code: 'unavailable', message: 'try again later' } }, f.retryAfter ? { 'Retry-After': f.retryAfter } : {});
    }
    if (delayMs > 0) {
      const started = generation;
      await new Promise((r) => setTimeout(r, delayMs));
      if (generation !== started) throw problem(503, 'reset', 'the API was reset while this request waited');
    }

    let m: RegExpMatchArray | null;
    if (path === '/api/v1/accounts') {
      if (method === 'GET') return { status: 200, ...list(url) };
      if (method === 'POST') {
        const fields = accountFields(parseJson(body));
        const clash = findLogin(fields.login);
        if (clash) throw problem(409, 'duplicate_login', `login "${fields.login}" is taken`, { id: clash.id });
        const now = new Date().toISOString();
        const a: LegacyAccount = { id: nextAccountId++, ...fields, created_at: now, updated_at: now };
        accounts.set(a.id, a);
        return { status: 201, body: { data: a }, headers: { Location: `/api/v1/accounts/${a.id}` } };
      }
    }
    if ((m = path.match(/^\/api\/v1\/accounts\/([^/]+)$/))) {
      const id = decodeURIComponent(m[1]);
      if (method === 'GET') return { status: 200, body: { data: account(id) } };
      if (method === 'PUT') {
        const a = account(id);
        const input = parseJson(body);
        const fields = accountFields(input);
        // Legacy semantics: PUT replaces the profile; a status it does not mention stays as it is.
        if (input.status === undefined) fields.status = a.status;
        if (findLogin(fields.login, a.id)) throw problem(409, 'duplicate_login', `login "${fields.login}" is taken`);
        Object.assign(a, fields, { updated_at: new Date().toISOString() });
        return { status: 200, body: { data: a } };
      }
      if (method === 'DELETE') {
        const a = account(id);
        accounts.delete(a.id);
        for (const t of teams.values()) t.members.delete(a.id);
        return { status: 204 };
      }
    }
    if ((m = path.match(/^\/api\/v1\/accounts\/([^/]+)\/(disable|enable)$/)) && method === 'POST') {
      const a = account(decodeURIComponent(m[1]));
      a.status = m[2] === 'disable' ? 'disabled' : 'active';
      a.updated_at = new Date().toISOString();
      return { status: 200, body: { data: a } };
    }
    if (path === '/api/v1/teams' && method === 'POST') {
      const { name } = parseJson(body);
      if (typeof name !== 'string' || !name) throw new HttpProblem(422, { error: { code: 'validation_failed', message: 'name is required' } });
      if ([...teams.values()].some((t) => t.name === name)) throw problem(409, 'duplicate_team', `team "${name}" exists`);
      const t: LegacyTeam = { id: `T-${nextTeamId++}`, name, members: new Set() };
      teams.set(t.id, t);
      return { status: 201, body: { data: teamJson(t) }, headers: { Location: `/api/v1/teams/${t.id}` } };
    }
    if ((m = path.match(/^\/api\/v1\/teams\/([^/]+)$/))) {
      const t = team(decodeURIComponent(m[1]));
      if (method === 'GET') return { status: 200, body: { data: teamJson(t) } };
      if (method === 'PUT') {
        const { name } = parseJson(body);
        if (typeof name !== 'string' || !name) throw new HttpProblem(422, { error: { code: 'validation_failed', message: 'name is required' } });
        t.name = name;
        return { status: 200, body: { data: teamJson(t) } };
      }
      if (method === 'DELETE') {
        teams.delete(t.id);
        return { status: 204 };
      }
    }
    if ((m = path.match(/^\/api\/v1\/teams\/([^/]+)\/members$/)) && (method === 'POST' || method === 'DELETE')) {
      // Batch form: { "account_ids": [...] }; ids as numbers or numeric strings.
      const t = team(decodeURIComponent(m[1]));
      const ids = parseJson(body).account_ids;
      if (!Array.isArray(ids)) throw new HttpProblem(422, { error: { code: 'validation_failed', message: 'account_ids must be a list' } });
      const accountsOf = ids.map((id) => account(String(id)));
      for (const a of accountsOf) if (method === 'POST') t.members.add(a.id);
      else t.members.delete(a.id);
      return { status: 200, body: { data: teamJson(t) } };
    }
    if ((m = path.match(/^\/api\/v1\/teams\/([^/]+)\/members\/([^/]+)$/))) {
      const t = team(decodeURIComponent(m[1]));
      const a = account(decodeURIComponent(m[2]));
      if (method === 'PUT') {
        t.members.add(a.id);
        return { status: 204 };
      }
      if (method === 'DELETE') {
        // A quirk: removing someone who is not a member is a 404, not a no-op.
        if (!t.members.delete(a.id)) throw problem(404, 'not_a_member', `account ${a.id} is not in team ${t.id}`);
        return { status: 204 };
      }
    }
    throw problem(405, 'method_not_allowed', `${method} ${path} is not supported`);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let reply: Reply;
    try {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const body = await readBody(req);
      requests.push({ method: req.method ?? 'GET', path: `${url.pathname}${url.search}`, headers: { ...req.headers }, body });
      reply = await route(req, url, body);
    } catch (err) {
      reply = err instanceof HttpProblem ? { status: err.status, body: err.body, headers: err.headers } : { status: 500, body: { error: { code: 'internal', message: String(err) } } };
    }
    const text = reply.body === undefined ? '' : JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      ...(text ? { 'Content-Type': 'application/json; charset=utf-8' } : {}),
      'Content-Length': Buffer.byteLength(text),
      ...reply.headers,
    });
    res.end(text);
  };

  const server: Server = createServer((req, res) => void handle(req, res));
  const listen = (p: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => {
        server.off('error', reject);
        port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      server.closeAllConnections();
    });
  await listen(0);

  return {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    accounts,
    teams,
    requests,
    get tokensIssued() {
      return tokensIssued;
    },
    readAccount: (id) => {
      const a = accounts.get(Number(id));
      return a && { ...a };
    },
    countLogin: (login) => [...accounts.values()].filter((a) => a.login.toLowerCase() === login.toLowerCase()).length,
    setFault(f) {
      fault = f && { ...f };
    },
    setDelay(ms) {
      delayMs = ms;
    },
    revokeTokens() {
      tokens.clear();
    },
    reset() {
      generation++;
      accounts.clear();
      teams.clear();
      requests.length = 0;
      tokens.clear();
      tokensIssued = 0;
      fault = undefined;
      delayMs = 0;
    },
    stop: close,
    start: () => (server.listening ? Promise.resolve() : listen(port)),
    close,
  };
}
