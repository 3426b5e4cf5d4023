import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import {
  AlreadyExistsError,
  ConnectorConfigError,
  ConnectorContractError,
  NETWORK_ERROR_CODES,
  NotFoundError,
  classifyError,
  PermanentError,
  REDACTED,
  TransientError,
  createConnectorHost,
  defineConnector,
  secret,
  type Connector,
  type ConnectorCapabilities,
  type ConnectorLogger,
  type ConnectorOperation,
  type InitContext,
  type TargetUser,
} from './index.js';

const configSchema = z.object({
  url: z.url(),
  bindDn: z.string().min(1),
  bindPassword: secret(z.string().min(6)),
  pageSize: z.number().int().positive().default(100),
});
type Config = z.infer<typeof configSchema>;

const SECRET = 'hunter22-secret';
const ALL: ConnectorCapabilities = {
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
};

const user: TargetUser = { scimId: 's1', userName: 'ada', active: true, attributes: { mail: 'ada@example.org' } };

/** A connector whose every method is a spy; `overrides` replace individual methods. */
function fake(overrides: Partial<Connector<Config>> = {}) {
  let initCtx: InitContext<Config> | undefined;
  const spies = {
    init: vi.fn(async (ctx: InitContext<Config>) => {
      initCtx = ctx;
    }),
    test: vi.fn(async () => ({ ok: true, message: 'bound to ldap://dir as cn=admin' })),
    dispose: vi.fn(async () => {}),
    createUser: vi.fn(async () => ({ key: 'uid=ada' })),
    updateUser: vi.fn(async () => undefined),
    deactivateUser: vi.fn(async () => undefined),
    reactivateUser: vi.fn(async () => undefined),
    deleteUser: vi.fn(async () => {}),
    upsertGroup: vi.fn(async () => ({ key: 'cn=g' })),
    deleteGroup: vi.fn(async () => {}),
    addMembers: vi.fn(async () => {}),
    removeMembers: vi.fn(async () => {}),
    listUsers: vi.fn(async function* () {
      yield { key: 'uid=ada', user: { userName: 'ada' } };
    }),
    findUser: vi.fn(async () => undefined),
    preview: vi.fn(async (op: ConnectorOperation) => ({ requests: [{ description: `LDAP ${op.kind}`, detail: { pw: SECRET } }] })),
  };
  const connector = { ...spies, ...overrides } as Connector<Config>;
  return { spies, connector, initCtx: () => initCtx };
}

async function hostFor(
  connector: Connector<Config>,
  capabilities: ConnectorCapabilities = ALL,
  extra: { config?: unknown; secrets?: Record<string, string>; logger?: ConnectorLogger } = {},
) {
  const def = defineConnector(
    { type: 'fake-ldap', displayName: 'Fake', version: '0.1.0', description: 'test', configSchema, capabilities },
    () => connector,
  );
  return createConnectorHost(def, {
    config: extra.config ?? { url: 'ldap://dir.example.org', bindDn: 'cn=admin' },
    secrets: extra.secrets ?? { bindPassword: SECRET },
    ...(extra.logger ? { logger: extra.logger } : {}),
  });
}

