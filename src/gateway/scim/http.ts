/**
 * The SCIM listener's HTTP handler: authentication, body reading with limits, dispatch of the
 * /scim/v2 surface, and the one place where errors become SCIM Error bodies (RFC7644 §3.12).
 *
 * A plain node:http handler rather than an express router: the SCIM surface is a dozen fixed
 * routes, and express routing cost ~20% of CPU per request in profiles, against a budget of
 * 0.85x a bare express route (docs/decisions/0004-scim-dispatcher.md). The admin listener keeps express.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import { ScimError } from './errors.js';
import { runBulk } from './bulk/index.js';
import { listResponse, resourceTypeDoc, schemaDoc, serviceProviderConfig } from './discovery.js';
import {
  createResource,
  deleteResource,
  getResource,
  listResources,
  patchResource,
  replaceResource,
  type ListParams,
  type OperationContext,
  type ScimResponse,
} from './operations.js';
import type { ScimService } from './service.js';
import type { Limits } from '../config.js';
import type { ResourceType } from '../store/index.js';

export const SCIM_CONTENT_TYPE = 'application/scim+json; charset=utf-8';
export const SCIM_PREFIX = '/scim/v2';

/** What the handler needs from authentication: the connection a request's token belongs to. */
export interface ScimAuthenticator {
  authenticate(
    authorization: string | undefined,
  ): { ok: true; connection: string; tokenId: string; tokenName?: string } | { ok: false; detail: string; status?: 503; retryAfterSeconds?: number };
}

export interface RequestOutcome {
  method: string;
  path: string;
  status: number;
  ms: number;
  /** Set once the token was accepted. */
  connection?: string;
  tokenId?: string;
  tokenName?: string;
  /** The error detail for 4xx/5xx answers. */
  detail?: string;
}

export interface ScimHandlerOptions {
  service: ScimService;
  limits: Limits;
  auth: ScimAuthenticator;
  /** Base URL of /scim/v2 as clients reach it, for Location and meta.location. */
  baseUrl: (req: IncomingMessage) => string;
  docsUrl: string;
  logger: { error(o: object, msg?: string): void; warn(o: object, msg?: string): void };
  /** Called after each response with its outcome (request log, status page, metrics). */
  onResponse?: (info: RequestOutcome) => void;
  /** IP allow-list, bad-token lockout and rate limits (auth/request-guard.ts). */
  guard?: {
    admit(ip: string): GuardRefusal | undefined;
    failed(ip: string): GuardRefusal | undefined;
    rate(tokenId: string, ip: string): GuardRefusal | undefined;
  };
  /** The client's address (X-Forwarded-For only behind a trusted proxy). */
  clientIp?: (req: IncomingMessage) => string;
  /** Each token's cap on requests in progress and the body budget they share (auth/in-flight.ts). */
  inFlight?: {
    admit(tokenId: string): InFlightRefusal | { reserveBody(bytes: number): InFlightRefusal | undefined; release(): void };
  };
}

/** A request turned away for what requests in progress hold: 429 (the token's cap) or 503 (the body budget). */
export interface InFlightRefusal {
  status: 429 | 503;
  retryAfterSeconds: number;
  detail: string;
}

/** Reserves body bytes for the request being read; a ScimError when they do not fit. */
type ReserveBody = (bytes: number) => ScimError | undefined;

/** A request the guard turns away: 403 (not allowed) or 429 (with Retry-After). */
export interface GuardRefusal {
  status: 403 | 429;
  retryAfterSeconds?: number;
  detail: string;
}

