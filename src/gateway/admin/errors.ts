/**
 * The admin API's one error type and the one place that renders errors: `{ error: { code,
 * message, field? } }` with the matching status. Unexpected errors are logged and answered with
 * a generic 500 that carries no internals.
 */
import type { ErrorRequestHandler, Request } from 'express';
import { z } from 'zod';
import type { ApiErrorBody } from './api-types.js';

export class AdminError extends Error {
  override name = 'AdminError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  static invalid(message: string, field?: string): AdminError {
    return new AdminError(400, 'invalid', message, field);
  }
  static notFound(message: string): AdminError {
    return new AdminError(404, 'not_found', message);
  }
  static conflict(message: string): AdminError {
    return new AdminError(409, 'conflict', message);
  }
  static notAvailable(message: string): AdminError {
    return new AdminError(501, 'not_available', message);
  }
}

/** Parses a request body with a zod schema; the first issue becomes a 400 naming the field. */
export function parseBody<T>(schema: z.ZodType<T>, req: Request): T {
  const result = schema.safeParse(req.body ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue.path.map(String).join('.');
  throw AdminError.invalid(field ? `${field}: ${issue.message}` : issue.message, field || undefined);
}

/** Parses query parameters the same way. */
export function parseQuery<T>(schema: z.ZodType<T>, req: Request): T {
  const result = schema.safeParse(req.query ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue.path.map(String).join('.');
  throw AdminError.invalid(field ? `Query parameter ${field}: ${issue.message}` : issue.message, field || undefined);
}

export function errorBody(code: string, message: string, field?: string): ApiErrorBody {
  return { error: { code, message, ...(field ? { field } : {}) } };
}

/** Errors from other layers that carry an HTTP status of their own (the connection registry's). */
function statusOf(err: unknown): number | undefined {
  const s = (err as { status?: unknown })?.status;
  return typeof s === 'number' && s >= 400 && s < 500 ? s : undefined;
}

export function adminErrorHandler(logger: { error(o: object, msg?: string): void }): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof AdminError) {
      res.status(err.status).set(err.headers).json(errorBody(err.code, err.message, err.field));
      return;
    }
    // express.json(): malformed JSON or a body over the limit.
    const type = (err as { type?: unknown })?.type;
    if (type === 'entity.parse.failed') {
      res.status(400).json(errorBody('invalid', 'The request body is not valid JSON.'));
      return;
    }
    if (type === 'entity.too.large') {
      res.status(413).json(errorBody('too_large', 'The request body is too large.'));
      return;
    }
    const status = statusOf(err);
    if (status) {
      const code = status === 404 ? 'not_found' : status === 409 ? 'conflict' : 'invalid';
      const field = (err as { field?: unknown }).field;
      res.status(status).json(errorBody(code, (err as Error).message, typeof field === 'string' ? field : undefined));
      return;
    }
    logger.error({ err, method: req.method, path: req.path }, 'admin API request failed');
    res.status(500).json(errorBody('internal', 'The gateway could not complete this request; its log has the details.'));
  };
}
