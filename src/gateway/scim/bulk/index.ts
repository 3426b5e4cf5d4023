/**
 * /Bulk (RFC7644 §3.7): operations run in order, each exactly as if sent alone; `bulkId:x`
 * references (in paths and anywhere in data) resolve to ids created earlier in the request;
 * failOnErrors stops after that many errors. Not atomic, as the RFC allows: each operation
 * that succeeds is committed and reported.
 */
import { z } from 'zod';
import { ScimError } from '../errors.js';
import { assertScim2Schemas } from '../schemas/definitions.js';
import {
  createResource,
  deleteResource,
  patchResource,
  replaceResource,
  type OperationContext,
  type ScimResponse,
} from '../operations.js';
import type { ResourceType } from '../../store/types.js';

export const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
export const BULK_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';

const operationSchema = z.object({
  method: z.string(),
  bulkId: z.string().min(1).max(200).optional(),
  version: z.string().optional(),
  path: z.string().min(1).max(2048),
  data: z.unknown().optional(),
});

const bulkSchema = z.object({
  schemas: z.array(z.string()),
  failOnErrors: z.number().int().min(1).optional(),
  Operations: z.array(z.unknown()),
});

interface BulkResult {
  method: string;
  bulkId?: string;
  version?: string;
  location?: string;
  status: string;
  response?: unknown;
}

const BULK_REF = /^bulkId:(.+)$/;

/** Replaces every string "bulkId:x" in data with the id created for x; unknown ids are an error. */
function resolveRefs(value: unknown, ids: Map<string, string>, depth = 0): unknown {
  if (depth > 64) throw ScimError.invalidValue('Bulk operation data is nested too deeply.');
  if (typeof value === 'string') {
    const m = BULK_REF.exec(value);
    if (!m) return value;
    const id = ids.get(m[1]);
    if (!id) throw ScimError.invalidValue(`"${value}" refers to no earlier successful POST in this bulk request (RFC7644 §3.7.2).`);
    return id;
  }
  if (Array.isArray(value)) return value.map((v) => resolveRefs(v, ids, depth + 1));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = resolveRefs(v, ids, depth + 1);
    return out;
  }
  return value;
}

function parsePath(path: string, ids: Map<string, string>): { type: ResourceType; id?: string } {
  const m = /^\/?(Users|Groups)(?:\/([^/?#]+))?$/i.exec(path);
  if (!m) throw ScimError.invalidPath(`Bulk path ${JSON.stringify(path)} must be /Users, /Groups, /Users/{id} or /Groups/{id}.`);
  const type: ResourceType = m[1].toLowerCase() === 'users' ? 'User' : 'Group';
  let id = m[2] !== undefined ? decodeURIComponent(m[2]) : undefined;
  if (id !== undefined) id = resolveRefs(id, ids) as string;
  return { type, id };
}

function errorResult(method: string, bulkId: string | undefined, err: ScimError): BulkResult {
  return { method, ...(bulkId ? { bulkId } : {}), status: String(err.status), response: err.toBody() };
}

/** Runs a BulkRequest body; throws ScimError for a malformed or over-limit request as a whole. */
export async function runBulk(ctx: OperationContext, body: unknown): Promise<ScimResponse> {
  assertScim2Schemas((body as { schemas?: unknown } | null)?.schemas);
  const parsed = bulkSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw ScimError.invalidSyntax(`Invalid BulkRequest at "${issue.path.join('.') || '(body)'}": ${issue.message}.`);
  }
  if (!parsed.data.schemas.includes(BULK_REQUEST)) throw ScimError.invalidSyntax(`A BulkRequest must list the schema ${BULK_REQUEST}.`);
  const ops = parsed.data.Operations;
  if (ops.length > ctx.limits.bulkMaxOperations) {
    throw ScimError.tooMany(
      `The BulkRequest has ${ops.length} operations; at most ${ctx.limits.bulkMaxOperations} are allowed (see bulk.maxOperations in /ServiceProviderConfig).`,
      413,
    );
  }
  const failOnErrors = parsed.data.failOnErrors;
  const ids = new Map<string, string>();
  const seenBulkIds = new Set<string>();
  const results: BulkResult[] = [];
  let errors = 0;

  for (const raw of ops) {
    if (failOnErrors !== undefined && errors >= failOnErrors) break;
    const opParse = operationSchema.safeParse(raw);
    if (!opParse.success) {
      errors++;
      const issue = opParse.error.issues[0];
      results.push(errorResult(String((raw as { method?: unknown })?.method ?? ''), undefined, ScimError.invalidSyntax(`Invalid bulk operation at "${issue.path.join('.')}": ${issue.message}.`)));
      continue;
    }
    const op = opParse.data;
    const method = op.method.toUpperCase();
    try {
      if (op.bulkId !== undefined) {
        if (seenBulkIds.has(op.bulkId)) throw ScimError.invalidValue(`bulkId ${JSON.stringify(op.bulkId)} is used twice in this request.`);
        seenBulkIds.add(op.bulkId);
      }
      const { type, id } = parsePath(op.path, ids);
      const data = op.data === undefined ? undefined : resolveRefs(op.data, ids);
      let res: ScimResponse;
      if (method === 'POST') {
        if (id !== undefined) throw ScimError.invalidPath(`POST goes to /Users or /Groups, not ${op.path}.`);
        if (op.bulkId === undefined) throw ScimError.invalidSyntax('A bulk POST needs a bulkId (RFC7644 §3.7).');
        res = await createResource(ctx, type, data);
      } else {
        if (id === undefined) throw ScimError.invalidPath(`${method} needs a resource path such as /${type}s/{id}.`);
        if (method === 'PUT') res = await replaceResource(ctx, type, id, data, op.version);
        else if (method === 'PATCH') res = await patchResource(ctx, type, id, data, op.version, { attributes: 'id' });
        else if (method === 'DELETE') res = await deleteResource(ctx, type, id, op.version);
        else throw ScimError.invalidSyntax(`Unsupported bulk method ${JSON.stringify(op.method)}: use POST, PUT, PATCH or DELETE.`);
      }
      const result: BulkResult = { method, status: String(res.status) };
      if (op.bulkId !== undefined) result.bulkId = op.bulkId;
      if (res.headers?.ETag) result.version = res.headers.ETag;
      const resId = (res.body as { id?: string } | undefined)?.id ?? id;
      if (method === 'POST' && resId && op.bulkId !== undefined) ids.set(op.bulkId, resId);
      if (method !== 'DELETE' && resId) result.location = `${ctx.baseUrl}/${type === 'User' ? 'Users' : 'Groups'}/${encodeURIComponent(resId)}`;
      results.push(result);
    } catch (err) {
      if (!(err instanceof ScimError)) throw err;
      errors++;
      results.push(errorResult(method, op.bulkId, err));
    }
  }
  return { status: 200, body: { schemas: [BULK_RESPONSE], Operations: results } };
}
