/**
 * The `demo` connector: for the first-run experience and tests. It stores users and groups in
 * memory and provisions nothing real. It implements every capability so the console can show the
 * whole flow (create, deactivate, groups, reconciliation, dry-run) before a real target is set up.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  PermanentError,
  defineConnector,
  secret,
  type Connector,
  type ConnectorDefinition,
  type ConnectorManifest,
  type ConnectorOperation,
  type InitContext,
  type Preview,
  type TargetEntry,
  type TargetGroup,
  type TargetKey,
  type TargetUser,
  type TestResult,
  type UserQuery,
} from '../sdk/index.js';

/** The demo's configuration. */
export const demoConfigSchema = z.object({
  /** Shown in messages as `memory://<name>`, standing in for a host name. */
  name: z.string().min(1).default('demo'),
  /** Only checked when the directory was created with `accessKey`: shows how a secret flows. */
  accessKey: secret(z.string().min(4), { optional: true }),
});

/** The demo's parsed configuration. */
export type DemoConfig = z.infer<typeof demoConfigSchema>;

/** A user record as the in-memory directory keeps it. */
export interface DemoUserRecord {
  scimId: string;
  externalId?: string;
  userName: string;
  active: boolean;
  attributes: TargetUser['attributes'];
  /** Kept only to show that the `passwords` capability delivers it; never returned by listUsers. */
  password?: string;
}

/** A group record as the in-memory directory keeps it. */
export interface DemoGroupRecord {
  scimId: string;
  displayName: string;
  attributes: TargetGroup['attributes'];
  members: Set<TargetKey>;
}

/** An error shaped like Node's socket errors, so the host classifies it the way it would a real one. */
class DemoNetworkError extends Error {
  readonly code = 'ECONNREFUSED';
  constructor(address: string) {
    super(`connect ECONNREFUSED ${address}`);
    this.name = 'DemoNetworkError';
  }
}

/** The in-memory "target system". Tests read it directly to verify what the connector did. */
export class DemoDirectory {
  /** Names the directory in the connector's target identity: instances sharing it share a target. */
  readonly id = randomUUID();
  readonly users = new Map<TargetKey, DemoUserRecord>();
  readonly groups = new Map<TargetKey, DemoGroupRecord>();
  /** When true every call fails like a refused TCP connection. */
  down = false;
  /** When set, the connector must be configured with this access key. */
  readonly accessKey?: string;

  constructor(options: { accessKey?: string } = {}) {
    if (options.accessKey !== undefined) this.accessKey = options.accessKey;
  }

  /** Clears all entries and brings the directory back up. */
  reset(): void {
    this.users.clear();
    this.groups.clear();
    this.down = false;
  }
}

/** Key of a user: derived from userName, so a rename changes it (as an LDAP DN does). */
function userKey(userName: string): TargetKey {
  return `users/${userName.toLowerCase()}`;
}

function groupKey(scimId: string): TargetKey {
  return `groups/${scimId}`;
}

class DemoConnector implements Connector<DemoConfig> {
  private config: DemoConfig = { name: 'demo' };
  private accessKey: string | undefined;

  constructor(private readonly directory: DemoDirectory) {}

  private get address(): string {
    return `memory://${this.config.name}`;
  }

  /** Every call goes through here, as every call to a real target goes over the network. */
  private connect(): DemoDirectory {
    if (this.directory.down) throw new DemoNetworkError(this.address);
    if (this.directory.accessKey !== undefined && this.accessKey !== this.directory.accessKey) {
      throw new PermanentError(`demo directory ${this.address} refused the access key`, { code: 'auth_failed' });
    }
    return this.directory;
  }

  private userRecord(key: TargetKey): DemoUserRecord {
    const record = this.connect().users.get(key);
    if (!record) throw new NotFoundError(`no user at ${key} in ${this.address}`);
    return record;
  }

  private write(key: TargetKey, user: TargetUser): TargetKey {
    const dir = this.connect();
    const existing = this.userRecord(key);
    const nextKey = userKey(user.userName);
    const other = dir.users.get(nextKey);
    if (nextKey !== key && other && other.scimId !== existing.scimId) {
      throw new ConflictError(`cannot rename to "${user.userName}": ${nextKey} belongs to another user`);
    }
    const record: DemoUserRecord = {
      scimId: user.scimId,
      userName: user.userName,
      active: user.active,
      attributes: { ...user.attributes },
      ...(user.externalId !== undefined ? { externalId: user.externalId } : {}),
      ...(user.password !== undefined ? { password: user.password } : { password: existing.password }),
    };
    dir.users.delete(key);
    dir.users.set(nextKey, record);
    if (nextKey !== key) {
      // Keep memberships pointing at the entry, as LDAP's referential integrity overlay does.
      for (const g of dir.groups.values()) if (g.members.delete(key)) g.members.add(nextKey);
    }
    return nextKey;
  }

  async init(ctx: InitContext<DemoConfig>): Promise<void> {
    this.config = ctx.config;
    this.accessKey = await ctx.secrets.get('accessKey');
  }

  async test(): Promise<TestResult> {
    try {
      const dir = this.connect();
      return {
        ok: true,
        message: `connected to demo directory ${this.address} (in memory: nothing is provisioned for real)`,
        details: { users: dir.users.size, groups: dir.groups.size },
      };
    } catch (err) {
      return { ok: false, message: `cannot use demo directory ${this.address}: ${(err as Error).message}` };
    }
  }

  async dispose(): Promise<void> {}