describe('config validation', () => {
  it('names the offending keys', async () => {
    const err = await hostFor(fake().connector, ALL, { config: { url: 'not a url', pageSize: -1 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorConfigError);
    const paths = (err as ConnectorConfigError).issues.map((i) => i.path).sort();
    expect(paths).toEqual(['bindDn', 'pageSize', 'url']);
    expect((err as Error).message).toMatch(/^connector "fake-ldap" configuration is invalid: .*url: /);
  });

  it('says where a missing required secret lives', async () => {
    const err = await hostFor(fake().connector, ALL, { secrets: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorConfigError);
    expect((err as Error).message).toContain('bindPassword: secret is not set');
    expect((err as Error).message).toContain('keychain');
  });

  it('validates the secret value without quoting it', async () => {
    const err = await hostFor(fake().connector, ALL, { secrets: { bindPassword: 'abc' } }).catch((e: unknown) => e);
    expect((err as ConnectorConfigError).issues[0].path).toBe('bindPassword');
    expect((err as Error).message).not.toContain('abc');
  });

  it('hands the connector parsed config without secrets; secrets come from secrets.get', async () => {
    const f = fake();
    const host = await hostFor(f.connector, ALL, {
      config: { url: 'ldap://dir.example.org', bindDn: 'cn=admin', bindPassword: 'stale-value-in-db' },
    });
    const ctx = f.initCtx()!;
    expect(ctx.config).toEqual({ url: 'ldap://dir.example.org', bindDn: 'cn=admin', pageSize: 100 });
    expect(host.config).not.toHaveProperty('bindPassword');
    expect(await ctx.secrets.get('bindPassword')).toBe(SECRET);
  });

  it('refuses, before init, a connector missing a method its capabilities need', async () => {
    const f = fake({ deleteGroup: undefined });
    const err = await hostFor(f.connector).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorContractError);
    expect((err as Error).message).toContain('capability "groups" requires method deleteGroup');
    expect(f.spies.init).not.toHaveBeenCalled();
  });
});

describe('error mapping', () => {
  const op: ConnectorOperation = { kind: 'updateUser', operationId: 'op-1', key: 'uid=ada', user };
  const failWith = async (thrown: unknown) => {
    const host = await hostFor(fake({ updateUser: async () => Promise.reject(thrown) }).connector);
    return host.apply(op).catch((e: unknown) => e);
  };
  const errnoError = (code: string) => Object.assign(new Error(`connect ${code} 10.0.0.1:389`), { code });

  it.each([...NETWORK_ERROR_CODES])('%s becomes a TransientError', async (code) => {
    const err = await failWith(errnoError(code));
    expect(err).toBeInstanceOf(TransientError);
    expect((err as TransientError).code).toBe('target_unreachable');
    expect((err as Error).message).toContain(code);
  });

  it('finds the errno in a cause chain (fetch) and in an AggregateError (happy eyeballs)', async () => {
    expect(await failWith(new TypeError('fetch failed', { cause: errnoError('ECONNRESET') }))).toBeInstanceOf(TransientError);
    expect(await failWith(new AggregateError([errnoError('ECONNREFUSED'), errnoError('ECONNREFUSED')]))).toBeInstanceOf(
      TransientError,
    );
    expect(await failWith(new DOMException('timed out', 'TimeoutError'))).toBeInstanceOf(TransientError);
  });

  it('classifies by the network code wherever it sits in the cause chain', () => {
    const codeArb = fc.oneof(fc.constantFrom(...NETWORK_ERROR_CODES), fc.constantFrom('EACCES', 'ENOENT', 'ERR_X', 'EINVAL'));
    fc.assert(
      fc.property(codeArb, fc.nat(4), (code, depth) => {
        let err: Error = Object.assign(new Error('inner'), { code });
        for (let i = 0; i < depth; i++) err = new Error(`wrap ${i}`, { cause: err });
        expect(classifyError(err)).toBeInstanceOf(NETWORK_ERROR_CODES.has(code) ? TransientError : PermanentError);
      }),
    );
  });

  it('anything else becomes a PermanentError', async () => {
    const err = await failWith(new RangeError('bad value'));
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as PermanentError).code).toBe('unexpected_error');
    expect(await failWith('a string')).toBeInstanceOf(PermanentError);
    expect(await failWith(errnoError('EACCES'))).toBeInstanceOf(PermanentError);
  });

  it('typed errors pass through with their code and retry hint, plus timing', async () => {
    const err = await failWith(new TransientError('busy', { code: 'ldap_busy', retryAfterMs: 5000 }));
    expect(err).toMatchObject({ code: 'ldap_busy', retryAfterMs: 5000, retryable: true, operationKind: 'updateUser' });
    expect((err as TransientError).durationMs).toBeGreaterThanOrEqual(0);
  });

  it('refuses an operation whose capability is not declared, and a malformed one', async () => {
    const host = await hostFor(fake().connector, { create: true });
    expect(await host.apply(op).catch((e: unknown) => e)).toMatchObject({ code: 'unsupported_operation' });
    const bad = { kind: 'createUser', operationId: 'x', user: { userName: '' } } as unknown as ConnectorOperation;
    expect(await host.apply(bad).catch((e: unknown) => e)).toMatchObject({ code: 'invalid_operation' });
  });
});

