/**
 * Schema definitions served at /Schemas and used everywhere attributes are resolved:
 * core User and Group (RFC7643 §4, §8.7.1), the enterprise extension (RFC7643 §4.3) and the
 * product's own extension (role, userType).
 */
import type { AttributeDef } from './attribute.js';
import { ScimError } from '../errors.js';

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE_USER_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const BRIDGE_USER_SCHEMA = 'urn:ietf:params:scim:schemas:extension:scimbridge:2.0:User';
/** Entra ID adds this to group POSTs; accepted and ignored (docs/idp/wire-behaviour.md). */
export const ENTRA_GROUP_SCHEMA = 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group';

export interface SchemaDef {
  id: string;
  name: string;
  description: string;
  attributes: AttributeDef[];
}

type Opts = Partial<Omit<AttributeDef, 'name' | 'type'>>;

function attr(name: string, type: AttributeDef['type'], description: string, opts: Opts = {}): AttributeDef {
  return {
    name,
    type,
    multiValued: false,
    description,
    required: false,
    caseExact: false,
    mutability: 'readWrite',
    returned: 'default',
    uniqueness: 'none',
    ...opts,
  };
}

const str = (name: string, description: string, opts: Opts = {}) => attr(name, 'string', description, opts);

function multiComplex(name: string, description: string, subs: AttributeDef[], opts: Opts = {}): AttributeDef {
  return attr(name, 'complex', description, { multiValued: true, subAttributes: subs, ...opts });
}

const typeSub = (values: string[]) => str('type', 'A label indicating the function of the value.', { canonicalValues: values });
const primarySub = attr('primary', 'boolean', 'Indicates the preferred value; at most one element may be primary.');
const displaySub = str('display', 'A human-readable name, primarily used for display purposes.');

const userAttributes: AttributeDef[] = [
  str('userName', 'Unique identifier for the user, used to sign in. Unique within the connection, compared case-insensitively.', {
    required: true,
    uniqueness: 'server',
  }),
  attr('name', 'complex', "The components of the user's real name.", {
    subAttributes: [
      str('formatted', 'The full name, formatted for display.'),
      str('familyName', 'The family name.'),
      str('givenName', 'The given name.'),
      str('middleName', 'The middle name(s).'),
      str('honorificPrefix', 'The honorific prefix(es), e.g. "Ms.".'),
      str('honorificSuffix', 'The honorific suffix(es), e.g. "III".'),
    ],
  }),
  str('displayName', 'The name of the user, suitable for display.'),
  str('nickName', 'The casual way to address the user.'),
  attr('profileUrl', 'reference', "A URI of the user's online profile.", { referenceTypes: ['external'] }),
  str('title', "The user's title, such as \"Vice President\"."),
  str('userType', 'The relationship between the organization and the user, e.g. Employee, Contractor.'),
  str('preferredLanguage', "The user's preferred written or spoken language (RFC7231 Accept-Language)."),
  str('locale', "The user's default location for localization, e.g. en-US."),
  str('timezone', "The user's time zone in IANA format, e.g. Europe/Paris."),
  attr('active', 'boolean', "The user's administrative status. false = deactivated (the record is kept)."),
  str('password', "The user's cleartext password, write-only: never returned.", { mutability: 'writeOnly', returned: 'never', caseExact: true }),
  multiComplex('emails', 'Email addresses for the user.', [
    str('value', 'Email address.'),
    displaySub,
    typeSub(['work', 'home', 'other']),
    primarySub,
  ]),
  multiComplex('phoneNumbers', 'Phone numbers for the user.', [
    str('value', 'Phone number.'),
    displaySub,
    typeSub(['work', 'home', 'mobile', 'fax', 'pager', 'other']),
    primarySub,
  ]),
  multiComplex('ims', 'Instant messaging addresses for the user.', [
    str('value', 'Instant messaging address.'),
    displaySub,
    typeSub(['aim', 'gtalk', 'icq', 'xmpp', 'msn', 'skype', 'qq', 'yahoo']),
    primarySub,
  ]),
  multiComplex('photos', 'URLs of photos of the user.', [
    attr('value', 'reference', 'URL of a photo of the user.', { referenceTypes: ['external'] }),
    displaySub,
    typeSub(['photo', 'thumbnail']),
    primarySub,
  ]),
  multiComplex('addresses', 'Physical mailing addresses for the user.', [
    str('formatted', 'The full mailing address, formatted for display.'),
    str('streetAddress', 'The full street address.'),
    str('locality', 'The city or locality.'),
    str('region', 'The state or region.'),
    str('postalCode', 'The zip code or postal code.'),
    str('country', 'The country name (ISO 3166-1 alpha-2).'),
    typeSub(['work', 'home', 'other']),
    primarySub,
  ]),
  multiComplex(
    'groups',
    'The groups the user belongs to, maintained through the Group resource. Read-only.',
    [
      str('value', 'The id of the group.', { mutability: 'readOnly' }),
      attr('$ref', 'reference', 'The URI of the group.', { mutability: 'readOnly', referenceTypes: ['Group'] }),
      str('display', 'The displayName of the group.', { mutability: 'readOnly' }),
      str('type', 'direct or indirect.', { mutability: 'readOnly', canonicalValues: ['direct', 'indirect'] }),
    ],
    { mutability: 'readOnly' },
  ),
  multiComplex('entitlements', 'Entitlements of the user.', [str('value', 'The entitlement.'), displaySub, str('type', 'Its type.'), primarySub]),
  multiComplex('roles', 'Roles of the user (free-form, as the IdP sends them).', [
    str('value', 'The role.'),
    displaySub,
    str('type', 'Its type.'),
    primarySub,
  ]),
  multiComplex('x509Certificates', 'X.509 certificates of the user.', [
    attr('value', 'binary', 'DER certificate, base64.'),
    displaySub,
    str('type', 'Its type.'),
    primarySub,
  ]),
];

