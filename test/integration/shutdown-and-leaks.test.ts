/**
 * SIGTERM under load: in-flight requests finish, new ones are told to come back, the process exits 0
 * and everything acknowledged is there after a restart. Then the whole run's logs and data dir are
 * searched for the SCIM token and a connector secret: neither may appear anywhere.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startServe, stopChild } from '../helpers/cli.js';
import { ScimClient, user, waitFor } from '../helpers/gateway.js';

const dir = mkdtempSync(join(tmpdir(), 'scim-bridge-shutdown-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const dataDir = join(dir, 'data');
const SECRET = 'Api-Key-9d81c2f7e4';

function filesUnder(d: string): string[] {
  return readdirSync(d).flatMap((name) => {
    const p = join(d, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe('clean shutdown and secrets hygiene', () => {
  it('drains on SIGTERM, loses nothing acknowledged, and never writes a token or a secret anywhere', { timeout: 60_000 }, async () => {
    const created = runCli(['token', 'create', '--name', 'drain', '--data-dir', dataDir]);
    const token = created.stdout.trimEnd().split('\n').pop()!;
    const env = {
      SCIM_BRIDGE_LOG_LEVEL: 'debug',
      SCIM_BRIDGE_RATE_LIMIT_PER_TOKEN: '0',
      SCIM_BRIDGE_SECRETS_BACKEND: 'file',
      SCIM_BRIDGE_SECRET_DEMO_ACCESS_KEY: SECRET,
      SCIM_BRIDGE_CONNECTIONS: JSON.stringify({ default: { connectors: [{ id: 'demo-s', type: 'demo', config: { accessKey: { $env: 'SCIM_BRIDGE_SECRET_DEMO_ACCESS_KEY' } } }] } }),
    };
    const args = ['--data-dir', dataDir, '--port', '0', '--admin-port', '0', '--host', '127.0.0.1'];
    const first = await startServe(args, env);
    const client = new ScimClient(first.scimUrl, token);
    // A secret set through the CLI too: it must stay in the encrypted file only.
    expect(runCli(['secrets', 'set', 'other-connector', 'password', '--data-dir', dataDir], { SCIM_BRIDGE_SECRETS_BACKEND: 'file' }, SECRET).status).toBe(0);

    const acked: string[] = [];
    const statuses: number[] = [];
    let stopAt = Infinity;
    const worker = async (w: number) => {
      for (let i = 0; i < 400; i++) {
        try {
          const r = await client.post('/Users', user(`drain-${w}-${i}@example.com`, { title: 'x' }));
          statuses.push(r.status);
          if (r.status === 201) acked.push(r.body.id);
          if (r.status === 503) return;
        } catch {
          return; // the listener closed: connection refused
        }
        if (statuses.length >= stopAt) return;
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    await waitFor(() => acked.length >= 40, 20_000, 'some acknowledged writes');
    const exit = stopChild(first.child, 'SIGTERM');
    stopAt = statuses.length + 400;
    await load;
    expect(await exit).toBe(0);
    expect(statuses.filter((s) => s !== 201 && s !== 503)).toEqual([]);
    expect(first.output()).not.toMatch(/"level":50/); // no errors logged on the way down

    const second = await startServe(args, env);
    try {
      const c = new ScimClient(second.scimUrl, token);
      for (const id of acked) expect((await c.get(`/Users/${id}`)).status, id).toBe(200);
      expect((await c.get('/Users?count=0')).body.totalResults).toBe(acked.length);
    } finally {
      expect(await stopChild(second.child)).toBe(0);
    }

    // Hygiene: nothing the gateway printed or stored contains the token or the secret in clear.
    const outputs = first.output() + second.output() + created.stderr;
    expect(outputs.includes(token)).toBe(false);
    expect(outputs.includes(SECRET)).toBe(false);
    for (const file of filesUnder(dataDir)) {
      const text = readFileSync(file, 'latin1');
      expect(text.includes(token), file).toBe(false);
      expect(text.includes(SECRET), file).toBe(false);
    }
  });
});