  async createUser(user: TargetUser): Promise<{ key: TargetKey }> {
    const dir = this.connect();
    const key = userKey(user.userName);
    const existing = dir.users.get(key);
    if (existing) {
      if (existing.scimId === user.scimId) throw new AlreadyExistsError(`user "${user.userName}" already exists`, key);
      throw new ConflictError(`user "${user.userName}" already exists in ${this.address} and is not managed by this gateway`);
    }
    dir.users.set(key, {
      scimId: user.scimId,
      userName: user.userName,
      active: user.active,
      attributes: { ...user.attributes },
      ...(user.externalId !== undefined ? { externalId: user.externalId } : {}),
      ...(user.password !== undefined ? { password: user.password } : {}),
    });
    return { key };
  }

  async updateUser(key: TargetKey, user: TargetUser): Promise<{ key: TargetKey }> {
    return { key: this.write(key, user) };
  }

  async deactivateUser(key: TargetKey, user: TargetUser): Promise<{ key: TargetKey }> {
    return { key: this.write(key, { ...user, active: false }) };
  }

  async reactivateUser(key: TargetKey, user: TargetUser): Promise<{ key: TargetKey }> {
    return { key: this.write(key, { ...user, active: true }) };
  }

  async deleteUser(key: TargetKey): Promise<void> {
    const dir = this.connect();
    if (!dir.users.delete(key)) throw new NotFoundError(`no user at ${key} in ${this.address}`);
    for (const g of dir.groups.values()) g.members.delete(key);
  }

  async upsertGroup(group: TargetGroup, key: TargetKey | undefined): Promise<{ key: TargetKey }> {
    const dir = this.connect();
    const target = key ?? groupKey(group.scimId);
    const existing = dir.groups.get(target);
    dir.groups.set(target, {
      scimId: group.scimId,
      displayName: group.displayName,
      attributes: { ...group.attributes },
      members: existing?.members ?? new Set(),
    });
    return { key: target };
  }

  async deleteGroup(key: TargetKey): Promise<void> {
    if (!this.connect().groups.delete(key)) throw new NotFoundError(`no group at ${key} in ${this.address}`);
  }

  private group(key: TargetKey): DemoGroupRecord {
    const g = this.connect().groups.get(key);
    if (!g) throw new NotFoundError(`no group at ${key} in ${this.address}`);
    return g;
  }

  async addMembers(key: TargetKey, memberKeys: TargetKey[]): Promise<void> {
    const g = this.group(key);
    for (const m of memberKeys) g.members.add(m);
  }

  async removeMembers(key: TargetKey, memberKeys: TargetKey[]): Promise<void> {
    const g = this.group(key);
    for (const m of memberKeys) g.members.delete(m);
  }

  async *listUsers(): AsyncIterable<TargetEntry> {
    // Snapshot first: a real paged search does not see entries added after it started either.
    const entries = [...this.connect().users.entries()];
    for (const [key, record] of entries) {
      const { password: _omitted, ...user } = record;
      yield { key, user: { ...user, attributes: { ...user.attributes } } };
    }
  }

  async findUser(query: UserQuery): Promise<TargetEntry | undefined> {
    const dir = this.connect();
    for (const [key, record] of dir.users) {
      const match =
        'userName' in query ? record.userName.toLowerCase() === query.userName.toLowerCase() : record.externalId === query.externalId;
      if (match) {
        const { password: _omitted, ...user } = record;
        return { key, user };
      }
    }
    return undefined;
  }

  async preview(op: ConnectorOperation): Promise<Preview> {
    // Only computes; reading the directory would be allowed, writing never.
    switch (op.kind) {
      case 'createUser':
        return { requests: [{ description: `PUT ${userKey(op.user.userName)}`, detail: { ...op.user } }] };
      case 'updateUser':
      case 'deactivateUser':
      case 'reactivateUser': {
        const active = op.kind === 'deactivateUser' ? false : op.kind === 'reactivateUser' ? true : op.user.active;
        const next = userKey(op.user.userName);
        const requests = [{ description: `PUT ${next}`, detail: { ...op.user, active } }];
        if (next !== op.key) requests.unshift({ description: `MOVE ${op.key} -> ${next}`, detail: { ...op.user, active } });
        return { requests };
      }
      case 'deleteUser':
      case 'deleteGroup':
        return { requests: [{ description: `DELETE ${op.key}` }] };
      case 'upsertGroup':
        return { requests: [{ description: `PUT ${op.key ?? groupKey(op.group.scimId)}`, detail: op.group }] };
      case 'addMembers':
      case 'removeMembers':
        return {
          requests: [{ description: `${op.kind === 'addMembers' ? 'ADD' : 'REMOVE'} members of ${op.key}`, detail: op.memberKeys }],
        };
    }
  }
}

/** The demo manifest. */
export const demoManifest: ConnectorManifest<DemoConfig> = {
  type: 'demo',
  displayName: 'Demo (in memory)',
  version: '1.0.0',
  description:
    'For the first-run experience and tests: stores users in memory, provisions nothing real. Everything is lost on restart.',
  configSchema: demoConfigSchema,
  capabilities: {
    create: true,
    update: true,
    deactivate: true,
    reactivate: true,
    delete: true,
    groups: true,
    membership: true,
    read: true,
    lookup: true,
    dryRun: true,
    passwords: true,
  },
};

/**
 * Creates the demo connector definition. Instances share `directory` (a fresh one by default),
 * which tests inject to read back what the connector did.
 */
export function createDemoConnector(directory: DemoDirectory = new DemoDirectory()): ConnectorDefinition<DemoConfig> {
  return defineConnector({ ...demoManifest, targetIdentity: () => ({ target: `memory://${directory.id}` }) }, () => new DemoConnector(directory));
}
