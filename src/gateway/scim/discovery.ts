/**
 * Discovery documents (RFC7644 §4): /ServiceProviderConfig, /ResourceTypes, /Schemas. They say
 * exactly what this gateway supports, limits included, so IdPs and the Entra validator can
 * build their mappings from them.
 */
import type { AttributeDef } from './schemas/attribute.js';
import type { SchemaDef } from './schemas/definitions.js';
import type { SchemaRegistry } from './schemas/registry.js';
import type { Limits } from '../config.js';

export const LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const SPC_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig';
const RT_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ResourceType';
const SCHEMA_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Schema';
/** The product's own limits that RFC7643 has no field for. */
export const BRIDGE_SPC_SCHEMA = 'urn:ietf:params:scim:schemas:extension:scimbridge:2.0:ServiceProviderConfig';

export function serviceProviderConfig(baseUrl: string, limits: Limits, docsUrl: string): Record<string, unknown> {
  return {
    schemas: [SPC_SCHEMA, BRIDGE_SPC_SCHEMA],
    documentationUri: docsUrl,
    patch: { supported: true },
    bulk: { supported: true, maxOperations: limits.bulkMaxOperations, maxPayloadSize: limits.bulkMaxPayloadBytes },
    filter: { supported: true, maxResults: limits.maxResults },
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'Bearer token',
        description: 'A scb_ token created with `scim-bridge token create` or in the console, sent as "Authorization: Bearer <token>".',
        specUri: 'https://www.rfc-editor.org/rfc/rfc6750',
        primary: true,
      },
    ],
    [BRIDGE_SPC_SCHEMA]: {
      me: { supported: false, reason: 'Tokens identify an identity provider, not a user (RFC7644 §3.11): /Me answers 501.' },
      maxBodyBytes: limits.maxBodyBytes,
      filterMaxLength: limits.filterMaxLength,
      filterMaxDepth: limits.filterMaxDepth,
      patchMaxOperations: limits.patchMaxOperations,
      patchMaxMembers: limits.patchMaxMembers,
      maxAttributes: limits.maxAttributes,
    },
    meta: { resourceType: 'ServiceProviderConfig', location: `${baseUrl}/ServiceProviderConfig` },
  };
}

export function resourceTypeDoc(registry: SchemaRegistry, type: 'User' | 'Group', baseUrl: string): Record<string, unknown> {
  const rt = registry.resourceType(type);
  return {
    schemas: [RT_SCHEMA],
    id: rt.id,
    name: rt.name,
    endpoint: rt.endpoint,
    description: rt.description,
    schema: rt.schema,
    schemaExtensions: rt.extensions.map((e) => ({ schema: e.schema, required: e.required })),
    meta: { resourceType: 'ResourceType', location: `${baseUrl}/ResourceTypes/${rt.id}` },
  };
}

/** Attribute definitions without undefined/null fields (Entra rejects nulls in /Schemas). */
function attributeDoc(a: AttributeDef): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: a.name,
    type: a.type,
    multiValued: a.multiValued,
    description: a.description,
    required: a.required,
    caseExact: a.caseExact,
    mutability: a.mutability,
    returned: a.returned,
    uniqueness: a.uniqueness,
  };
  if (a.canonicalValues) out.canonicalValues = a.canonicalValues;
  if (a.referenceTypes) out.referenceTypes = a.referenceTypes;
  if (a.subAttributes) out.subAttributes = a.subAttributes.map(attributeDoc);
  return out;
}

export function schemaDoc(s: SchemaDef, baseUrl: string): Record<string, unknown> {
  return {
    schemas: [SCHEMA_SCHEMA],
    id: s.id,
    name: s.name,
    description: s.description,
    attributes: s.attributes.map(attributeDoc),
    meta: { resourceType: 'Schema', location: `${baseUrl}/Schemas/${s.id}` },
  };
}

export function listResponse(resources: unknown[], totalResults = resources.length, startIndex = 1): Record<string, unknown> {
  return { schemas: [LIST_RESPONSE], totalResults, startIndex, itemsPerPage: resources.length, Resources: resources };
}
