import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDemoConnector, DemoDirectory } from '../../../connectors/demo/index.js';
import { silentLogger, type ConnectorDefinition } from '../../../connectors/sdk/index.js';
import { createSchemaRegistry } from '../scim/index.js';
import type { Store } from '../store/index.js';
import { CONNECTIONS_FILE, createConnectionRegistry, type ConnectionRegistryOptions, type SecretSource } from './connections.js';

/** An in-memory SecretSource: the real keychain store is tested in secrets/. */
class MapSecrets implements SecretSource {
  readonly values = new Map<string, string>();
  async get(account: string) {
    return this.values.get(account);
  }
  async set(account: string, value: string) {
    this.values.set(account, value);
  }
  async delete(account: string) {
    this.values.delete(account);
  }
}

const quiet = { info() {}, warn() {}, error() {} };
let dataDir: string;
let directory: DemoDirectory;
let secrets: MapSecrets;

function options(overrides: Partial<ConnectionRegistryOptions> = {}): ConnectionRegistryOptions {
  return {
    dataDir,
    configured: {},
    types: new Map([['demo', () => createDemoConnector(directory) as unknown as ConnectorDefinition<unknown>]]),
    resolver: createSchemaRegistry().resolver('User'),
    // Only deliveries read the store (links); these cases deliver nothing through a running instance.
    store: {} as Store,
    secrets,
    loggerFor: () => silentLogger,
    logger: quiet,
    ...overrides,
  };
}

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'scim-bridge-connections-'));
  directory = new DemoDirectory({ accessKey: 'right-key-1234' });
  secrets = new MapSecrets();
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

describe('connection registry', () => {
  it('keeps config-file connections read-only and says where to change them', async () => {
    const reg = createConnectionRegistry(options({ configured: { hr: { policies: { allowCreate: false }, connectors: [] } } }));
    await reg.start();
    expect(reg.get('hr')).toMatchObject({ source: 'config', policies: { allowCreate: false } });
    await expect(reg.upsert('hr', { policies: {} })).rejects.toThrow(/managed by the config file/);
    await expect(reg.remove('hr')).rejects.toThrow(/managed by the config file/);
  });

  it('creates a runtime connection, moves its secret to the secret store, persists it and restarts it', async () => {
    const reg = createConnectionRegistry(options());
    await reg.start();
    const view = await reg.upsert('sales', { policies: { deleteMode: 'hard' }, connectors: [{ id: 'demo-s', type: 'demo', config: { name: 'sales', accessKey: 'right-key-1234' } }] });
    expect(view.connectors[0].config).toEqual({ name: 'sales', accessKey: { $secret: true } });
    expect(secrets.values.get('demo-s:accessKey')).toBe('right-key-1234');
    expect(readFileSync(join(dataDir, CONNECTIONS_FILE), 'utf8')).not.toContain('right-key-1234');
    expect(reg.status()).toEqual([expect.objectContaining({ id: 'demo-s', state: 'running' })]);
    expect(reg.policyOf('sales').deleteMode).toBe('hard');
    expect(reg.connectorsOf('sales')).toEqual(['demo-s']);

    // An edit that leaves the secret out keeps it; the instance restarts with the new config.
    const before = reg.instances.get('demo-s');
    await reg.upsert('sales', { connectors: [{ id: 'demo-s', type: 'demo', config: { name: 'sales-2', accessKey: { $secret: true } } }] });
    expect(reg.instances.get('demo-s')).not.toBe(before);
    expect(reg.status()[0]).toMatchObject({ state: 'running' });
    await reg.dispose();

    // A restart reads connections.json back.
    const again = createConnectionRegistry(options());
    await again.start();
    expect(again.get('sales')).toMatchObject({ source: 'runtime', connectors: [{ id: 'demo-s', config: { name: 'sales-2' } }] });
    expect(again.status()[0]).toMatchObject({ state: 'running' });
    await again.remove('sales');
    expect(again.get('sales')).toBeUndefined();
    expect(secrets.values.has('demo-s:accessKey')).toBe(false);
    await again.dispose();
  });

  it('refuses a connector id used by another connection, an unknown type and a bad policy', async () => {
    const reg = createConnectionRegistry(options({ configured: { hr: { policies: {}, connectors: [{ id: 'demo-1', type: 'demo', config: { accessKey: { $env: 'SCIM_BRIDGE_SECRET_K' } }, mapping: {} }] } }, env: { SCIM_BRIDGE_SECRET_K: 'right-key-1234' } }));
    await reg.start();
    await expect(reg.upsert('sales', { connectors: [{ id: 'demo-1', type: 'demo' }] })).rejects.toThrow(/already used by connection "hr"/);
    await expect(reg.upsert('sales', { connectors: [{ id: 'x-1', type: 'nope' }] })).rejects.toThrow(/unknown type "nope"/);
    await expect(reg.upsert('sales', { policies: { deleteMode: 'sometimes' } })).rejects.toThrow(/deleteMode/);
    await expect(reg.upsert('Bad Name', {})).rejects.toThrow(/lower-case/);
    await reg.dispose();
  });

  it('reads a secret written as {"$env"} from a SCIM_BRIDGE_SECRET_* variable only, and refuses one written in clear', async () => {
    const reg = createConnectionRegistry(
      options({
        env: { SCIM_BRIDGE_SECRET_DEMO_KEY: 'right-key-1234', DEMO_KEY: 'right-key-1234', SCIM_BRIDGE_DATABASE_URL: 'postgres://scim:db-password@db/scim' },
        configured: {
          a: { policies: {}, connectors: [{ id: 'from-env', type: 'demo', config: { accessKey: { $env: 'SCIM_BRIDGE_SECRET_DEMO_KEY' } }, mapping: {} }] },
          b: { policies: {}, connectors: [{ id: 'in-clear', type: 'demo', config: { accessKey: 'right-key-1234' }, mapping: {} }] },
          c: { policies: {}, connectors: [{ id: 'any-env', type: 'demo', config: { accessKey: { $env: 'DEMO_KEY' } }, mapping: {} }] },
          d: { policies: {}, connectors: [{ id: 'own-setting', type: 'demo', config: { accessKey: { $env: 'SCIM_BRIDGE_DATABASE_URL' } }, mapping: {} }] },
        },
      }),
    );
    await reg.start();
    const byId = Object.fromEntries(reg.status().map((s) => [s.id, s]));
    expect(byId['from-env'].state).toBe('running');
    expect(byId['any-env']).toMatchObject({ state: 'failed', error: expect.stringMatching(/DEMO_KEY.*only from variables whose name starts with SCIM_BRIDGE_SECRET_.*rename it to SCIM_BRIDGE_SECRET_DEMO_KEY/) });
    expect(byId['own-setting']).toMatchObject({ state: 'failed', error: expect.stringMatching(/SCIM_BRIDGE_DATABASE_URL.*the gateway's own settings are never handed to a connector/) });
    expect(byId['own-setting'].error).not.toContain('db-password');
    expect(byId['in-clear']).toMatchObject({ state: 'failed' });
    expect(byId['in-clear'].error).toMatch(/is a secret: do not write its value in the configuration/);
    expect(byId['in-clear'].error).not.toContain('right-key-1234');
    // The failed connector's deliveries wait (transient) instead of dead-lettering.
    await expect(reg.target('in-clear')!.deliver({} as never, undefined)).rejects.toMatchObject({ name: 'TransientError' });
    await reg.dispose();
  });
});
