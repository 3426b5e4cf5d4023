/**
 * SCIM in, record in the script's store out: a real gateway with a `script` connector running the
 * example script (connectors/script/examples/jsonl-store.mjs) through its shebang, its access key
 * from the environment ({"$env": ...}); checked by reading the store's JSON Lines files.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP_SCHEMA, PATCH_OP, startTestGateway, user, waitFor, type TestGateway } from '../helpers/gateway.js';

const EXAMPLE = fileURLToPath(new URL('../../connectors/script/examples/jsonl-store.mjs', import.meta.url));
const KEY_ENV = 'SCIM_BRIDGE_SECRET_TEST_SCRIPT_KEY';
const ACCESS_KEY = 'e2e-store-K3y';

let base: string;
let store: string;
let gw: TestGateway;

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'scim-bridge-e2e-script-'));
  store = join(base, 'store');
  mkdirSync(store);
  writeFileSync(join(store, '.access-key'), ACCESS_KEY);
  process.env[KEY_ENV] = ACCESS_KEY;
  gw = await startTestGateway({
    connections: {
      default: {
        policies: { deleteMode: 'hard' },
        connectors: [
          {
            id: 'script-1',
            type: 'script',
            config: {
              command: EXAMPLE,
              env: { JSONL_STORE_DIR: store },
              credentials: { apiKey: { $env: KEY_ENV } },
              timeoutMs: 10_000,
              maxConcurrent: 2,
              operations: { groups: true, listUsers: true, findUser: true },
            },
          },
        ],
      },
    },
  });
});
afterAll(async () => {
  await gw?.stop();
  delete process.env[KEY_ENV];
  rmSync(base, { recursive: true, force: true });
});

function records(file: string): Array<Record<string, any>> {
  const path = join(store, file);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}
const stored = (userName: string) => records('users.jsonl').find((u) => u.userName === userName);
const outboxEmpty = async () => (await gw.gateway.store.outboxList()).length === 0;

describe('script connector end to end (example JSON Lines store)', () => {
  it('the connector started with its key from the environment', async () => {
    const instance = gw.gateway.connectors.get('script-1');
    expect(instance, 'connector script-1 should be running').toBeDefined();
    expect(await instance!.host.test()).toMatchObject({ ok: true, message: `script ${EXAMPLE} answered the test (exit 0): store ${store}: 0 user(s), 0 group(s)` });
  });

  it('create, update, deactivate, group membership and delete reach the store', async () => {
    const c = gw.client;
    const created = await c.post('/Users', user('katherine.johnson@example.com', { externalId: 'entra-42', name: { givenName: 'Katherine', familyName: 'Johnson' } }));
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    await waitFor(() => stored('katherine.johnson@example.com') !== undefined, 10_000, 'the user in the store');
    const record = stored('katherine.johnson@example.com')!;
    expect(record).toMatchObject({ scimId: id, externalId: 'entra-42', active: true, attributes: { givenName: 'Katherine', familyName: 'Johnson' } });
    await waitFor(async () => (await gw.gateway.store.linkOf('script-1', id)) === record.key, 10_000, 'the link to the key the script printed');

    await c.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'Mathematician' }] });
    await waitFor(() => stored('katherine.johnson@example.com')?.attributes.title === 'Mathematician', 10_000, 'the update in the store');
    await c.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] });
    await waitFor(() => stored('katherine.johnson@example.com')?.active === false, 10_000, 'the deactivation in the store');

    const group = await c.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Flight Research', members: [{ value: id }] });
    expect(group.status).toBe(201);
    await waitFor(() => records('groups.jsonl').some((g) => g.displayName === 'Flight Research' && g.members.includes(record.key)), 10_000, 'the group with its member');

    // Reconciliation reads the store back through the script's listUsers: no drift.
    await waitFor(outboxEmpty, 10_000, 'an empty outbox');
    expect(await gw.gateway.reconcile('script-1')).toMatchObject({ checked: 1, missing: [], extra: [], different: [] });

    expect((await c.delete(`/Users/${id}`)).status).toBe(204);
    await waitFor(() => stored('katherine.johnson@example.com') === undefined, 10_000, 'the user deleted from the store');
    await waitFor(outboxEmpty, 10_000, 'an empty outbox');
    expect(records('groups.jsonl').find((g) => g.displayName === 'Flight Research')?.members).toEqual([]);
    expect(await gw.gateway.store.outboxList({ state: 'dead' })).toEqual([]);

  });
});
