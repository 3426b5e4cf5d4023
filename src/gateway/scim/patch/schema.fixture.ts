/**
 * Test-only schema for the PATCH engine tests: a subset of User (with the enterprise extension) and
 * Group, behind a small AttributeResolver. Kept independent of schemas/registry.ts so that these
 * tests pin the engine's behaviour, not the product's schema.
 */
import type { AttributeDef, AttributeResolver, ResolvedAttribute } from '../schemas/attribute.js';
import type { PatchContext, PatchLimits } from './types.js';

export const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const CORE_USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const CORE_GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

type Opts = Partial<Omit<AttributeDef, 'name' | 'type'>>;

function a(name: string, type: AttributeDef['type'], opts: Opts = {}): AttributeDef {
  return {
    name,
    type,
    multiValued: false,
    description: name,
    required: false,
    caseExact: false,
    mutability: 'readWrite',
    returned: 'default',
    uniqueness: 'none',
    ...opts,
  };
}

const s = (name: string, opts: Opts = {}): AttributeDef => a(name, 'string', opts);

const common: AttributeDef[] = [
  s('id', { mutability: 'readOnly', caseExact: true }),
  s('externalId', { caseExact: true }),
  a('meta', 'complex', { mutability: 'readOnly', subAttributes: [s('resourceType'), s('version')] }),
];

const user: AttributeDef[] = [
  s('userName', { required: true }),
  a('name', 'complex', { subAttributes: [s('givenName'), s('familyName'), s('formatted')] }),
  s('displayName'),
  a('active', 'boolean'),
  s('password', { mutability: 'writeOnly' }),
  s('employeeCode', { mutability: 'immutable' }),
  a('badge', 'complex', { subAttributes: [s('serial', { mutability: 'immutable' }), s('color')] }),
  a('emails', 'complex', { multiValued: true, subAttributes: [s('value'), s('type'), a('primary', 'boolean')] }),
  a('phoneNumbers', 'complex', { multiValued: true, subAttributes: [s('value'), s('type')] }),
  a('addresses', 'complex', {
    multiValued: true,
    subAttributes: [s('type'), s('postalCode'), s('streetAddress'), s('locality')],
  }),
  a('groups', 'complex', {
    multiValued: true,
    mutability: 'readOnly',
    subAttributes: [s('value', { mutability: 'readOnly' }), s('display', { mutability: 'readOnly' })],
  }),
];

const enterprise: AttributeDef[] = [
  s('employeeNumber'),
  s('department'),
  a('manager', 'complex', { subAttributes: [s('value', { caseExact: true }), s('displayName'), a('$ref', 'reference')] }),
];

const group: AttributeDef[] = [
  s('displayName', { required: true }),
  a('members', 'complex', {
    multiValued: true,
    subAttributes: [s('value', { caseExact: true }), s('display'), s('type'), a('$ref', 'reference')],
  }),
];

function makeResolver(core: AttributeDef[], coreUrn: string, extensions: Record<string, AttributeDef[]>): AttributeResolver {
  const find = (list: AttributeDef[], name: string) => list.find((d) => d.name.toLowerCase() === name.toLowerCase());
  return {
    resolve(schema, attr, subAttr) {
      let list: AttributeDef[] | undefined;
      let extension: string | undefined;
      if (schema === undefined || schema.toLowerCase() === coreUrn.toLowerCase()) list = [...common, ...core];
      else {
        const urn = Object.keys(extensions).find((u) => u.toLowerCase() === schema.toLowerCase());
        if (urn) (list = extensions[urn]), (extension = urn);
      }
      const def = list && find(list, attr);
      if (!def) return undefined;
      const out: ResolvedAttribute = { extension, canonical: def.name, def };
      if (subAttr !== undefined) {
        const sub = def.subAttributes && find(def.subAttributes, subAttr);
        if (!sub) return undefined;
        out.sub = { canonical: sub.name, def: sub };
      }
      return out;
    },
    resolveSub(parent, subAttr) {
      const sub = parent.def.subAttributes && find(parent.def.subAttributes, subAttr);
      return sub ? { canonical: sub.name, def: sub } : undefined;
    },
  };
}

export const userResolver = makeResolver(user, CORE_USER, { [ENTERPRISE]: enterprise });
export const groupResolver = makeResolver(group, CORE_GROUP, {});

export const LIMITS: PatchLimits = { maxOperations: 50, maxMembersPerRequest: 1000 };

export function userCtx(id = 'u1', limits: PatchLimits = LIMITS): PatchContext {
  return { type: 'User', resolver: userResolver, id, limits };
}

export function groupCtx(id = 'g1', limits: PatchLimits = LIMITS): PatchContext {
  return { type: 'Group', resolver: groupResolver, id, limits };
}

/** A PatchOp request body. */
export function body(...ops: unknown[]): Record<string, unknown> {
  return { schemas: [PATCH_SCHEMA], Operations: ops };
}