function writeResponse(res: ServerResponse, r: ScimResponse): void {
  const headers: Record<string, string | number> = { ...r.headers };
  if (r.body === undefined) {
    res.writeHead(r.status, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(r.body);
  headers['Content-Type'] = SCIM_CONTENT_TYPE;
  headers['Content-Length'] = Buffer.byteLength(text);
  res.writeHead(r.status, headers);
  res.end(text);
}

export function writeScimError(res: ServerResponse, err: ScimError): void {
  writeResponse(res, { status: err.status, headers: err.headers, body: err.toBody() });
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * Reads a JSON body up to `limit` bytes; refuses other media types and encodings. The bytes are
 * reserved from the shared body budget before they are held: a declared Content-Length at once
 * (refused before any of it is read), a chunked body as it arrives.
 */
function readJsonBody(req: IncomingMessage, limit: number, tooLarge: () => ScimError, reserve: ReserveBody = () => undefined): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const type = req.headers['content-type'];
    const declared = req.headers['content-length'] !== undefined ? Number(req.headers['content-length']) : undefined;
    const fail = (err: ScimError) => {
      req.resume(); // drain, so the connection can answer
      reject(err);
    };
    if (declared !== undefined && declared > limit) return fail(tooLarge());
    if (!type) {
      if (declared === 0 || (declared === undefined && req.headers['transfer-encoding'] === undefined)) {
        return fail(ScimError.invalidSyntax('The request needs a JSON body with Content-Type application/scim+json.'));
      }
      return fail(ScimError.invalidSyntax('The body must be JSON sent as application/scim+json (or application/json); no Content-Type was given.'));
    }
    if (!JSON_TYPE.test(type)) {
      return fail(ScimError.invalidSyntax(`The body must be JSON sent as application/scim+json (or application/json); got Content-Type ${type}.`));
    }
    const charset = /charset\s*=\s*"?([\w-]+)/i.exec(type)?.[1]?.toLowerCase();
    if (charset && charset !== 'utf-8' && charset !== 'utf8') return fail(new ScimError(415, undefined, `The body must be UTF-8 JSON; got charset ${charset}.`));
    const encoding = req.headers['content-encoding'];
    if (encoding && encoding.toLowerCase() !== 'identity') return fail(new ScimError(415, undefined, `Content-Encoding ${encoding} is not supported; send the body uncompressed.`));
    const overBudget = declared !== undefined ? reserve(declared) : undefined;
    if (overBudget) return fail(overBudget);

    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      const refusal = size > limit ? tooLarge() : declared === undefined ? reserve(chunk.length) : undefined;
      if (refusal) {
        done = true;
        chunks.length = 0;
        fail(refusal);
        return;
      }
      chunks.push(chunk);
    });
    req.on('aborted', () => {
      if (!done) {
        done = true;
        reject(ScimError.invalidSyntax('The request body was cut off.'));
      }
    });
    req.on('error', () => {
      if (!done) {
        done = true;
        reject(ScimError.invalidSyntax('The request body could not be read.'));
      }
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      const text = Buffer.concat(chunks, size).toString('utf8');
      if (text.trim() === '') return reject(ScimError.invalidSyntax('The request body is empty; send a JSON object.'));
      try {
        resolve(JSON.parse(text));
      } catch (err) {
        reject(ScimError.invalidSyntax(`The body is not valid JSON: ${(err as Error).message}.`));
      }
    });
  });
}

function single(query: Record<string, string | string[] | undefined>, name: string): string | undefined {
  // Parameter names are case-insensitive in practice (Okta and Entra agree on spelling, others do not).
  let v = query[name];
  if (v === undefined) {
    const key = Object.keys(query).find((k) => k.toLowerCase() === name.toLowerCase());
    if (key) v = query[key];
  }
  if (v === undefined) return undefined;
  if (Array.isArray(v)) throw ScimError.invalidValue(`Query parameter "${name}" must be given once, as a single value.`);
  return v;
}

function listParams(query: Record<string, string | string[] | undefined>): ListParams {
  return {
    filter: single(query, 'filter'),
    startIndex: single(query, 'startIndex'),
    count: single(query, 'count'),
    sortBy: single(query, 'sortBy'),
    sortOrder: single(query, 'sortOrder'),
    attributes: single(query, 'attributes'),
    excludedAttributes: single(query, 'excludedAttributes'),
  };
}

const SEARCH_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';

/** A POST /.search body -> list parameters (RFC7644 §3.4.3). */
function searchParams(body: unknown): ListParams {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw ScimError.invalidSyntax('A SearchRequest body must be a JSON object.');
  const b = body as Record<string, unknown>;
  if (!Array.isArray(b.schemas) || !b.schemas.includes(SEARCH_REQUEST)) throw ScimError.invalidSyntax(`A SearchRequest must list the schema ${SEARCH_REQUEST}.`);
  const list = (k: string): string | undefined => {
    const v = b[k];
    if (v === undefined || v === null) return undefined;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.join(',');
    if (typeof v === 'string') return v;
    throw ScimError.invalidValue(`"${k}" must be an array of attribute names.`);
  };
  const str = (k: string): string | undefined => {
    const v = b[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw ScimError.invalidValue(`"${k}" must be a string.`);
    return v;
  };
  const num = (k: string): number | undefined => {
    const v = b[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw ScimError.invalidValue(`"${k}" must be an integer.`);
    return v;
  };
  return {
    filter: str('filter'),
    sortBy: str('sortBy'),
    sortOrder: str('sortOrder'),
    startIndex: num('startIndex'),
    count: num('count'),
    attributes: list('attributes'),
    excludedAttributes: list('excludedAttributes'),
  };
}

const RESOURCE_SEGMENTS: Record<string, ResourceType> = { users: 'User', groups: 'Group' };
const ENDPOINTS = 'Endpoints: /Users, /Groups, /Bulk, /ServiceProviderConfig, /ResourceTypes, /Schemas.';

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw ScimError.invalidValue('The URL contains an invalid percent-encoding.');
  }
}

