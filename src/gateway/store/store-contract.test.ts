/** The Store contract suite against both implementations: lowdb in a temp dir, PostgreSQL in a fresh database per store. */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { cleanupDirs, openStore, tempDir } from '../../../test/fixtures/store/helpers.js';
import { startPostgres, type PostgresServer } from '../../../test/servers/postgres.js';
import { storeContract } from './contract.test-suite.js';
import { createPostgresStore, type Store } from './index.js';

afterEach(cleanupDirs);

const lowdbDirs = new WeakMap<Store, string>();
storeContract('lowdb', {
  async create() {
    const dir = await tempDir();
    const store = await openStore(dir);
    lowdbDirs.set(store, dir);
    return store;
  },
  async reopen(store) {
    const dir = lowdbDirs.get(store)!;
    const again = await openStore(dir);
    lowdbDirs.set(again, dir);
    return again;
  },
});

let pg: PostgresServer;
let databases = 0;
const urls = new WeakMap<Store, string>();
beforeAll(async () => {
  pg = await startPostgres();
}, 60_000);
afterAll(async () => {
  await pg?.close();
});

storeContract('postgres', {
  async create() {
    const url = await pg.createDatabase(`contract_${++databases}`);
    const store = createPostgresStore({ url, poolSize: 4 });
    await store.open();
    urls.set(store, url);
    return store;
  },
  async reopen(store) {
    const url = urls.get(store)!;
    const again = createPostgresStore({ url, poolSize: 4 });
    await again.open();
    urls.set(again, url);
    return again;
  },
});
