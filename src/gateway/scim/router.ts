/**
 * The /scim/v2 express router: authentication, body parsing with limits, routes, and the one
 * place where errors become SCIM Error bodies (RFC7644 §3.12).
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
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
import type { ResourceType } from '../store/types.js';

export const SCIM_CONTENT_TYPE = 'application/scim+json; charset=utf-8';

/** What the router needs from authentication: the connection a request's token belongs to. */
export interface ScimAuthenticator {
  authenticate(authorization: string | undefined): { ok: true; connection: string; tokenId: string } | { ok: false; detail: string };
}

export interface ScimRouterOptions {
  service: ScimService;
  limits: Limits;
  auth: ScimAuthenticator;
  /** Base URL of /scim/v2 as clients reach it, e.g. https://bridge.example.com/scim/v2. */
  baseUrl: (req: Request) => string;
  docsUrl: string;
  logger: { error(o: object, msg?: string): void; warn(o: object, msg?: string): void };
  /** Called after each authenticated request with its outcome (status page, metrics). */
  onRequest?: (info: { connection: string; tokenId: string; method: string; path: string; status: number }) => void;
}

function send(res: Response, r: ScimResponse): void {
  if (r.headers) for (const [k, v] of Object.entries(r.headers)) res.setHeader(k, v);
  res.status(r.status);
  if (r.body === undefined) {
    res.end();
    return;
  }
  res.setHeader('Content-Type', SCIM_CONTENT_TYPE);
  res.send(JSON.stringify(r.body));
}

export function sendScimError(res: Response, err: ScimError): void {
  for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  res.status(err.status).setHeader('Content-Type', SCIM_CONTENT_TYPE);
  res.send(JSON.stringify(err.toBody()));
}

