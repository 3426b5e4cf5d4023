/** Attribute characteristics, as RFC7643 §7 describes them in /Schemas. */
export interface AttributeDef {
  name: string;
  type: 'string' | 'boolean' | 'decimal' | 'integer' | 'dateTime' | 'reference' | 'complex' | 'binary';
  multiValued: boolean;
  description: string;
  required: boolean;
  caseExact: boolean;
  mutability: 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
  returned: 'always' | 'never' | 'default' | 'request';
  uniqueness: 'none' | 'server' | 'global';
  subAttributes?: AttributeDef[];
  canonicalValues?: string[];
  referenceTypes?: string[];
}

/**
 * Where an attribute named in a filter, a PATCH path or `attributes=` lives in a resource's
 * JSON, with its characteristics. Names are matched case-insensitively (RFC7643 §2.1);
 * `canonical` is the spelling the resource JSON uses.
 */
export interface ResolvedAttribute {
  /** URN of the extension the attribute lives under, or undefined for core (top-level) attributes. */
  extension?: string;
  /** Canonical name of the top-level attribute (e.g. `emails`, `employeeNumber`). */
  canonical: string;
  def: AttributeDef;
  /** Set when a sub-attribute was named (e.g. `name.givenName`, `emails.value`). */
  sub?: { canonical: string; def: AttributeDef };
}

/** Resolves attribute names for one resource type (User or Group), core and extensions. */
export interface AttributeResolver {
  /**
   * @param schema  URN prefix given in the name (`urn:...:enterprise:2.0:User`), if any
   * @param attr    top-level attribute name as written
   * @param subAttr sub-attribute name as written, if any
   * @returns undefined when the resource type has no such attribute
   */
  resolve(schema: string | undefined, attr: string, subAttr?: string): ResolvedAttribute | undefined;
  /** Sub-attribute lookup inside a complex attribute (used inside value filters `emails[type eq "work"]`). */
  resolveSub(parent: ResolvedAttribute, subAttr: string): { canonical: string; def: AttributeDef } | undefined;
}
