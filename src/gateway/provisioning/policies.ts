/**
 * Lifecycle policies of a connection, checked on every SCIM write before anything is committed.
 * Each rule comes from a product the gateway learns from (../docs/connections.md lists them):
 * allow-create and default role / user type (Mendix), domain allow-list and email immutability
 * (Scalekit), last-owner protection (Modelux), role from the product's extension (Modelux).
 */
import { z } from 'zod';
import { BRIDGE_USER_SCHEMA, ScimError } from '../scim/index.js';
import type { ScimJson } from '../store/index.js';
import { hookSchema } from './hooks.js';

export const policySchema = z
  .object({
    /**
     * What DELETE /Users/{id} does (Mendix Default_DeleteUserPermanently): `soft` deactivates the
     * user in the targets and keeps the record, hidden from SCIM; `hard` deletes it everywhere.
     */
    deleteMode: z.enum(['soft', 'hard']).default('soft'),
    /** Refuse creates (Mendix "Allow the module to create users"): updates of existing users still apply. */
    allowCreate: z.boolean().default(true),
    /** Role given to a user whose IdP sends none (Mendix "Default Userrole", Modelux default role). */
    defaultRole: z.string().min(1).default('member'),
    /** User type given when the IdP sends none (Mendix "User Type", default Internal). */
    defaultUserType: z.string().min(1).default('Internal'),
    /** Email domains allowed to be provisioned (Scalekit organisation domains); empty = any. */
    allowedDomains: z.array(z.string().min(1)).default([]),
    /** Refuse changes of a user's email addresses (Scalekit: email is immutable). */
    emailImmutable: z.boolean().default(false),
    /** Refuse deactivating or deleting the last active user with this role (Modelux: 409 mutability); empty string disables. */
    lastOwnerRole: z.string().default('owner'),
    /**
     * Group -> role rules (Scalekit): a user's role is that of the first rule whose group (by
     * displayName, case-insensitive) the user is in, else `defaultRole`. When there are rules (or
     * synthetic groups), groups own the role: a role the IdP sends in the extension is ignored.
     */
    roleRules: z.array(z.object({ group: z.string().min(1), role: z.string().min(1) }).strict()).default([]),
    /**
     * Synthetic groups `Admins` and `Users` (Tuist): created in the connection, mapped to roles,
     * never deleted or renamed by the IdP and never sent to connectors (the role travels on the user).
     */
    syntheticGroups: z.boolean().default(false),
    /** Roles of the synthetic groups; `Admins` ranks before `Users` and before roleRules. */
    syntheticRoles: z.object({ Admins: z.string().min(1).default('admin'), Users: z.string().min(1).default('member') }).strict().default({ Admins: 'admin', Users: 'member' }),
    /**
     * Claim protection (Tuist): a create whose userName matches an account that already exists in a
     * target (found by the connector's lookup) and is not linked to this connection is refused
     * (`refuse`, 409 uniqueness), or taken over and updated (`link`).
     */
    existingAccounts: z.enum(['refuse', 'link']).default('refuse'),
    /**
     * The SCIM attribute that identifies a user to a target's lookup (Mendix's principal
     * attribute): `externalId` (the IdP's immutable id; default) or `userName`. An account found
     * by its externalId is this IdP's user and is linked; one found only by userName is a claim.
     */
    principal: z.enum(['externalId', 'userName']).default('externalId'),
    /** A custom provisioning hook (JS module or command) that may amend or veto each write (hooks.ts). */
    hook: hookSchema.optional(),
  })
  .strict();

/** Names of the synthetic role groups, in rank order. */
export const SYNTHETIC_GROUPS = ['Admins', 'Users'] as const;

export type ConnectionPolicy = z.infer<typeof policySchema>;

export const DEFAULT_POLICY: ConnectionPolicy = policySchema.parse({});

/** What a policy check may need to know beyond the two versions of the user. */
export interface PolicyContext {
  connection: string;
  /** Counts active users holding `role` in the connection, other than `exceptId`. */
  countActiveWithRole(role: string, exceptId: string): Promise<number>;
}

function bridgeBlock(data: ScimJson | undefined): Record<string, unknown> {
  return ((data?.[BRIDGE_USER_SCHEMA] as Record<string, unknown> | undefined) ?? {}) as Record<string, unknown>;
}

export function roleOf(data: ScimJson | undefined): string | undefined {
  const r = bridgeBlock(data).role;
  return typeof r === 'string' ? r : undefined;
}

function emailsOf(data: ScimJson | undefined): string[] {
  const list = Array.isArray(data?.emails) ? (data!.emails as Array<Record<string, unknown>>) : [];
  const out = list.map((e) => e?.value).filter((v): v is string => typeof v === 'string');
  // Many IdPs put the address only in userName (Entra maps UPN there).
  if (out.length === 0 && typeof data?.userName === 'string' && data.userName.includes('@')) out.push(data.userName);
  return out;
}

function domainOf(email: string): string {
  return email.slice(email.lastIndexOf('@') + 1).toLowerCase();
}

function domainAllowed(domain: string, allowed: string[]): boolean {
  return allowed.some((a) => {
    const d = a.toLowerCase().replace(/^@/, '');
    // "*.example.com" allows subdomains; "example.com" allows exactly that domain.
    return d.startsWith('*.') ? domain.endsWith(d.slice(1)) : domain === d;
  });
}