function singleQuery(req: Request, name: string): string | undefined {
  const v = (req.query as Record<string, unknown>)[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw ScimError.invalidValue(`Query parameter "${name}" must be given once, as a single value.`);
  return v;
}

function listParams(req: Request): ListParams {
  return {
    filter: singleQuery(req, 'filter'),
    startIndex: singleQuery(req, 'startIndex'),
    count: singleQuery(req, 'count'),
    sortBy: singleQuery(req, 'sortBy'),
    sortOrder: singleQuery(req, 'sortOrder'),
    attributes: singleQuery(req, 'attributes'),
    excludedAttributes: singleQuery(req, 'excludedAttributes'),
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

type Handler = (req: Request, ctx: OperationContext) => Promise<ScimResponse>;

export function createScimRouter(opts: ScimRouterOptions): Router {
  const router = express.Router({ caseSensitive: false, strict: false });
  const jsonTypes = ['application/json', 'application/scim+json', 'application/*+json'];
  const parseBody = express.json({ limit: opts.limits.maxBodyBytes, type: jsonTypes, strict: false });
  const parseBulk = express.json({ limit: Math.max(opts.limits.bulkMaxPayloadBytes, 1), type: jsonTypes, strict: false });

  // Authentication first: an unauthenticated client learns nothing, not even the limits.
  router.use((req, res, next) => {
    const result = opts.auth.authenticate(req.headers.authorization);
    if (!result.ok) {
      sendScimError(res, new ScimError(401, undefined, result.detail, { 'WWW-Authenticate': 'Bearer realm="SCIM Bridge", error="invalid_token"' }));
      return;
    }
    res.locals.connection = result.connection;
    res.locals.tokenId = result.tokenId;
    if (opts.onRequest) {
      res.on('finish', () =>
        opts.onRequest!({ connection: result.connection, tokenId: result.tokenId, method: req.method, path: req.path, status: res.statusCode }),
      );
    }
    next();
  });

  const wrap =
    (handler: Handler) =>
    async (req: Request, res: Response, next: NextFunction): Promise<void> => {
      try {
        const ctx: OperationContext = { connection: res.locals.connection as string, baseUrl: opts.baseUrl(req), service: opts.service, limits: opts.limits };
        send(res, await handler(req, ctx));
      } catch (err) {
        next(err);
      }
    };

  /** Methods that carry a body must carry a JSON one. */
  const requireBody = (req: Request): unknown => {
    if (req.body === undefined) {
      const type = req.headers['content-type'];
      throw ScimError.invalidSyntax(
        type
          ? `The body must be JSON sent as application/scim+json (or application/json); got Content-Type ${type}.`
          : 'The request needs a JSON body with Content-Type application/scim+json.',
      );
    }
    return req.body;
  };

  const header = (req: Request, name: string): string | undefined => {
    const v = req.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  };

  // Discovery
  router.get('/ServiceProviderConfig', wrap(async (_req, ctx) => ({ status: 200, body: serviceProviderConfig(ctx.baseUrl, ctx.limits, opts.docsUrl) })));
  router.get('/ResourceTypes', wrap(async (_req, ctx) => ({ status: 200, body: listResponse((['User', 'Group'] as const).map((t) => resourceTypeDoc(opts.service.registry, t, ctx.baseUrl))) })));
  router.get(
    '/ResourceTypes/:id',
    wrap(async (req, ctx) => {
      const id = String(req.params.id);
      const t = (['User', 'Group'] as const).find((x) => x.toLowerCase() === id.toLowerCase());
      if (!t) throw ScimError.notFound(`No resource type ${id}; this gateway serves User and Group.`);
      return { status: 200, body: resourceTypeDoc(opts.service.registry, t, ctx.baseUrl) };
    }),
  );
  router.get('/Schemas', wrap(async (_req, ctx) => ({ status: 200, body: listResponse(opts.service.registry.schemas.map((s) => schemaDoc(s, ctx.baseUrl))) })));
  router.get(
    '/Schemas/:id',
    wrap(async (req, ctx) => {
      const s = opts.service.registry.schema(String(req.params.id));
      if (!s) throw ScimError.notFound(`No schema ${req.params.id}; GET /Schemas lists them.`);
      return { status: 200, body: schemaDoc(s, ctx.baseUrl) };
    }),
  );

  // /Me: tokens identify an IdP, not a user (RFC7644 §3.11).
  router.all(['/Me', '/Me/*rest'], (_req, res) => {
    sendScimError(res, new ScimError(501, undefined, '/Me is not supported: SCIM Bridge tokens identify an identity provider, not a user. Use /Users/{id}.'));
  });

  router.post('/Bulk', parseBulk, wrap(async (req, ctx) => runBulk(ctx, requireBody(req))));

  for (const [segment, type] of [
    ['Users', 'User'],
    ['Groups', 'Group'],
  ] as Array<[string, ResourceType]>) {
    router.get(`/${segment}`, wrap(async (req, ctx) => listResources(ctx, type, listParams(req))));
    router.post(`/${segment}/.search`, parseBody, wrap(async (req, ctx) => listResources(ctx, type, searchParams(requireBody(req)))));
    router.post(`/${segment}`, parseBody, wrap(async (req, ctx) => createResource(ctx, type, requireBody(req), listParams(req))));
    router.get(`/${segment}/:id`, wrap(async (req, ctx) => getResource(ctx, type, String(req.params.id), listParams(req), header(req, 'if-none-match'))));
    router.put(
      `/${segment}/:id`,
      parseBody,
      wrap(async (req, ctx) => replaceResource(ctx, type, String(req.params.id), requireBody(req), header(req, 'if-match'), listParams(req))),
    );
    router.patch(
      `/${segment}/:id`,
      parseBody,
      wrap(async (req, ctx) => patchResource(ctx, type, String(req.params.id), requireBody(req), header(req, 'if-match'), listParams(req))),
    );
    router.delete(`/${segment}/:id`, wrap(async (req, ctx) => deleteResource(ctx, type, String(req.params.id), header(req, 'if-match'))));
    router.all([`/${segment}`, `/${segment}/:id`], (req, res) => {
      sendScimError(res, new ScimError(405, undefined, `${req.method} is not supported on ${req.path}.`));
    });
  }

  router.use((req, res) => {
    sendScimError(res, ScimError.notFound(`There is no SCIM endpoint ${req.method} ${req.path}. Endpoints: /Users, /Groups, /Bulk, /ServiceProviderConfig, /ResourceTypes, /Schemas.`));
  });

  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    sendScimError(res, toScimError(err, opts, req));
  });

  return router;
}

/** Maps any thrown value to a ScimError; only unexpected errors are logged (as 500s). */
export function toScimError(err: unknown, opts: Pick<ScimRouterOptions, 'logger' | 'limits'>, req?: Request): ScimError {
  if (err instanceof ScimError) return err;
  const e = err as { type?: string; status?: number; message?: string };
  if (e && typeof e === 'object' && typeof e.type === 'string') {
    switch (e.type) {
      case 'entity.too.large':
        return new ScimError(
          413,
          undefined,
          req?.path.toLowerCase().startsWith('/bulk')
            ? `The BulkRequest is larger than ${opts.limits.bulkMaxPayloadBytes} bytes (bulk.maxPayloadSize in /ServiceProviderConfig); split it.`
            : `The request body is larger than ${opts.limits.maxBodyBytes} bytes.`,
        );
      case 'entity.parse.failed':
        return ScimError.invalidSyntax(`The body is not valid JSON: ${e.message ?? 'parse error'}.`);
      case 'encoding.unsupported':
      case 'charset.unsupported':
        return new ScimError(415, undefined, 'The body must be UTF-8 JSON.');
      case 'request.aborted':
        return ScimError.invalidSyntax('The request body was cut off.');
      case 'request.size.invalid':
        return ScimError.invalidSyntax('The request body length does not match Content-Length.');
      default:
        if (e.status && e.status >= 400 && e.status < 500) return new ScimError(e.status, undefined, e.message ?? 'Bad request.');
    }
  }
  if (err instanceof URIError) return ScimError.invalidValue('The URL contains an invalid percent-encoding.');
  opts.logger.error({ err }, 'unexpected error in a SCIM request');
  return new ScimError(500, undefined, 'Internal error; the request was not applied. See the gateway log for details.');
}
