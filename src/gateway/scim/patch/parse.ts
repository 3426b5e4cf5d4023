/** Validation of a PatchOp request body (RFC7644 §3.5.2), lenient where IdPs deviate. */
import { parsePath } from '../filter/index.js';
import type { AttrPath } from '../filter/ast.js';
import { ScimError } from '../errors.js';
import { copyJson, findKey, getCI, isForbiddenKey, isPlainObject } from './json.js';
import { isExoticMemberPath, memberCount, planOp, tooManyMembers } from './plan.js';
import { PATCH_OP_SCHEMA, type PatchContext, type PatchOp } from './types.js';
import { assertScim2Schemas } from '../schemas/definitions.js';

function parseOperation(raw: unknown, where: string): PatchOp {
  if (!isPlainObject(raw)) throw ScimError.invalidSyntax(`${where} must be an object with "op" and a "path" and/or "value".`);
  // Member names are compared case-insensitively: `Op`, `Path` and `Value` are seen in the wild.
  const opRaw = getCI(raw, 'op');
  if (typeof opRaw !== 'string') throw ScimError.invalidSyntax(`${where} has no "op"; it must be "add", "replace" or "remove".`);
  // Entra sends `Add`, `Replace`, `Remove` (docs/idp/wire-behaviour.md).
  const op = opRaw.trim().toLowerCase();
  if (op !== 'add' && op !== 'replace' && op !== 'remove') {
    throw ScimError.invalidSyntax(
      `${where}.op ${JSON.stringify(opRaw.length > 40 ? opRaw.slice(0, 40) + '…' : opRaw)} is not supported; use "add", "replace" or "remove" (RFC7644 §3.5.2).`,
    );
  }

  let path: AttrPath | undefined;
  let pathText: string | undefined;
  const pathRaw = getCI(raw, 'path');
  if (pathRaw !== undefined && pathRaw !== null) {
    if (typeof pathRaw !== 'string') throw ScimError.invalidPath(`${where}.path must be a string such as "name.givenName".`);
    if (pathRaw.trim() !== '') {
      pathText = pathRaw.trim();
      try {
        path = parsePath(pathText);
      } catch (e) {
        if (e instanceof ScimError) throw ScimError.invalidPath(`${where}.path ${JSON.stringify(pathText.slice(0, 200))}: ${e.message}`);
        throw e;
      }
    }
  }

  const valueKey = findKey(raw, 'value');
  const hasValue = valueKey !== undefined && raw[valueKey] !== undefined;
  if (path === undefined && op === 'remove') {
    throw ScimError.noTarget(`${where}: "remove" needs a "path" naming what to remove (RFC7644 §3.5.2.2).`);
  }
  if (op !== 'remove' && !hasValue) {
    throw ScimError.invalidSyntax(`${where}: "${op}" needs a "value" (RFC7644 §3.5.2.1, §3.5.2.3).`);
  }
  const out: PatchOp = { op };
  if (path !== undefined) {
    out.path = path;
    out.pathText = pathText;
  }
  if (hasValue) out.value = copyJson(raw[valueKey!], `${where}.value`);
  return out;
}

/** Validates a PatchOp request body (RFC7644 §3.5.2); throws ScimError. */
export function parsePatchRequest(body: unknown, ctx: PatchContext): PatchOp[] {
  if (!isPlainObject(body)) {
    throw ScimError.invalidSyntax('The PATCH body must be a JSON object with "schemas" and "Operations" (RFC7644 §3.5.2).');
  }
  for (const k of Object.keys(body)) if (isForbiddenKey(k)) throw ScimError.invalidValue(`The key "${k}" is not allowed in a request body.`);
  const schemas = getCI(body, 'schemas');
  assertScim2Schemas(schemas);
  const wanted = PATCH_OP_SCHEMA.toLowerCase();
  if (!Array.isArray(schemas) || !schemas.some((s) => typeof s === 'string' && s.trim().toLowerCase() === wanted)) {
    throw ScimError.invalidSyntax(`"schemas" must be ["${PATCH_OP_SCHEMA}"] (RFC7644 §3.5.2).`);
  }
  // `Operations` per RFC7644 §3.5.2; some clients write `operations`.
  const rawOps = getCI(body, 'Operations');
  if (!Array.isArray(rawOps) || rawOps.length === 0) {
    throw ScimError.invalidSyntax('"Operations" must be a non-empty array of operations (RFC7644 §3.5.2).');
  }
  if (rawOps.length > ctx.limits.maxOperations) {
    throw ScimError.tooMany(
      `The request has ${rawOps.length} operations; at most ${ctx.limits.maxOperations} are allowed in one PATCH (maxOperations).`,
    );
  }
  const ops = rawOps.map((raw, i) => parseOperation(raw, `Operations[${i}]`));

  // Resolve every attribute now, so that a bad request fails before the caller reads anything.
  let members = 0;
  ops.forEach((op, i) => {
    for (const step of planOp(op, ctx, `Operations[${i}]`, false)) members += memberCount(step);
  });
  if (members > ctx.limits.maxMembersPerRequest) throw tooManyMembers(members, ctx.limits.maxMembersPerRequest);
  return ops;
}

/** True when some op needs the group's current member list (a member filter other than `value eq "x"`). */
export function needsMemberList(ops: PatchOp[]): boolean {
  for (const op of ops) {
    if (op.path) {
      if (isExoticMemberPath(op.path)) return true;
      continue;
    }
    if (!isPlainObject(op.value)) continue;
    // A no-path value may name `members[...]` as a key (keys are paths, as Entra's dotted keys are).
    for (const key of Object.keys(op.value)) {
      if (!/^members\s*[[.]/i.test(key)) continue;
      try {
        if (isExoticMemberPath(parsePath(key))) return true;
      } catch {
        // An unparsable key fails later in applyPatch with its own error.
      }
    }
  }
  return false;
}
