/** Connector secrets end to end: `scim-bridge secrets` stores them, the gateway hands them to the connector, nothing leaks. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createDemoConnector, DemoDirectory } from '../../connectors/demo/index.js';
import type { ConnectorDefinition } from '../../connectors/sdk/index.js';
import { loadConfig } from '../../src/gateway/config.js';
import { startGateway } from '../../src/gateway/server.js';
import { runCli } from '../helpers/cli.js';

const dataDir = mkdtempSync(join(tmpdir(), 'scim-bridge-secrets-cli-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
const SECRET = 'Vault-Key-7f3a9c';
const env = { SCIM_BRIDGE_SECRETS_BACKEND: 'file' };

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe('scim-bridge secrets', () => {
  it('stores a value read from stdin, lists accounts only, and the gateway gives it to the connector', async () => {
    const set = runCli(['secrets', 'set', 'vault-demo', 'accessKey', '--data-dir', dataDir], env, `${SECRET}\n`);
    expect(set.status, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/Stored vault-demo:accessKey in /);
    const list = runCli(['secrets', 'list', '--data-dir', dataDir], env);
    expect(list.stdout).toContain('vault-demo:accessKey');
    expect(list.stdout + list.stderr + set.stdout + set.stderr).not.toContain(SECRET);
    expect(runCli(['secrets', 'set', 'vault-demo', 'accessKey', '--data-dir', dataDir], env, '').stderr).toMatch(/No value on stdin/);

    // The directory only answers to the right key: the connector runs only if the secret arrived.
    const directory = new DemoDirectory({ accessKey: SECRET });
    const types = new Map<string, () => ConnectorDefinition<unknown>>([['vault-demo', () => ({ ...createDemoConnector(directory), manifest: { ...createDemoConnector(directory).manifest, type: 'vault-demo' } }) as unknown as ConnectorDefinition<unknown>]]);
    const logLines: string[] = [];
    const logger = pino({ level: 'trace' }, { write: (line: string) => void logLines.push(line) });
    const config = loadConfig({
      env: {},
      flags: { dataDir, port: 0, adminPort: 0, host: '127.0.0.1', secretsBackend: 'file', connections: { default: { connectors: [{ id: 'vault-demo', type: 'vault-demo', config: { accessKey: { $secret: true } } }] } } },
    });
    const gw = await startGateway(config, { logger, connectorTypes: types });
    try {
      expect(gw.connections.status()).toEqual([expect.objectContaining({ id: 'vault-demo', state: 'running' })]);
      expect((await gw.connectors.get('vault-demo')!.host.test()).ok).toBe(true);
      expect(gw.secrets?.describe()).toMatchObject({ backend: 'file' });
    } finally {
      await gw.stop();
    }
    expect(logLines.join('\n')).not.toContain(SECRET);
    for (const file of filesUnder(dataDir)) expect(readFileSync(file, 'latin1').includes(SECRET), file).toBe(false);

    expect(runCli(['secrets', 'delete', 'vault-demo', 'accessKey', '--data-dir', dataDir], env).stdout).toMatch(/Deleted vault-demo:accessKey/);
  });
});
