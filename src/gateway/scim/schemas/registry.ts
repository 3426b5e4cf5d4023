/**
 * The schemas one gateway serves: built-in ones plus custom extensions from configuration.
 * Gives each resource type an AttributeResolver (case-insensitive names, RFC7643 §2.1).
 */
import type { AttributeDef, AttributeResolver, ResolvedAttribute } from './attribute.js';
import {
  COMMON_ATTRIBUTES,
  RESOURCE_TYPES,
  SCHEMAS,
  type ResourceTypeDef,
  type SchemaDef,
} from './definitions.js';

export interface SchemaRegistry {
  schemas: SchemaDef[];
  resourceTypes: ResourceTypeDef[];
  schema(id: string): SchemaDef | undefined;
  resourceType(type: 'User' | 'Group'): ResourceTypeDef;
  resolver(type: 'User' | 'Group'): AttributeResolver;
  /** Lower-cased extension URN -> canonical URN for the type (to recognise extension keys in bodies). */
  extensionUrns(type: 'User' | 'Group'): Map<string, string>;
}

/** A custom extension declared in configuration. */
export interface CustomExtension {
  id: string;
  name: string;
  description?: string;
  resourceType: 'User' | 'Group';
  attributes: AttributeDef[];
}

interface Scope {
  extension?: string;
  byName: Map<string, AttributeDef>;
}

function indexAttributes(attrs: AttributeDef[]): Map<string, AttributeDef> {
  return new Map(attrs.map((a) => [a.name.toLowerCase(), a]));
}

function findSub(def: AttributeDef, name: string): AttributeDef | undefined {
  const lower = name.toLowerCase();
  return def.subAttributes?.find((s) => s.name.toLowerCase() === lower);
}

function createResolver(core: Scope, extensions: Map<string, Scope>): AttributeResolver {
  const cache = new Map<string, ResolvedAttribute | null>();
  const build = (scope: Scope, attr: string, subAttr?: string): ResolvedAttribute | undefined => {
    const def = scope.byName.get(attr.toLowerCase());
    if (!def) return undefined;
    const resolved: ResolvedAttribute = { extension: scope.extension, canonical: def.name, def };
    if (subAttr !== undefined) {
      const sub = findSub(def, subAttr);
      if (!sub) return undefined;
      resolved.sub = { canonical: sub.name, def: sub };
    }
    return resolved;
  };
  return {
    resolve(schema, attr, subAttr) {
      const key = `${schema ?? ''}\u0000${attr}\u0000${subAttr ?? ''}`.toLowerCase();
      const hit = cache.get(key);
      if (hit !== undefined) return hit ?? undefined;
      let result: ResolvedAttribute | undefined;
      if (schema === undefined || schema.toLowerCase() === core.extension) {
        result = build(core, attr, subAttr);
      } else {
        const scope = extensions.get(schema.toLowerCase());
        result = scope ? build(scope, attr, subAttr) : undefined;
      }
      if (cache.size < 10_000) cache.set(key, result ?? null);
      return result;
    },
    resolveSub(parent, subAttr) {
      const sub = findSub(parent.def, subAttr);
      return sub ? { canonical: sub.name, def: sub } : undefined;
    },
  };
}

/** Builds the registry; custom extensions are validated by the config schema before they get here. */
export function createSchemaRegistry(custom: CustomExtension[] = []): SchemaRegistry {
  const schemas = new Map<string, SchemaDef>(Object.values(SCHEMAS).map((s) => [s.id, s]));
  const resourceTypes: Record<'User' | 'Group', ResourceTypeDef> = {
    User: { ...RESOURCE_TYPES.User, extensions: [...RESOURCE_TYPES.User.extensions] },
    Group: { ...RESOURCE_TYPES.Group, extensions: [...RESOURCE_TYPES.Group.extensions] },
  };
  for (const ext of custom) {
    if (schemas.has(ext.id)) throw new Error(`Custom extension ${ext.id} clashes with a built-in schema`);
    schemas.set(ext.id, { id: ext.id, name: ext.name, description: ext.description ?? ext.name, attributes: ext.attributes });
    resourceTypes[ext.resourceType].extensions.push({ schema: ext.id, required: false });
  }

  const resolvers = new Map<'User' | 'Group', AttributeResolver>();
  const urns = new Map<'User' | 'Group', Map<string, string>>();
  for (const type of ['User', 'Group'] as const) {
    const rt = resourceTypes[type];
    const coreSchema = schemas.get(rt.schema)!;
    const core: Scope = {
      // core-qualified names (`urn:…:core:2.0:User:userName`) resolve to top-level attributes
      extension: undefined,
      byName: indexAttributes([...COMMON_ATTRIBUTES, ...coreSchema.attributes]),
    };
    const coreLower = rt.schema.toLowerCase();
    const extScopes = new Map<string, Scope>();
    const extUrns = new Map<string, string>();
    for (const e of rt.extensions) {
      const s = schemas.get(e.schema)!;
      extScopes.set(e.schema.toLowerCase(), { extension: e.schema, byName: indexAttributes(s.attributes) });
      extUrns.set(e.schema.toLowerCase(), e.schema);
    }
    const resolver = createResolver(core, extScopes);
    // The core URN is a qualifier for top-level names, not an extension location.
    resolvers.set(type, {
      resolve: (schema, attr, sub) =>
        resolver.resolve(schema !== undefined && schema.toLowerCase() === coreLower ? undefined : schema, attr, sub),
      resolveSub: resolver.resolveSub,
    });
    urns.set(type, extUrns);
  }

  return {
    schemas: [...schemas.values()],
    resourceTypes: [resourceTypes.User, resourceTypes.Group],
    schema: (id) => schemas.get(id) ?? [...schemas.values()].find((s) => s.id.toLowerCase() === id.toLowerCase()),
    resourceType: (type) => resourceTypes[type],
    resolver: (type) => resolvers.get(type)!,
    extensionUrns: (type) => urns.get(type)!,
  };
}
