/**
 * The conformance kit: ONE suite that every connector runs against a real instance of its target
 * (Auth.js's adapter suite idea). It drives the connector through the host, exactly as the
 * gateway does, and checks results by reading the target directly, never through the connector.
 * Import it from test files only: it registers vitest suites.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConnectorError, NotFoundError, TransientError } from './errors.js';
import { createConnectorHost, type ApplyResult, type ConnectorHost } from './host.js';
import { resolveTargetIdentity } from './identity.js';
import type {
  ConnectorCapabilities,
  ConnectorDefinition,
  ConnectorLogger,
  ConnectorOperation,
  TargetGroup,
  TargetKey,
  TargetUser,
} from './types.js';

/** What the factory hands the kit: a definition and how to configure it against the target. */
export interface ConformanceSetup<C = unknown> {
  definition: ConnectorDefinition<C>;
  /** Instance config, without secret values. */
  config: unknown;
  /** The real secrets for the target, by config path. */
  secrets: Record<string, string>;
  /** The same secrets with one of them wrong; enables the "test() with a wrong secret" case. */
  wrongSecrets?: Record<string, string>;
  /** What every test() message must mention: the host, URL or bind DN an admin would check. */
  hostLabel: string;
  /** Builds the n-th sample user; the default uses LDAP-style names (givenName, sn, mail). */
  sampleUser?: (n: number) => TargetUser;
  /** Returns the user with changed attributes, for the update case. */
  changeUser?: (user: TargetUser) => TargetUser;
  /** Normalises keys before comparing them (e.g. lowercase DNs); identity by default. */
  normalizeKey?: (key: TargetKey) => string;
  /** Called once after the suite: stop the server the factory started, remove temp dirs. */
  teardown?: () => Promise<void>;
}

/** Direct access to the backend, independent of the connector, for verification. */
export interface ConformanceTarget {
  /** The user as stored in the target, mapped back to target attribute names; undefined if absent. */
  readUser(key: TargetKey): Promise<(Partial<TargetUser> & { active: boolean }) | undefined>;
  readGroup?(key: TargetKey): Promise<Partial<TargetGroup> | undefined>;
  readGroupMembers?(key: TargetKey): Promise<TargetKey[] | undefined>;
  /** How many entries carry this userName; without it the kit counts through listUsers if it can. */
  countUsers?(userName: string): Promise<number>;
  /** Takes the target down (stop the server, close the port) for the TransientError case. */
  stop?(): Promise<void>;
  start?(): Promise<void>;
  /** Removes everything the suite created. Runs before every case. */
  reset(): Promise<void>;
}

function defaultSampleUser(n: number): TargetUser {
  const id = randomUUID();
  return {
    scimId: id,
    externalId: `ext-${id}`,
    userName: `conf.user${n}.${id.slice(0, 8)}`,
    active: true,
    attributes: { givenName: 'Ada', sn: `Lovelace${n}`, mail: `conf.user${n}.${id.slice(0, 8)}@example.org` },
  };
}

function defaultChangeUser(user: TargetUser): TargetUser {
  const [name] = Object.entries(user.attributes).find(([, v]) => typeof v === 'string') ?? [];
  if (!name) return user;
  return { ...user, attributes: { ...user.attributes, [name]: `${String(user.attributes[name])}Changed` } };
}

/**
 * Registers the conformance suite `name`. Cases run only for the capabilities the manifest
 * declares; the target-down case needs `target.stop`/`start`.
 */
