/**
 * What each connection policy (provisioning/policies.ts policySchema) is called in the console and
 * what it does, in docs/connections.md's words. Plain data, so a test can check that every policy
 * the gateway knows is here, and so in the form: a new policy must not be invisible in the console.
 */

export interface PolicyText {
  label: string;
  hint: string;
}

export const POLICY_TEXT = {
  deleteMode: {
    label: 'When the identity provider deletes a user',
    hint: 'Soft: the user is deactivated in your systems and kept (hidden from SCIM; the user name is free again). Hard: deleted in your systems and in the gateway.',
  },
  allowCreate: {
    label: 'Let the identity provider create users',
    hint: 'Off: creating a user is refused with 403 naming this policy; existing users are still updated.',
  },
  defaultRole: {
    label: 'Default role',
    hint: 'New users whose identity provider sends no role get this one.',
  },
  defaultUserType: {
    label: 'Default user type',
    hint: 'New users without a user type get this one.',
  },
  allowedDomains: {
    label: 'Allowed email domains',
    hint: 'A user with a new email address (or an email-like user name) outside these domains is refused with 400 invalidValue. Empty: any domain. *.example.org allows subdomains.',
  },
  emailImmutable: {
    label: 'Email addresses cannot change',
    hint: "Changing a user's email addresses is refused with 400 mutability.",
  },
  lastOwnerRole: {
    label: 'Protect the last active user with role',
    hint: 'Deactivating, deleting or demoting the last active user with this role is refused with 409 mutability. Empty: off.',
  },
  roleRules: {
    label: 'Group to role rules',
    hint: "A user's role is that of the first rule whose group (display name, any case) the user is in, else the default role. With rules, groups own the role: a role the identity provider sends is ignored.",
  },
  syntheticGroups: {
    label: 'Synthetic groups Admins and Users',
    hint: 'The groups Admins and Users exist in the connection and give the roles below; deleting or renaming them is refused with 400 mutability. They stay in the gateway and are never sent to connectors: the role travels on the user. Admins ranks first, then Users, then the rules.',
  },
  syntheticRoles: {
    label: 'Roles of the synthetic groups',
    hint: 'The role a member of Admins, or of Users, gets.',
  },
  existingAccounts: {
    label: 'Accounts that already exist in a target',
    hint: 'What happens when a new user matches an account a connector finds in its target that this connection does not manage.',
  },
  principal: {
    label: 'Identify users to targets by',
    hint: "The attribute a connector's lookup uses first. An account found by it is the identity provider's own user and is linked.",
  },
  hook: {
    label: 'Custom provisioning hook',
    hint: 'A JS module or a command that sees every SCIM write of the connection before it commits, and may let it through, amend the resource, or refuse it with its own message (docs/connections.md).',
  },
} satisfies Record<string, PolicyText>;

export type PolicyKey = keyof typeof POLICY_TEXT;

export const POLICY_KEYS = Object.keys(POLICY_TEXT) as PolicyKey[];

/** The choices of the policies that are one of a few values, each explained. */
export const POLICY_CHOICES = {
  deleteMode: [
    { value: 'soft', label: 'Soft delete', hint: 'Deactivate in the targets, keep the record.' },
    { value: 'hard', label: 'Hard delete', hint: 'Delete in the targets and in the gateway.' },
  ],
  existingAccounts: [
    { value: 'refuse', label: 'Refuse', hint: 'The create answers 409 uniqueness naming the connector and the account. Remove or rename the account in the target first.' },
    { value: 'link', label: 'Link', hint: 'The gateway takes the account over and updates it from now on.' },
  ],
  principal: [
    { value: 'externalId', label: 'externalId', hint: "The identity provider's immutable id: a renamed user, or one from an earlier install, is recognised." },
    { value: 'userName', label: 'userName', hint: 'The user name only; it can change in the identity provider.' },
  ],
  hookOnError: [
    { value: 'refuse', label: 'Refuse the write', hint: 'A hook that fails (throws, exits non-zero, times out, prints no JSON) refuses the write with 503 and changes nothing.' },
    { value: 'allow', label: 'Let it through', hint: 'A failing hook is logged and the write goes on unchanged.' },
  ],
} as const;

/** The hook policy as the form edits it, and back (a plain module: tested against the gateway's hookSchema). */
export interface HookDraft {
  kind: 'none' | 'module' | 'command';
  module: string;
  /** argv, one per line: the executable's absolute path first. */
  command: string;
  timeoutMs: string;
  onError: 'refuse' | 'allow';
  resources: Array<'User' | 'Group'>;
  /** A command's `env` and `inheritEnv`: set in the config file or API, not in the form, and kept through a save. */
  environment?: Record<string, unknown>;
}

export function hookDraftOf(hook: unknown): HookDraft {
  const h = (hook && typeof hook === 'object' ? hook : {}) as Record<string, unknown>;
  const command = Array.isArray(h.command) ? (h.command as unknown[]).map(String) : [];
  return {
    kind: typeof h.module === 'string' ? 'module' : command.length ? 'command' : 'none',
    module: typeof h.module === 'string' ? h.module : '',
    command: command.join('\n'),
    timeoutMs: typeof h.timeoutMs === 'number' ? String(h.timeoutMs) : '5000',
    onError: h.onError === 'allow' ? 'allow' : 'refuse',
    resources: Array.isArray(h.resources) ? (h.resources as Array<'User' | 'Group'>).filter((r) => r === 'User' || r === 'Group') : ['User', 'Group'],
    environment: Object.fromEntries(['env', 'inheritEnv'].filter((k) => h[k] !== undefined).map((k) => [k, h[k]])),
  };
}

/** The hook as the gateway takes it, or null for none (the gateway then drops it). */
export function hookValueOf(d: HookDraft): Record<string, unknown> | null {
  if (d.kind === 'none') return null;
  const timeout = Number(d.timeoutMs);
  return {
    ...(d.kind === 'module' ? { module: d.module.trim() } : { command: d.command.split('\n').map((l) => l.trim()).filter(Boolean), ...d.environment }),
    timeoutMs: d.timeoutMs.trim() === '' || !Number.isFinite(timeout) ? 5000 : timeout,
    onError: d.onError,
    resources: d.resources,
  };
}

