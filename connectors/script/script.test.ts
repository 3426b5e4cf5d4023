/**
 * The conformance kit against the example script (examples/jsonl-store.mjs), run as a real
 * executable through its shebang, keeping a JSON Lines store in a temp directory. The kit reads
 * the store's files directly. "Target down" is the store directory going away: the script exits
 * 75 (EX_TEMPFAIL), which must be a TransientError.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runConnectorConformance } from '../sdk/conformance.js';
import { createScriptConnector } from './index.js';

const EXAMPLE = fileURLToPath(new URL('./examples/jsonl-store.mjs', import.meta.url));
const ACCESS_KEY = 'store-access-K3y-for-tests';

let base: string;
let store: string;

function records(file: string): Array<Record<string, any>> {
  const path = join(store, file);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

function resetStore(): void {
  rmSync(store, { recursive: true, force: true });
  mkdirSync(store);
  writeFileSync(join(store, '.access-key'), ACCESS_KEY);
}

runConnectorConformance(
  'script (examples/jsonl-store.mjs)',
  async () => {
    base = mkdtempSync(join(tmpdir(), 'scim-bridge-script-'));
    store = join(base, 'store');
    resetStore();
    return {
      definition: createScriptConnector(),
      config: {
        command: EXAMPLE,
        env: { JSONL_STORE_DIR: store },
        timeoutMs: 10_000,
        maxConcurrent: 2,
        operations: { groups: true, listUsers: true, findUser: true },
      },
      secrets: { 'credentials.apiKey': ACCESS_KEY },
      wrongSecrets: { 'credentials.apiKey': 'not-the-key' },
      hostLabel: EXAMPLE,
      teardown: async () => rmSync(base, { recursive: true, force: true }),
    };
  },
  {
    async readUser(key) {
      const u = records('users.jsonl').find((r) => r.key === key);
      return u && { userName: u.userName, active: u.active, attributes: u.attributes };
    },
    async readGroup(key) {
      const g = records('groups.jsonl').find((r) => r.key === key);
      return g && { displayName: g.displayName };
    },
    async readGroupMembers(key) {
      return records('groups.jsonl').find((r) => r.key === key)?.members;
    },
    countUsers: async (userName) => records('users.jsonl').filter((u) => u.userName.toLowerCase() === userName.toLowerCase()).length,
    stop: async () => renameSync(store, `${store}.away`),
    start: async () => {
      if (existsSync(`${store}.away`)) renameSync(`${store}.away`, store);
    },
    reset: async () => resetStore(),
  },
);