const groupAttributes: AttributeDef[] = [
  str('displayName', 'A human-readable name for the group. Unique within the connection, compared case-insensitively.', {
    required: true,
    uniqueness: 'server',
  }),
  multiComplex(
    'members',
    'Members of the group. Large groups are returned only when asked (attributes=members).',
    [
      str('value', 'The id of the member (a User or Group of the same connection).', { mutability: 'immutable', caseExact: true }),
      attr('$ref', 'reference', 'The URI of the member.', { mutability: 'immutable', referenceTypes: ['User', 'Group'] }),
      str('display', 'The display name of the member.', { mutability: 'immutable' }),
      str('type', 'User or Group.', { mutability: 'immutable', canonicalValues: ['User', 'Group'] }),
    ],
    { returned: 'default' },
  ),
];

const enterpriseAttributes: AttributeDef[] = [
  str('employeeNumber', 'Numeric or alphanumeric identifier assigned to a person.'),
  str('costCenter', 'Name of a cost center.'),
  str('organization', 'Name of an organization.'),
  str('division', 'Name of a division.'),
  str('department', 'Name of a department.'),
  attr('manager', 'complex', "The user's manager. Entra ID may send a plain id string; it is stored as { value }.", {
    subAttributes: [
      str('value', 'The id of the manager.', { caseExact: true }),
      attr('$ref', 'reference', 'The URI of the manager.', { referenceTypes: ['User'] }),
      str('displayName', 'The displayName of the manager.', { mutability: 'readOnly' }),
    ],
  }),
];

const bridgeAttributes: AttributeDef[] = [
  str('role', 'The role the user has in the target systems (e.g. owner, admin, member). Set by the IdP, or by the connection policy when absent.'),
  str('userType', 'The kind of user for the target systems (e.g. Internal, External). Defaults from the connection policy.'),
  attr('deactivatedAt', 'dateTime', 'When the user was last deactivated (active set to false); absent while active.', {
    mutability: 'readOnly',
  }),
];

export const SCHEMAS: Record<string, SchemaDef> = {
  [USER_SCHEMA]: { id: USER_SCHEMA, name: 'User', description: 'User Account', attributes: userAttributes },
  [GROUP_SCHEMA]: { id: GROUP_SCHEMA, name: 'Group', description: 'Group', attributes: groupAttributes },
  [ENTERPRISE_USER_SCHEMA]: {
    id: ENTERPRISE_USER_SCHEMA,
    name: 'EnterpriseUser',
    description: 'Enterprise User',
    attributes: enterpriseAttributes,
  },
  [BRIDGE_USER_SCHEMA]: {
    id: BRIDGE_USER_SCHEMA,
    name: 'ScimBridgeUser',
    description: 'SCIM Bridge provisioning attributes: role and user type for the target systems.',
    attributes: bridgeAttributes,
  },
};

/** Attributes every resource has (RFC7643 §3.1), resolvable in filters, sorting and `attributes=`. */
export const COMMON_ATTRIBUTES: AttributeDef[] = [
  str('id', 'Unique identifier of the resource, assigned by the gateway.', {
    caseExact: true,
    mutability: 'readOnly',
    returned: 'always',
    uniqueness: 'server',
  }),
  str('externalId', "The client's identifier for the resource.", { caseExact: true }),
  attr('meta', 'complex', 'Resource metadata.', {
    mutability: 'readOnly',
    subAttributes: [
      str('resourceType', 'User or Group.', { caseExact: true, mutability: 'readOnly' }),
      attr('created', 'dateTime', 'When the resource was created.', { mutability: 'readOnly' }),
      attr('lastModified', 'dateTime', 'When the resource was last changed.', { mutability: 'readOnly' }),
      attr('location', 'reference', 'The URI of the resource.', { mutability: 'readOnly', referenceTypes: ['uri'] }),
      str('version', 'The version (ETag) of the resource.', { caseExact: true, mutability: 'readOnly' }),
    ],
  }),
];

export interface ResourceTypeDef {
  id: 'User' | 'Group';
  name: string;
  endpoint: string;
  description: string;
  schema: string;
  extensions: Array<{ schema: string; required: boolean }>;
}

export const RESOURCE_TYPES: Record<'User' | 'Group', ResourceTypeDef> = {
  User: {
    id: 'User',
    name: 'User',
    endpoint: '/Users',
    description: 'User Account',
    schema: USER_SCHEMA,
    extensions: [
      { schema: ENTERPRISE_USER_SCHEMA, required: false },
      { schema: BRIDGE_USER_SCHEMA, required: false },
    ],
  },
  Group: { id: 'Group', name: 'Group', endpoint: '/Groups', description: 'Group', schema: GROUP_SCHEMA, extensions: [] },
};

/**
 * SCIM 1.x clients send `urn:scim:schemas:core:1.0` (RFC7644 §3.12 invalidVers): say so plainly
 * instead of a generic schema error, so the admin knows to switch the IdP to SCIM 2.0.
 */
export function assertScim2Schemas(schemas: unknown): void {
  if (!Array.isArray(schemas)) return;
  const old = schemas.find((s) => typeof s === 'string' && /^urn:scim:schemas:/i.test(s.trim()));
  if (old !== undefined) {
    throw ScimError.invalidVers(`${old} is a SCIM 1.x schema; this gateway speaks SCIM 2.0 only. Configure the identity provider for SCIM 2.0 (base URL ending in /scim/v2).`);
  }
}