/** The rules that turn group membership into a role, synthetic groups first; empty when roles are not group-based. */
export function effectiveRoleRules(policy: ConnectionPolicy): Array<{ group: string; role: string }> {
  const synthetic = policy.syntheticGroups ? SYNTHETIC_GROUPS.map((g) => ({ group: g, role: policy.syntheticRoles[g] })) : [];
  return [...synthetic, ...policy.roleRules];
}

/** The role of a user in these groups (display names), or undefined when the connection has no role rules. */
export function roleFromGroups(policy: ConnectionPolicy, groupNames: readonly string[]): string | undefined {
  const rules = effectiveRoleRules(policy);
  if (rules.length === 0) return undefined;
  const names = new Set(groupNames.map((n) => n.toLowerCase()));
  return rules.find((r) => names.has(r.group.toLowerCase()))?.role ?? policy.defaultRole;
}

/** Whether a group is one of the connection's synthetic role groups. */
export function isSyntheticGroup(policy: ConnectionPolicy, data: ScimJson | undefined): boolean {
  const name = typeof data?.displayName === 'string' ? data.displayName : '';
  return policy.syntheticGroups && (SYNTHETIC_GROUPS as readonly string[]).includes(name);
}

/** Fills the product extension's defaults on a new user (role, userType). */
export function applyCreateDefaults(policy: ConnectionPolicy, data: ScimJson): void {
  const block = { ...bridgeBlock(data) };
  // With role rules a new user is in no group yet: the default role, whatever the IdP sent.
  if (effectiveRoleRules(policy).length > 0) block.role = policy.defaultRole;
  else if (typeof block.role !== 'string' || block.role === '') block.role = policy.defaultRole;
  if (typeof block.userType !== 'string' || block.userType === '') block.userType = (typeof data.userType === 'string' && data.userType) || policy.defaultUserType;
  data[BRIDGE_USER_SCHEMA] = block;
}

/**
 * Keeps role and userType when a PUT or PATCH leaves them out: the IdP did not ask to change them.
 * With role rules the role is the groups' to set: the stored one stays.
 */
export function keepUnsentDefaults(data: ScimJson, previous: ScimJson, policy?: ConnectionPolicy): void {
  const before = bridgeBlock(previous);
  const block = { ...bridgeBlock(data) };
  for (const key of ['role', 'userType'] as const) if (block[key] === undefined && before[key] !== undefined) block[key] = before[key];
  if (policy && effectiveRoleRules(policy).length > 0 && before.role !== undefined) block.role = before.role;
  if (Object.keys(block).length > 0) data[BRIDGE_USER_SCHEMA] = block;
}

/**
 * Checks a user write against the connection's policy; throws the SCIM error the IdP should see.
 * @param before the stored user (undefined on create)
 * @param after the user as it would be stored (undefined on delete)
 */
export async function checkUserWrite(policy: ConnectionPolicy, ctx: PolicyContext, before: ScimJson | undefined, after: ScimJson | undefined, id: string): Promise<void> {
  if (!before && after && !policy.allowCreate) {
    throw new ScimError(
      403,
      undefined,
      `Connection "${ctx.connection}" does not allow creating users (policy allowCreate is false); only existing users are updated. Change the policy in the gateway's configuration to let the IdP create users.`,
    );
  }

  if (after && policy.allowedDomains.length > 0) {
    const beforeEmails = new Set(emailsOf(before).map((e) => e.toLowerCase()));
    for (const email of emailsOf(after)) {
      if (beforeEmails.has(email.toLowerCase())) continue; // only new addresses are checked
      const domain = domainOf(email);
      if (!domainAllowed(domain, policy.allowedDomains)) {
        throw ScimError.invalidValue(
          `The email domain "${domain}" (${email}) is not allowed on connection "${ctx.connection}". Allowed: ${policy.allowedDomains.join(', ')}. Add it to connections.${ctx.connection}.policies.allowedDomains in the gateway's configuration, or invite the user by hand.`,
        );
      }
    }
  }

  if (before && after && policy.emailImmutable) {
    const a = emailsOf(before).map((e) => e.toLowerCase()).sort();
    const b = emailsOf(after).map((e) => e.toLowerCase()).sort();
    if (a.length > 0 && (a.length !== b.length || a.some((e, i) => e !== b[i]))) {
      throw ScimError.mutability(
        `Email addresses are immutable on connection "${ctx.connection}" (policy emailImmutable): ${a.join(', ')} cannot become ${b.join(', ') || 'nothing'}. Create a new user instead.`,
      );
    }
  }

  if (before && policy.lastOwnerRole !== '') {
    const wasOwner = roleOf(before) === policy.lastOwnerRole && before.active !== false;
    const staysOwner = after !== undefined && roleOf(after) === policy.lastOwnerRole && after.active !== false;
    if (wasOwner && !staysOwner && (await ctx.countActiveWithRole(policy.lastOwnerRole, id)) === 0) {
      const what = after === undefined ? 'delete' : after.active === false ? 'deactivate' : 'change the role of';
      throw ScimError.mutability(
        `Cannot ${what} the last active user with role "${policy.lastOwnerRole}" on connection "${ctx.connection}": give another user that role first.`,
        409,
      );
    }
  }
}
