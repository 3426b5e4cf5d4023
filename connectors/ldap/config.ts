/**
 * The ldap connector's configuration: the zod schema the console and the gateway validate, and
 * the profile defaults (OpenLDAP, Active Directory) resolved into one settled shape at init.
 */
import { FilterParser, type Filter } from 'ldapts';
import { z } from 'zod';
import { normalizeEndpoint, secret, type TargetIdentity } from '../sdk/index.js';
import { normalizeDN, parseDN, parseTemplate, type DnTemplate } from './dn.js';

const ATTRIBUTE = /^[A-Za-z][A-Za-z0-9-]*$/;
const attributeName = z.string().regex(ATTRIBUTE, 'an LDAP attribute name (letters, digits, "-")');
const dn = z.string().min(1).refine(
  (v) => {
    try {
      return parseDN(v).length > 0;
    } catch {
      return false;
    }
  },
  { message: 'a distinguished name such as ou=people,dc=example,dc=org' },
);
const ldapUrl = z.string().regex(/^ldaps?:\/\/[^/\s]+\/?$/i, 'an LDAP URL such as ldap://dir.example.org:389 or ldaps://dir.example.org:636');
const template = z.string().min(1).refine(
  (v) => {
    try {
      parseTemplate(v);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'a DN template such as uid={uid},ou=people,dc=example,dc=org' },
);
const filterString = z.string().min(1).refine(
  (v) => {
    try {
      FilterParser.parseString(v);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'an LDAP filter such as (objectClass=inetOrgPerson)' },
);

/** How a deactivated user is marked in the directory. */
export const deactivateSchema = z.discriminatedUnion('method', [
  /** Active Directory: the ACCOUNTDISABLE bit (0x2) of userAccountControl (512 -> 514). */
  z.object({ method: z.literal('userAccountControl') }),
  /** OpenLDAP with the ppolicy overlay: pwdAccountLockedTime 000001010000Z locks the account for good. */
  z.object({ method: z.literal('pwdAccountLockedTime') }),
  /** Any directory: an attribute set to a value; on reactivate the mapped value, `enabledValue`, or nothing. */
  z.object({
    method: z.literal('attribute'),
    attribute: attributeName,
    disabledValue: z.string().min(1),
    enabledValue: z.string().min(1).optional(),
  }),
  /** Any directory: the entry moves under `disabledBaseDN` (same RDN) and back on reactivate. */
  z.object({ method: z.literal('moveToOU'), disabledBaseDN: dn }),
]);
export type DeactivateMethod = z.infer<typeof deactivateSchema>;

export const ldapConfigSchema = z
  .object({
    /** One URL, or several tried in order when one cannot be reached. */
    url: z.union([ldapUrl, z.array(ldapUrl).min(1)]),
    /** Upgrade an ldap:// connection with StartTLS before binding. */
    startTls: z.boolean().default(false),
    /** PEM file with the CA certificate(s) that issued the directory's certificate. */
    tlsCaFile: z.string().min(1).optional(),
    /** Verify the directory's certificate (leave on outside a lab). */
    rejectUnauthorized: z.boolean().default(true),
    /** A DN; Active Directory also takes a user principal name (admin@corp.example.org). */
    bindDN: z.string().min(1).refine(
      (v) => {
        if (/^[^@\s]+@[^@\s]+$/.test(v)) return true;
        try {
          return parseDN(v).length > 0;
        } catch {
          return false;
        }
      },
      { message: 'a DN such as cn=admin,dc=example,dc=org (or, for AD, a UPN such as admin@corp.example.org)' },
    ),
    bindPassword: secret(z.string().min(1)),
    profile: z.enum(['openldap', 'activeDirectory']).default('openldap'),
    users: z
      .object({
        /** Where users live; searches (listUsers, findUser) start here. */
        baseDN: dn,
        /** DN of a new user; `{attr}` is a target attribute after mapping. Default: uid={uid},<baseDN> / CN={cn},<baseDN>. */
        dnTemplate: template.optional(),
        /** Default: top, person, organizationalPerson, inetOrgPerson / user. */
        objectClasses: z.array(attributeName).min(1).optional(),
        /** The attribute that holds SCIM userName verbatim. Default: uid / sAMAccountName. */
        userNameAttribute: attributeName.optional(),
        /** Where the IdP's externalId is written and looked up (findUser); none by default. */
        externalIdAttribute: attributeName.optional(),
        /** Which entries under baseDN are users. Default: (objectClass=inetOrgPerson) / (&(objectCategory=person)(objectClass=user)). */
        searchFilter: filterString.optional(),
      })
      .strict(),
    groups: z
      .object({
        baseDN: dn,
        /** Default: cn={cn},<baseDN> / CN={cn},<baseDN>; {cn} is the SCIM displayName. */
        dnTemplate: template.optional(),
        /** Default: top, groupOfNames / top, group. */
        objectClasses: z.array(attributeName).min(1).optional(),
        /** Default: member. */
        memberAttribute: attributeName.optional(),
        /**
         * groupOfNames must have a member: an empty group holds this DN instead (Keycloak's
         * convention). Default cn=empty-membership-placeholder for openldap, none for AD.
         */
        emptyMember: dn.optional(),
      })
      .strict()
      .optional(),
    /** Default: pwdAccountLockedTime for openldap, userAccountControl for activeDirectory. */
    deactivate: deactivateSchema.optional(),
    /**
     * After a rename or delete, rewrite the member values of groups that point at the old DN.
     * Default on for openldap (no refint overlay needed), off for AD (it keeps links itself).
     */
    updateMemberReferences: z.boolean().optional(),
    activeDirectory: z
      .object({
        /** Suffix for a derived userPrincipalName (`<userName>@<suffix>`). Default: the users base's DC parts. */
        upnSuffix: z.string().min(1).optional(),
        /**
         * Give each new account a random password nobody knows (SSO users sign in through the
         * IdP). AD refuses to enable an account without one, and accepts it only over TLS.
         */
        randomPassword: z.boolean().default(true),
      })
      .strict()
      .default({ randomPassword: true }),
    timeouts: z
      .object({
        connectMs: z.number().int().positive().default(5_000),
        operationMs: z.number().int().positive().default(15_000),
      })
      .strict()
      .default({ connectMs: 5_000, operationMs: 15_000 }),
    /** Page size of the paged search (RFC 2696) that lists users. */
    pageSize: z.number().int().min(1).max(10_000).default(500),
  })
  .strict()
  .superRefine((c, ctx) => {
    const urls = Array.isArray(c.url) ? c.url : [c.url];
    if (c.startTls && urls.some((u) => u.toLowerCase().startsWith('ldaps:'))) {
      ctx.addIssue({ code: 'custom', path: ['startTls'], message: 'StartTLS upgrades ldap:// connections; an ldaps:// URL is already encrypted' });
    }
    const method = c.deactivate?.method;
    if (method === 'userAccountControl' && c.profile !== 'activeDirectory') {
      ctx.addIssue({ code: 'custom', path: ['deactivate', 'method'], message: 'userAccountControl exists only in Active Directory (profile: activeDirectory)' });
    }
    if (method === 'pwdAccountLockedTime' && c.profile === 'activeDirectory') {
      ctx.addIssue({ code: 'custom', path: ['deactivate', 'method'], message: 'pwdAccountLockedTime is OpenLDAP ppolicy; Active Directory uses userAccountControl' });
    }
  });

/** The ldap connector's configuration as validated (secret fields are read through ctx.secrets). */
export type LdapConfig = z.infer<typeof ldapConfigSchema>;

/** The profile defaults applied: every knob has its value. */
export interface ResolvedConfig {
  urls: string[];
  startTls: boolean;
  tlsCaFile?: string;
  rejectUnauthorized: boolean;
  bindDN: string;
  profile: 'openldap' | 'activeDirectory';
  users: {
    baseDN: string;
    template: DnTemplate;
    objectClasses: string[];
    userNameAttribute: string;
    externalIdAttribute?: string;
    filter: Filter;
  };
  groups?: {
    baseDN: string;
    template: DnTemplate;
    objectClasses: string[];
    memberAttribute: string;
    emptyMember?: string;
  };
  deactivate: DeactivateMethod;
  updateMemberReferences: boolean;
  upnSuffix: string;
  randomPassword: boolean;
  connectMs: number;
  operationMs: number;
  pageSize: number;
}

/** Attribute -> SCIM path that suits both profiles (the manifest's defaultMapping). */
export const SHARED_MAPPING: Record<string, string> = {
  cn: 'displayName',
  givenName: 'name.givenName',
  sn: 'name.familyName',
  displayName: 'displayName',
  mail: 'emails.value',
  title: 'title',
  telephoneNumber: 'phoneNumbers[type eq "work"].value',
  mobile: 'phoneNumbers[type eq "mobile"].value',
  employeeNumber: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber',
  preferredLanguage: 'preferredLanguage',
};

/** What each profile adds in its own vocabulary (documented; the README shows how to map them). */
export const PROFILE_MAPPING: Record<ResolvedConfig['profile'], Record<string, string>> = {
  openldap: {
    ...SHARED_MAPPING,
    departmentNumber: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department',
    employeeType: 'userType',
  },
  activeDirectory: {
    ...SHARED_MAPPING,
    department: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department',
    company: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization',
    employeeType: 'userType',
  },
};

/** The DNS domain spelled by a DN's DC components: DC=corp,DC=example,DC=org -> corp.example.org. */
export function dnsDomainOf(dnText: string): string {
  return parseDN(dnText)
    .flat()
    .filter((a) => a.type.toLowerCase() === 'dc')
    .map((a) => a.value)
    .join('.');
}

/** Applies the profile's defaults. */
export function resolveConfig(c: LdapConfig): ResolvedConfig {
  const ad = c.profile === 'activeDirectory';
  const userNameAttribute = c.users.userNameAttribute ?? (ad ? 'sAMAccountName' : 'uid');
  const userObjectClasses = c.users.objectClasses ?? (ad ? ['top', 'person', 'organizationalPerson', 'user'] : ['top', 'person', 'organizationalPerson', 'inetOrgPerson']);
  const filter = c.users.searchFilter
    ? FilterParser.parseString(c.users.searchFilter)
    : FilterParser.parseString(ad ? '(&(objectCategory=person)(objectClass=user))' : `(objectClass=${userObjectClasses[userObjectClasses.length - 1]})`);
  const resolved: ResolvedConfig = {
    urls: Array.isArray(c.url) ? c.url : [c.url],
    startTls: c.startTls,
    rejectUnauthorized: c.rejectUnauthorized,
    bindDN: c.bindDN,
    profile: c.profile,
    users: {
      baseDN: c.users.baseDN,
      template: parseTemplate(c.users.dnTemplate ?? (ad ? `CN={cn},${c.users.baseDN}` : `${userNameAttribute}={${userNameAttribute}},${c.users.baseDN}`)),
      objectClasses: userObjectClasses,
      userNameAttribute,
      filter,
    },
    deactivate: c.deactivate ?? (ad ? { method: 'userAccountControl' } : { method: 'pwdAccountLockedTime' }),
    updateMemberReferences: c.updateMemberReferences ?? !ad,
    upnSuffix: c.activeDirectory.upnSuffix ?? dnsDomainOf(c.users.baseDN),
    randomPassword: c.activeDirectory.randomPassword,
    connectMs: c.timeouts.connectMs,
    operationMs: c.timeouts.operationMs,
    pageSize: c.pageSize,
  };
  if (c.tlsCaFile) resolved.tlsCaFile = c.tlsCaFile;
  if (c.users.externalIdAttribute) resolved.users.externalIdAttribute = c.users.externalIdAttribute;
  if (c.groups) {
    resolved.groups = {
      baseDN: c.groups.baseDN,
      template: parseTemplate(c.groups.dnTemplate ?? (ad ? `CN={cn},${c.groups.baseDN}` : `cn={cn},${c.groups.baseDN}`)),
      objectClasses: c.groups.objectClasses ?? (ad ? ['top', 'group'] : ['top', 'groupOfNames']),
      memberAttribute: c.groups.memberAttribute ?? 'member',
    };
    const emptyMember = c.groups.emptyMember ?? (ad ? undefined : 'cn=empty-membership-placeholder');
    if (emptyMember) resolved.groups.emptyMember = emptyMember;
  }
  return resolved;
}

/**
 * Where an instance points: the first server of `url` and the naming context its users live in
 * (the DC parts of users.baseDN, so two instances on different OUs of one directory still count
 * as one target); the bind password goes to every server of `url`.
 */
export function ldapTargetIdentity(c: LdapConfig): TargetIdentity {
  const servers = (Array.isArray(c.url) ? c.url : [c.url]).map((u) => normalizeEndpoint(u));
  const dcs = parseDN(c.users.baseDN).flat().filter((a) => a.type.toLowerCase() === 'dc');
  const context = dcs.length > 0 ? dcs.map((a) => `dc=${a.value.toLowerCase()}`).join(',') : normalizeDN(c.users.baseDN);
  return { target: `${servers[0]}/${context}`, endpoints: servers };
}