function notAllowed(method: string, path: string): ScimError {
  return new ScimError(405, undefined, `${method} is not supported on ${path}.`);
}

/** Builds the handler for requests whose path starts with /scim/v2. */
export function createScimHandler(opts: ScimHandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { service, limits } = opts;
  // 413 closes the connection: otherwise the rest of an oversized body would be read and discarded.
  const bodyTooLarge = () => new ScimError(413, undefined, `The request body is larger than ${limits.maxBodyBytes} bytes.`, { Connection: 'close' });
  const bulkTooLarge = () =>
    new ScimError(413, undefined, `The BulkRequest is larger than ${limits.bulkMaxPayloadBytes} bytes (bulk.maxPayloadSize in /ServiceProviderConfig); split it.`, {
      Connection: 'close',
    });
  const header = (req: IncomingMessage, name: string): string | undefined => {
    const v = req.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  };

  async function dispatch(req: IncomingMessage, ctx: OperationContext, path: string, rawQuery: string, reserve: ReserveBody): Promise<ScimResponse> {
    const method = req.method ?? 'GET';
    const readBody = (r: IncomingMessage) => readJsonBody(r, limits.maxBodyBytes, bodyTooLarge, reserve);
    const segs = path.split('/').filter((s) => s !== '');
    const query = rawQuery ? (parseQuery(rawQuery) as Record<string, string | string[] | undefined>) : {};
    const first = (segs[0] ?? '').toLowerCase();
    const type = RESOURCE_SEGMENTS[first];

    if (type) {
      if (segs.length === 1) {
        if (method === 'GET') return listResources(ctx, type, listParams(query));
        if (method === 'POST') return createResource(ctx, type, await readBody(req), listParams(query));
        throw notAllowed(method, path);
      }
      if (segs.length === 2) {
        if (segs[1] === '.search') {
          if (method !== 'POST') throw notAllowed(method, path);
          return listResources(ctx, type, searchParams(await readBody(req)));
        }
        const id = decodeSegment(segs[1]);
        switch (method) {
          case 'GET':
            return getResource(ctx, type, id, listParams(query), header(req, 'if-none-match'));
          case 'PUT':
            return replaceResource(ctx, type, id, await readBody(req), header(req, 'if-match'), listParams(query));
          case 'PATCH':
            return patchResource(ctx, type, id, await readBody(req), header(req, 'if-match'), listParams(query));
          case 'DELETE':
            return deleteResource(ctx, type, id, header(req, 'if-match'));
          default:
            throw notAllowed(method, path);
        }
      }
    }
    if (first === 'me') {
      throw new ScimError(501, undefined, '/Me is not supported: SCIM Bridge tokens identify an identity provider, not a user. Use /Users/{id}.');
    }
    if (first === 'bulk' && segs.length === 1) {
      if (method !== 'POST') throw notAllowed(method, path);
      return runBulk(ctx, await readJsonBody(req, limits.bulkMaxPayloadBytes, bulkTooLarge, reserve));
    }
    if (method === 'GET') {
      if (first === 'serviceproviderconfig' && segs.length === 1) {
        return { status: 200, body: serviceProviderConfig(ctx.baseUrl, limits, opts.docsUrl) };
      }
      if (first === 'resourcetypes' && segs.length <= 2) {
        if (segs.length === 1) return { status: 200, body: listResponse((['User', 'Group'] as const).map((t) => resourceTypeDoc(service.registry, t, ctx.baseUrl))) };
        const id = decodeSegment(segs[1]);
        const t = (['User', 'Group'] as const).find((x) => x.toLowerCase() === id.toLowerCase());
        if (!t) throw ScimError.notFound(`No resource type ${id}; this gateway serves User and Group.`);
        return { status: 200, body: resourceTypeDoc(service.registry, t, ctx.baseUrl) };
      }
      if (first === 'schemas' && segs.length <= 2) {
        if (segs.length === 1) return { status: 200, body: listResponse(service.registry.schemas.map((s) => schemaDoc(s, ctx.baseUrl))) };
        const s = service.registry.schema(decodeSegment(segs[1]));
        if (!s) throw ScimError.notFound(`No schema ${decodeSegment(segs[1])}; GET /Schemas lists them.`);
        return { status: 200, body: schemaDoc(s, ctx.baseUrl) };
      }
    } else if (['serviceproviderconfig', 'resourcetypes', 'schemas'].includes(first)) {
      throw notAllowed(method, path);
    }
    throw ScimError.notFound(`There is no SCIM endpoint ${method} ${path}. ${ENDPOINTS}`);
  }

  return (req, res) => {
    const started = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const fullPath = q === -1 ? url : url.slice(0, q);
    const path = fullPath.slice(SCIM_PREFIX.length) || '/';
    const rawQuery = q === -1 ? '' : url.slice(q + 1);
    const done = (status: number, auth?: { connection: string; tokenId: string; tokenName?: string }, detail?: string) =>
      opts.onResponse?.({ method: req.method ?? '', path, status, ms: performance.now() - started, connection: auth?.connection, tokenId: auth?.tokenId, tokenName: auth?.tokenName, detail });

    const ip = opts.clientIp ? opts.clientIp(req) : (req.socket.remoteAddress ?? '');
    const refuse = (r: { status: number; retryAfterSeconds?: number; detail: string }, auth?: { connection: string; tokenId: string; tokenName?: string }) => {
      req.resume();
      writeScimError(res, new ScimError(r.status, undefined, r.detail, r.retryAfterSeconds ? { 'Retry-After': String(r.retryAfterSeconds) } : {}));
      done(r.status, auth, r.detail);
    };
    const outside = opts.guard?.admit(ip);
    if (outside) return refuse(outside);
    // Authentication first: an unauthenticated client learns nothing, not even the limits.
    const auth = opts.auth.authenticate(req.headers.authorization);
    // The gateway cannot check tokens at all: no client is at fault, none is counted for lockout.
    if (!auth.ok && auth.status === 503) return refuse({ status: 503, detail: auth.detail, ...(auth.retryAfterSeconds ? { retryAfterSeconds: auth.retryAfterSeconds } : {}) });
    if (!auth.ok) {
      const locked = opts.guard?.failed(ip);
      if (locked) return refuse(locked);
      req.resume();
      writeScimError(res, new ScimError(401, undefined, auth.detail, { 'WWW-Authenticate': 'Bearer realm="SCIM Bridge", error="invalid_token"' }));
      done(401, undefined, auth.detail);
      return;
    }
    const limited = opts.guard?.rate(auth.tokenId, ip);
    if (limited) return refuse(limited, auth);
    const admitted = opts.inFlight?.admit(auth.tokenId);
    if (admitted && 'status' in admitted) return refuse(admitted, auth);
    // 'close' follows every answer, and a client gone mid-request: the slot and bytes always come back.
    if (admitted) res.once('close', () => admitted.release());
    const reserve: ReserveBody = (bytes) => {
      const r = admitted?.reserveBody(bytes);
      // Connection: close, as for 413: the rest of the body is not worth reading.
      return r && new ScimError(r.status, undefined, r.detail, { 'Retry-After': String(r.retryAfterSeconds), Connection: 'close' });
    };
    const actor = { kind: 'scim-token' as const, id: auth.tokenId, ...(auth.tokenName ? { name: auth.tokenName } : {}) };
    const ctx: OperationContext = { connection: auth.connection, actor, baseUrl: opts.baseUrl(req), service, limits };
    dispatch(req, ctx, path, rawQuery, reserve).then(
      (r) => {
        writeResponse(res, r);
        done(r.status, auth);
      },
      (err: unknown) => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        const e = toScimError(err, opts.logger);
        writeScimError(res, e);
        done(e.status, auth, e.detail);
      },
    );
  };
}

/** Maps any thrown value to a ScimError; only unexpected errors are logged (as 500s). */
export function toScimError(err: unknown, logger: { error(o: object, msg?: string): void }): ScimError {
  if (err instanceof ScimError) return err;
  logger.error({ err }, 'unexpected error in a SCIM request');
  return new ScimError(500, undefined, 'Internal error. The gateway log has the details.');
}