describe('redaction', () => {
  it('removes secrets from messages, stacks and causes the host rethrows', async () => {
    const leak = new Error(`bind cn=admin with ${SECRET} failed`);
    const host = await hostFor(
      fake({
        updateUser: async () => {
          throw new PermanentError(`rejected password ${SECRET}`, { cause: leak });
        },
        deleteUser: async () => {
          throw leak;
        },
      }).connector,
    );
    for (const o of [
      { kind: 'updateUser', operationId: '1', key: 'k', user },
      { kind: 'deleteUser', operationId: '2', key: 'k' },
    ] as ConnectorOperation[]) {
      const err = (await host.apply(o).catch((e: unknown) => e)) as Error;
      expect(err.message).toContain(REDACTED);
      expect(`${err.message}${err.stack}${(err.cause as Error | undefined)?.message}`).not.toContain(SECRET);
    }
  });

  it("removes the user's password and secrets read later from errors", async () => {
    const host = await hostFor(
      fake({
        init: async (ctx) => {
          await ctx.secrets.get('extraToken');
        },
        createUser: async (u) => {
          throw new Error(`refused ${u.password} and token-abcdef`);
        },
      }).connector,
      { ...ALL, passwords: true },
      { secrets: { bindPassword: SECRET, extraToken: 'token-abcdef' } },
    );
    const err = (await host.apply({ kind: 'createUser', operationId: '1', user: { ...user, password: 'Pa55word!' } }).catch(
      (e: unknown) => e,
    )) as Error;
    expect(err.message).toBe(`refused ${REDACTED} and ${REDACTED}`);
  });

  it('redacts what the connector logs and what test() reports', async () => {
    const lines: string[] = [];
    const log = (m: string, f?: Record<string, unknown>) => lines.push(m + JSON.stringify(f));
    const logger: ConnectorLogger = { debug: log, info: log, warn: log, error: log };
    const host = await hostFor(
      fake({
        init: async (ctx) => {
          const pw = await ctx.secrets.get('bindPassword');
          ctx.logger.info(`binding with ${pw}`, { pw, nested: [pw] });
        },
        test: async () => ({ ok: false, message: `invalid credentials ${SECRET} for cn=admin at ldap://dir`, details: { pw: SECRET } }),
      }).connector,
      ALL,
      { logger },
    );
    expect(lines.join('\n')).not.toContain(SECRET);
    const result = await host.test();
    expect(JSON.stringify(result)).not.toContain(SECRET);
    expect(result.message).toContain('ldap://dir');
  });

  it('strips the password when the connector did not ask for it', async () => {
    const f = fake();
    const host = await hostFor(f.connector, ALL);
    await host.apply({ kind: 'createUser', operationId: '1', user: { ...user, password: 'Pa55word!' } });
    expect(f.spies.createUser.mock.calls[0]).not.toContainEqual(expect.objectContaining({ password: expect.anything() }));
  });
});

describe('idempotency rules the host owns', () => {
  it('delete of a missing entry succeeds', async () => {
    const host = await hostFor(
      fake({
        deleteUser: async () => Promise.reject(new NotFoundError('gone')),
        deleteGroup: async () => Promise.reject(new NotFoundError('gone')),
      }).connector,
    );
    expect(await host.apply({ kind: 'deleteUser', operationId: '1', key: 'k' })).toMatchObject({ outcome: 'already-absent' });
    expect(await host.apply({ kind: 'deleteGroup', operationId: '2', key: 'g' })).toMatchObject({ outcome: 'already-absent' });
  });

  it('create of an existing user becomes an update of its key', async () => {
    const f = fake({ createUser: async () => Promise.reject(new AlreadyExistsError('exists', 'uid=ada')) });
    const host = await hostFor(f.connector);
    const result = await host.apply({ kind: 'createUser', operationId: '1', user });
    expect(result).toMatchObject({ key: 'uid=ada', outcome: 'updated-existing' });
    expect(f.spies.updateUser).toHaveBeenCalledWith('uid=ada', user, expect.objectContaining({ operationId: '1', attempt: 1 }));
  });

  it('without the update capability, an existing user is linked as is', async () => {
    const f = fake({ createUser: async () => Promise.reject(new AlreadyExistsError('exists', 'uid=ada')) });
    const host = await hostFor(f.connector, { create: true });
    expect(await host.apply({ kind: 'createUser', operationId: '1', user })).toMatchObject({ key: 'uid=ada', outcome: 'already-present' });
    expect(f.spies.updateUser).not.toHaveBeenCalled();
  });

  it('passes the retry attempt through to the connector', async () => {
    const f = fake();
    const host = await hostFor(f.connector);
    await host.apply({ kind: 'deleteUser', operationId: 'op-7', attempt: 3, key: 'k' });
    expect(f.spies.deleteUser).toHaveBeenCalledWith('k', expect.objectContaining({ operationId: 'op-7', attempt: 3 }));
  });

  it('update returns the new key on rename, the old one otherwise', async () => {
    const host = await hostFor(fake({ updateUser: async () => ({ key: 'uid=ada2' }) }).connector);
    expect((await host.apply({ kind: 'updateUser', operationId: '1', key: 'uid=ada', user })).key).toBe('uid=ada2');
    const plain = await hostFor(fake().connector);
    expect((await plain.apply({ kind: 'updateUser', operationId: '1', key: 'uid=ada', user })).key).toBe('uid=ada');
  });
});