export function runConnectorConformance<C>(
  name: string,
  factory: () => Promise<ConformanceSetup<C>>,
  target: ConformanceTarget,
): void {
  describe(`connector conformance: ${name}`, () => {
    let setup: ConformanceSetup<C>;
    let host: ConnectorHost<C>;
    let caps: ConnectorCapabilities;
    let n = 0;
    // Captured as text when caught: vitest rewrites an error object once it fails a test.
    const errors: Array<{ text: string; typed: boolean }> = [];
    const record = (e: unknown, fromHost = true): void => {
      const text =
        e instanceof Error
          ? [e.message, e.stack ?? '', e.cause instanceof Error ? e.cause.message : typeof e.cause === 'string' ? e.cause : ''].join('\n')
          : String(e);
      errors.push({ text, typed: !fromHost || e instanceof ConnectorError });
    };
    const logLines: string[] = [];
    const logger: ConnectorLogger = {
      debug: (m, f) => logLines.push(`${m} ${JSON.stringify(f ?? {})}`),
      info: (m, f) => logLines.push(`${m} ${JSON.stringify(f ?? {})}`),
      warn: (m, f) => logLines.push(`${m} ${JSON.stringify(f ?? {})}`),
      error: (m, f) => logLines.push(`${m} ${JSON.stringify(f ?? {})}`),
    };
    const norm = (k: TargetKey): string => (setup.normalizeKey ?? ((x: string) => x))(k);
    const sample = (): TargetUser => (setup.sampleUser ?? defaultSampleUser)(++n);
    const change = (u: TargetUser): TargetUser => (setup.changeUser ?? defaultChangeUser)(u);

    /** Applies through the host and remembers every error for the redaction case. */
    const apply = async (op: DistributiveOmit<ConnectorOperation, 'operationId'>): Promise<ApplyResult> => {
      try {
        return await host.apply({ ...op, operationId: `conf-${randomUUID()}` } as ConnectorOperation);
      } catch (err) {
        record(err);
        throw err;
      }
    };
    const create = async (user: TargetUser = sample()): Promise<{ user: TargetUser; key: TargetKey }> => {
      const result = await apply({ kind: 'createUser', user });
      expect(result.key, 'createUser must return the target key').toBeTruthy();
      return { user, key: result.key! };
    };
    const expectUser = async (key: TargetKey, user: TargetUser): Promise<void> => {
      const read = await target.readUser(key);
      expect(read, `user ${key} should exist in the target`).toBeDefined();
      expect(read!.userName?.toLowerCase()).toBe(user.userName.toLowerCase());
      expect(read!.active).toBe(user.active);
      expect(read!.attributes, 'readUser must return the mapped attributes').toBeDefined();
      for (const [attr, value] of Object.entries(user.attributes)) expect(read!.attributes![attr], attr).toEqual(value);
    };
    const count = async (userName: string): Promise<number | undefined> => {
      if (target.countUsers) return target.countUsers(userName);
      if (!caps.read) return undefined;
      let c = 0;
      for await (const entry of host.listUsers()) if (entry.user.userName?.toLowerCase() === userName.toLowerCase()) c++;
      return c;
    };
    const unless = (ok: boolean | undefined, skip: (note?: string) => void, what: string): void => {
      if (!ok) skip(`capability ${what} not declared`);
    };

    beforeAll(async () => {
      setup = await factory();
      caps = setup.definition.manifest.capabilities;
      host = await createConnectorHost(setup.definition, { config: setup.config, secrets: setup.secrets, logger });
    });
    afterAll(async () => {
      try {
        await target.start?.();
        await host?.dispose();
      } finally {
        await setup?.teardown?.();
      }
    });
    beforeEach(async () => {
      await target.reset();
    });

    it('test() succeeds and names the target', async () => {
      const result = await host.test();
      expect(result.ok, result.message).toBe(true);
      expect(result.message).toContain(setup.hostLabel);
    });

    it('states where the configuration under test points (target identity), from the stored form', async (ctx) => {
      const manifest = setup.definition.manifest;
      if (!manifest.targetIdentity) ctx.skip('no targetIdentity: the gateway cannot recognize shared targets, and asks for the secrets again on any change');
      const identity = resolveTargetIdentity(manifest, setup.config);
      expect(identity.target, 'targetIdentity must return a target for the configuration under test (secret fields absent)').toBeTruthy();
      expect(identity.endpoints!.length).toBeGreaterThan(0);
      expect(resolveTargetIdentity(manifest, structuredClone(setup.config)), 'the same configuration must give the same identity').toEqual(identity);
    });

    it('test() with a wrong secret fails and names the target', async (ctx) => {
      if (!setup.wrongSecrets) ctx.skip('no wrongSecrets given');
      const wrong = await createConnectorHost(setup.definition, { config: setup.config, secrets: setup.wrongSecrets!, logger });
      try {
        const result = await wrong.test();
        expect(result.ok).toBe(false);
        expect(result.message).toContain(setup.hostLabel);
        record(result.message, false);
      } finally {
        await wrong.dispose();
      }
    });

    it('creates a user that reads back from the target', async (ctx) => {
      unless(caps.create, ctx.skip, 'create');
      const { user, key } = await create();
      await expectUser(key, user);
    });

    it('updates a user', async (ctx) => {
      unless(caps.create && caps.update, ctx.skip, 'create+update');
      const { user, key } = await create();
      const changed = change(user);
      const result = await apply({ kind: 'updateUser', key, user: changed });
      await expectUser(result.key ?? key, changed);
    });

    it('renames a user (userName change), following a key change', async (ctx) => {
      unless(caps.create && caps.update, ctx.skip, 'create+update');
      const { user, key } = await create();
      const renamed = { ...user, userName: `${user.userName}r` };
      const result = await apply({ kind: 'updateUser', key, user: renamed });
      const newKey = result.key ?? key;
      await expectUser(newKey, renamed);
      if (norm(newKey) !== norm(key)) expect(await target.readUser(key), 'old key must be gone after rename').toBeUndefined();
    });

    it('deactivates and reactivates a user, each idempotently', async (ctx) => {
      unless(caps.create && caps.deactivate, ctx.skip, 'create+deactivate');
      const { user, key } = await create();
      const off = await apply({ kind: 'deactivateUser', key, user: { ...user, active: false } });
      await apply({ kind: 'deactivateUser', key: off.key ?? key, user: { ...user, active: false } });
      expect((await target.readUser(off.key ?? key))?.active).toBe(false);
      if (!caps.reactivate) return;
      const on = await apply({ kind: 'reactivateUser', key: off.key ?? key, user: { ...user, active: true } });
      await expectUser(on.key ?? key, { ...user, active: true });
    });

    it('deletes a user; deleting again succeeds', async (ctx) => {
      unless(caps.create && caps.delete, ctx.skip, 'create+delete');
      const { key } = await create();
      await apply({ kind: 'deleteUser', key });
      expect(await target.readUser(key)).toBeUndefined();
      const again = await apply({ kind: 'deleteUser', key });
      expect(['applied', 'already-absent']).toContain(again.outcome);
    });

    it('creating the same user twice (a retry) yields the same key and no duplicate', async (ctx) => {
      unless(caps.create, ctx.skip, 'create');
      const { user, key } = await create();
      const second = await apply({ kind: 'createUser', user });
      expect(norm(second.key!)).toBe(norm(key));
      const c = await count(user.userName);
      if (c !== undefined) expect(c).toBe(1);
      await expectUser(key, user);
    });

    it('updating a missing key throws NotFoundError', async (ctx) => {
      unless(caps.create && caps.update && caps.delete, ctx.skip, 'create+update+delete');
      const { user, key } = await create();
      await apply({ kind: 'deleteUser', key });
      const err = await apply({ kind: 'updateUser', key, user }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotFoundError);
    });

    it('dry-run never touches the target', async () => {
      const user = sample();
      const plan = await host.dryRun({ kind: 'createUser', operationId: 'conf-dry', user });
      expect(plan.requests.length).toBeGreaterThan(0);
      const c = await count(user.userName);
      if (c !== undefined) expect(c).toBe(0);
    });

    it('groups: upsert, add members, remove members, delete', async (ctx) => {
      unless(caps.groups, ctx.skip, 'groups');
      const scimId = randomUUID();
      const group: TargetGroup = { scimId, displayName: `conf-group-${scimId.slice(0, 8)}`, attributes: {} };
      const g = await apply({ kind: 'upsertGroup', group });
      let gKey = g.key!;
      expect(gKey).toBeTruthy();
      if (target.readGroup) expect((await target.readGroup(gKey))?.displayName).toBe(group.displayName);
      const again = await apply({ kind: 'upsertGroup', group, key: gKey });
      expect(norm(again.key!)).toBe(norm(gKey));
      gKey = again.key!;

      if (caps.membership && caps.create) {
        const a = await create();
        const b = await create();
        await apply({ kind: 'addMembers', key: gKey, memberKeys: [a.key, b.key] });
        await apply({ kind: 'addMembers', key: gKey, memberKeys: [a.key] });
        if (target.readGroupMembers) {
          const members = ((await target.readGroupMembers(gKey)) ?? []).map(norm).sort();
          expect(members).toEqual([norm(a.key), norm(b.key)].sort());
        }
        await apply({ kind: 'removeMembers', key: gKey, memberKeys: [a.key] });
        await apply({ kind: 'removeMembers', key: gKey, memberKeys: [a.key] });
        if (target.readGroupMembers) expect(((await target.readGroupMembers(gKey)) ?? []).map(norm)).toEqual([norm(b.key)]);
      }

      await apply({ kind: 'deleteGroup', key: gKey });
      if (target.readGroup) expect(await target.readGroup(gKey)).toBeUndefined();
      await apply({ kind: 'deleteGroup', key: gKey });
    });

    it('listUsers returns what was created', async (ctx) => {
      unless(caps.read && caps.create, ctx.skip, 'read+create');
      const created = [await create(), await create(), await create()];
      const listed = new Map<string, string | undefined>();
      for await (const entry of host.listUsers()) listed.set(norm(entry.key), entry.user.userName);
      for (const { user, key } of created) expect(listed.get(norm(key))?.toLowerCase()).toBe(user.userName.toLowerCase());
    });

    it('findUser finds a created user by userName and misses an unknown one', async (ctx) => {
      unless(caps.lookup && caps.create, ctx.skip, 'lookup+create');
      const { user, key } = await create();
      expect(norm((await host.findUser({ userName: user.userName }))!.key)).toBe(norm(key));
      expect(await host.findUser({ userName: `missing-${randomUUID()}` })).toBeUndefined();
    });

    it('target down: every operation throws TransientError, then works once it is back', async (ctx) => {
      if (!target.stop || !target.start) ctx.skip('target has no stop/start');
      const existing = caps.create ? await create() : undefined;
      const group = caps.groups
        ? (await apply({ kind: 'upsertGroup', group: { scimId: randomUUID(), displayName: `conf-down-${n}`, attributes: {} } })).key!
        : undefined;
      await target.stop!();
      try {
        const ops: DistributiveOmit<ConnectorOperation, 'operationId'>[] = [];
        if (caps.create) ops.push({ kind: 'createUser', user: sample() });
        if (existing) {
          const { user, key } = existing;
          if (caps.update) ops.push({ kind: 'updateUser', key, user });
          if (caps.deactivate) ops.push({ kind: 'deactivateUser', key, user: { ...user, active: false } });
          if (caps.reactivate) ops.push({ kind: 'reactivateUser', key, user });
          if (caps.delete) ops.push({ kind: 'deleteUser', key });
        }
        if (group) {
          ops.push({ kind: 'upsertGroup', key: group, group: { scimId: randomUUID(), displayName: 'down', attributes: {} } });
          if (caps.membership && existing) {
            ops.push({ kind: 'addMembers', key: group, memberKeys: [existing.key] });
            ops.push({ kind: 'removeMembers', key: group, memberKeys: [existing.key] });
          }
          ops.push({ kind: 'deleteGroup', key: group });
        }
        for (const op of ops) {
          const err = await apply(op).catch((e: unknown) => e);
          expect(err, `${op.kind} while the target is down`).toBeInstanceOf(TransientError);
        }
        if (caps.read) {
          const err = await (async () => {
            for await (const _ of host.listUsers()) void _;
          })().catch((e: unknown) => e);
          expect(err, 'listUsers while the target is down').toBeInstanceOf(TransientError);
          record(err);
        }
        if (caps.lookup) {
          const err = await host.findUser({ userName: 'anyone' }).catch((e: unknown) => e);
          expect(err, 'findUser while the target is down').toBeInstanceOf(TransientError);
          record(err);
        }
        const t = await host.test();
        expect(t.ok).toBe(false);
        expect(t.message).toContain(setup.hostLabel);
        // The gateway starts connectors while targets may be down: init must not fail.
        const late = await createConnectorHost(setup.definition, { config: setup.config, secrets: setup.secrets, logger });
        await late.dispose();
      } finally {
        await target.start!();
      }
      if (caps.create) await create();
    });

    it('no error message or log line carries a secret, and every error is typed', () => {
      const secrets = Object.values(setup.secrets).filter((s) => s.length >= 4);
      for (const text of [...errors.map((e) => e.text), ...logLines]) for (const s of secrets) expect(text).not.toContain(s);
      // Every error leaving the host is typed, so the outbox can choose between retry and dead letter.
      expect(errors.filter((e) => !e.typed).map((e) => e.text)).toEqual([]);
    });
  });
}

/** Omit over each member of a union (plain Omit collapses the discriminant). */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