describe('reads', () => {
  it('maps errors from listUsers and findUser, and refuses them without the capability', async () => {
    const down = Object.assign(new Error(`connect ECONNREFUSED (pw ${SECRET})`), { code: 'ECONNREFUSED' });
    const host = await hostFor(
      fake({
        listUsers: async function* () {
          yield* [];
          throw down;
        },
        findUser: async () => Promise.reject(down),
      }).connector,
    );
    const listErr = await (async () => {
      for await (const _ of host.listUsers()) void _;
    })().catch((e: unknown) => e);
    expect(listErr).toBeInstanceOf(TransientError);
    expect((listErr as Error).message).not.toContain(SECRET);
    expect(await host.findUser({ userName: 'ada' }).catch((e: unknown) => e)).toBeInstanceOf(TransientError);

    const bare = await hostFor(fake().connector, { create: true });
    expect(await bare.findUser({ externalId: 'x' }).catch((e: unknown) => e)).toMatchObject({ code: 'unsupported_operation' });
  });

  it('passes entries through', async () => {
    const host = await hostFor(fake().connector);
    const keys: string[] = [];
    for await (const e of host.listUsers()) keys.push(e.key);
    expect(keys).toEqual(['uid=ada']);
  });
});

describe('dry-run', () => {
  const ops: ConnectorOperation[] = [
    { kind: 'createUser', operationId: '1', user },
    { kind: 'updateUser', operationId: '2', key: 'k', user },
    { kind: 'deactivateUser', operationId: '3', key: 'k', user },
    { kind: 'reactivateUser', operationId: '4', key: 'k', user },
    { kind: 'deleteUser', operationId: '5', key: 'k' },
    { kind: 'upsertGroup', operationId: '6', group: { scimId: 'g', displayName: 'G', attributes: {} } },
    { kind: 'deleteGroup', operationId: '7', key: 'g' },
    { kind: 'addMembers', operationId: '8', key: 'g', memberKeys: ['k'] },
    { kind: 'removeMembers', operationId: '9', key: 'g', memberKeys: ['k'] },
  ];
  const writes = ['createUser', 'updateUser', 'deactivateUser', 'reactivateUser', 'deleteUser', 'upsertGroup', 'deleteGroup', 'addMembers', 'removeMembers'] as const;

  it('calls preview and never a write method, redacting the plan', async () => {
    const f = fake();
    const host = await hostFor(f.connector);
    for (const op of ops) {
      const plan = await host.dryRun(op);
      expect(plan).toMatchObject({ kind: op.kind, detailed: true, connectorType: 'fake-ldap' });
      expect(JSON.stringify(plan)).not.toContain(SECRET);
    }
    expect(f.spies.preview).toHaveBeenCalledTimes(ops.length);
    for (const w of writes) expect(f.spies[w]).not.toHaveBeenCalled();
  });

  it('describes the operation generically when the connector has no preview', async () => {
    const f = fake();
    const host = await hostFor(f.connector, { ...ALL, dryRun: false });
    const plan = await host.dryRun(ops[0]);
    expect(plan).toMatchObject({ detailed: false, summary: 'create user "ada" (SCIM id s1)' });
    expect(f.spies.preview).not.toHaveBeenCalled();
    for (const w of writes) expect(f.spies[w]).not.toHaveBeenCalled();
  });
});

describe('operation events', () => {
  it('reports timing and outcome of each call', async () => {
    const events: unknown[] = [];
    const def = defineConnector(
      { type: 'fake-ldap', displayName: 'F', version: '0.1.0', description: 'd', configSchema, capabilities: ALL },
      () => fake({ deleteUser: async () => Promise.reject(new TransientError('busy')) }).connector,
    );
    const host = await createConnectorHost(def, {
      config: { url: 'ldap://x', bindDn: 'cn=a' },
      secrets: { bindPassword: SECRET },
      onOperation: (e) => events.push(e),
    });
    await host.apply({ kind: 'createUser', operationId: 'a', user });
    await host.apply({ kind: 'deleteUser', operationId: 'b', key: 'k' }).catch(() => undefined);
    expect(events).toEqual([
      expect.objectContaining({ kind: 'createUser', operationId: 'a', ok: true, outcome: 'applied', durationMs: expect.any(Number) }),
      expect.objectContaining({ kind: 'deleteUser', operationId: 'b', ok: false, errorCode: 'transient', retryable: true }),
    ]);
  });
});
