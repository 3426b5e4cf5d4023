// `npm run bench [-- --users 100000 --groups 10000 --big-group 50000 --duration 10]`
// Seeds a data dir, starts the built gateway as its own process, and measures it with autocannon
// at 32 connections against a bare express server (also its own process), runs alternating.
// Prints a table and writes bench/results.json. Budgets are checked here, never in unit tests.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const USERS = opt('users', 10_000);
const GROUPS = opt('groups', Math.max(1, Math.round(USERS / 10)));
const BIG_GROUP = Math.min(opt('big-group', Math.round(USERS / 2)), USERS);
const DURATION = opt('duration', 8);
const CONNECTIONS = opt('connections', 32);
// `--only PATCH` runs the scenarios whose name contains it (and their baselines); `--profile DIR`
// writes the gateway's CPU profile there (node --cpu-prof), for a look at a hot path.
const sopt = (name) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const ONLY = sopt('only');
const PROFILE_DIR = sopt('profile');
// `--store postgres` runs the gateway on PostgreSQL: the database at --database-url, else a
// throw-away server started here (fsync on, the server's defaults); figures go to results-postgres.json.
const STORE = sopt('store') ?? 'lowdb';
if (STORE !== 'lowdb' && STORE !== 'postgres') throw new Error(`--store must be lowdb or postgres, not ${STORE}`);

const { createLowdbStore, createPostgresStore } = await import(join(root, 'dist/src/gateway/store/index.js'));
const { createToken } = await import(join(root, 'dist/src/gateway/auth/index.js'));

const dataDir = mkdtempSync(join(tmpdir(), 'scim-bridge-bench-'));
const children = new Set();
// A failed run must not leave a gateway, the baseline or a database running.
const exitHooks = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  for (const h of exitHooks) h();
});

/** A private PostgreSQL in a temp dir on a free port (as the `postgres` user when we are root). */
async function startPostgres() {
  const { execFileSync } = await import('node:child_process');
  const { chownSync, existsSync, appendFileSync } = await import('node:fs');
  const { createServer } = await import('node:net');
  const versions = readdirSync('/usr/lib/postgresql').filter((v) => existsSync(join('/usr/lib/postgresql', v, 'bin', 'pg_ctl'))).sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error('--store postgres needs the postgresql package (or --database-url)');
  const bin = join('/usr/lib/postgresql', versions[0], 'bin');
  const root = process.getuid?.() === 0;
  const pgDir = mkdtempSync(join(tmpdir(), 'scim-bridge-bench-pg-'));
  const data = join(pgDir, 'data');
  if (root) {
    const [, , uid, gid] = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:')).split(':');
    chownSync(pgDir, Number(uid), Number(gid));
  }
  const run = (cmd, argv) => execFileSync(...(root ? ['runuser', ['-u', 'postgres', '--', cmd, ...argv]] : [cmd, argv]), { stdio: 'ignore' });
  const port = await new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = srv.address().port;
      srv.close(() => resolve(p));
    });
  });
  run(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C']);
  writeFileSync(join(data, 'pg_hba.conf'), 'local all all trust\nhost all all 127.0.0.1/32 trust\n');
  appendFileSync(join(data, 'postgresql.conf'), `\nlisten_addresses = '127.0.0.1'\nport = ${port}\nunix_socket_directories = '${pgDir}'\nshared_buffers = '128MB'\n`);
  run(join(bin, 'pg_ctl'), ['-D', data, '-l', join(pgDir, 'log'), '-w', 'start']);
  exitHooks.push(() => {
    try {
      run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } catch {
      /* already down */
    }
    rmSync(pgDir, { recursive: true, force: true });
  });
  run(join(bin, 'psql'), ['-h', pgDir, '-p', String(port), '-U', 'postgres', '-c', 'CREATE DATABASE bench']);
  return `postgres://postgres@127.0.0.1:${port}/bench`;
}
const DATABASE_URL = STORE === 'postgres' ? (sopt('database-url') ?? (await startPostgres())) : undefined;
const storeEnv = DATABASE_URL ? { SCIM_BRIDGE_STORE: 'postgres', SCIM_BRIDGE_DATABASE_URL: DATABASE_URL } : {};
const openStore = () => (DATABASE_URL ? createPostgresStore({ url: DATABASE_URL }) : createLowdbStore({ dataDir }));
const userIds = [];
const userNames = [];

async function seed() {
  const store = openStore();
  await store.open();
  const t0 = Date.now();
  const batch = 2000;
  for (let i = 0; i < USERS; i += batch) {
    const changes = [];
    for (let j = i; j < Math.min(USERS, i + batch); j++) {
      const id = randomUUID();
      const data = {
        userName: `user${j}@bench.example`,
        externalId: `ext-${j}`,
        active: true,
        displayName: `Bench User ${j}`,
        name: { givenName: 'Bench', familyName: `User${j}` },
        emails: [{ value: `user${j}@bench.example`, type: 'work', primary: true }],
      };
      userIds.push(id);
      userNames.push(data.userName);
      changes.push({ op: 'create', type: 'User', connection: 'default', id, data });
    }
    await store.commit({ changes });
  }
  const groupIds = [];
  for (let i = 0; i < GROUPS; i += batch) {
    const changes = [];
    for (let j = i; j < Math.min(GROUPS, i + batch); j++) {
      const id = randomUUID();
      groupIds.push(id);
      const members = j === 0 ? [] : [{ value: userIds[j % USERS], type: 'User' }];
      changes.push({ op: 'create', type: 'Group', connection: 'default', id, data: { displayName: `Group ${j}` }, members });
    }
    await store.commit({ changes });
  }
  // One big group: BIG_GROUP members, added in deltas.
  for (let i = 0; i < BIG_GROUP; i += 5000) {
    const add = userIds.slice(i, Math.min(BIG_GROUP, i + 5000)).map((value) => ({ value, type: 'User' }));
    await store.commit({ changes: [{ op: 'members', connection: 'default', groupId: groupIds[0], add }] });
  }
  await store.close();
  return { groupIds, seconds: (Date.now() - t0) / 1000 };
}


function startProcess(cmd, argv, env, ready) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.once('exit', () => children.delete(child));
    let out = '';
    child.output = () => out;
    const onData = (d) => {
      out += d;
      const m = ready.exec(out);
      if (m) resolve({ child, match: m, startupMs: Number(process.hrtime.bigint() - t0) / 1e6 });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d) => (out += d));
    child.once('exit', (code) => reject(new Error(`${argv.join(' ')} exited ${code}: ${out}`)));
  });
}

function rssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
}

function dirBytes(dir, keep = () => true) {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (!keep(e.name)) continue;
    total += e.isDirectory() ? dirBytes(p, keep) : statSync(p).size;
  }
  return total;
}
const isAudit = (name) => name.startsWith('audit');

function run(name, opts) {
  return new Promise((resolve, reject) => {
    autocannon({ connections: CONNECTIONS, duration: DURATION, pipelining: 1, ...opts }, (err, result) => {
      if (err) return reject(err);
      const non2xx = result.non2xx + result.errors;
      resolve({
        name,
        // total over the exact elapsed time: a run of a fixed `amount` ends part-way through a second,
        // which the per-second average would count as a whole one
        rps: Math.round(result.requests.total / Math.max(0.001, (new Date(result.finish) - new Date(result.start)) / 1000)),
        p50: result.latency.p50,
        p99: result.latency.p99,
        non2xx,
        total: result.requests.total,
      });
    });
  });
}

const pick = (arr) => arr[Math.floor(Math.random() * arr.length)];

console.log(`Seeding ${USERS} users, ${GROUPS} groups, one group of ${BIG_GROUP} members...`);
const seeded = await seed();
const { token } = createToken(dataDir, { name: 'bench' });
const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' };

const gw = await startProcess(process.execPath, [...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : []), join(root, 'dist/cli.js'), 'serve', '--data-dir', dataDir, '--port', '0', '--admin-port', '0', '--host', '127.0.0.1'], { SCIM_BRIDGE_LOG_LEVEL: 'warn', SCIM_BRIDGE_RATE_LIMIT_PER_TOKEN: '1000000000', ...storeEnv }, /SCIM base URL:\s+(\S+)/);
const base = new URL(gw.match[1]).origin;
const gwOutput = () => gw.child.output();
const bare = await startProcess(process.execPath, [join(root, 'bench/bare-server.mjs')], {}, /LISTENING (\d+)/);
const bareUrl = `http://127.0.0.1:${bare.match[1]}`;
const rssAfterStart = rssMb(gw.child.pid);

let postN = 0;
let memberN = 0;
const memberCandidates = userIds.slice(BIG_GROUP);
const scenarios = {
  'bare GET': () => run('bare GET', { url: bareUrl, requests: [{ setupRequest: (r) => ({ ...r, path: `/items/id-${Math.floor(Math.random() * 1000)}` }) }] }),
  'GET /Users/{id}': () => run('GET /Users/{id}', { url: base, headers: auth, requests: [{ setupRequest: (r) => ({ ...r, path: `/scim/v2/Users/${pick(userIds)}` }) }] }),
  'GET userName eq': () =>
    run('GET userName eq', { url: base, headers: auth, requests: [{ setupRequest: (r) => ({ ...r, path: `/scim/v2/Users?filter=${encodeURIComponent(`userName eq "${pick(userNames)}"`)}` }) }] }),
  'GET externalId eq': () =>
    run('GET externalId eq', { url: base, headers: auth, requests: [{ setupRequest: (r) => ({ ...r, path: `/scim/v2/Users?filter=${encodeURIComponent(`externalId eq "ext-${Math.floor(Math.random() * USERS)}"`)}` }) }] }),
  'bare POST': () =>
    run('bare POST', { url: bareUrl, method: 'POST', headers: { 'content-type': 'application/json' }, requests: [{ method: 'POST', path: '/items', setupRequest: (r) => ({ ...r, body: JSON.stringify({ userName: `p${postN++}@x.com`, active: true }) }) }] }),
  'POST /Users (durable)': () =>
    run('POST /Users (durable)', {
      url: base,
      headers: auth,
      // A fixed number of creates (a fifth of the dataset), so the paging and listing after it run
      // on a known dataset size, not on whatever a fast run added.
      amount: Math.max(2000, Math.round(USERS / 5)),
      requests: [{ method: 'POST', path: '/scim/v2/Users', setupRequest: (r) => ({ ...r, body: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `new${postN++}@bench.example`, active: true }) }) }],
    }),
  'PATCH /Users/{id} (durable)': () =>
    run('PATCH /Users/{id} (durable)', {
      url: base,
      headers: auth,
      requests: [{ method: 'PATCH', setupRequest: (r) => ({ ...r, path: `/scim/v2/Users/${pick(userIds)}`, body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'title', value: `T${postN++}` }] }) }) }],
    }),
  'PATCH big group +/- member': () =>
    run('PATCH big group +/- member', {
      url: base,
      headers: auth,
      requests: [
        {
          method: 'PATCH',
          setupRequest: (r) => {
            const i = memberN++;
            const id = memberCandidates[Math.floor(i / 2) % memberCandidates.length];
            const op = i % 2 === 0 ? { op: 'add', path: 'members', value: [{ value: id }] } : { op: 'remove', path: `members[value eq "${id}"]` };
            return { ...r, path: `/scim/v2/Groups/${seeded.groupIds[0]}`, body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [op] }) };
          },
        },
      ],
    }),
  'GET /Users page (count=100)': () =>
    run('GET /Users page (count=100)', { url: base, headers: auth, requests: [{ setupRequest: (r) => ({ ...r, path: `/scim/v2/Users?startIndex=${1 + Math.floor(Math.random() * Math.max(1, USERS - 100))}&count=100` }) }] }),
};

// The budgets name 100k users: the scenarios that add users (POST, then the Entra-style cycle)
// come after the ones that measure reads and updates, which therefore run on the seeded dataset.
const order = ['bare GET', 'GET /Users/{id}', 'GET userName eq', 'GET externalId eq', 'bare POST', 'PATCH /Users/{id} (durable)', 'PATCH big group +/- member', 'POST /Users (durable)', 'GET /Users page (count=100)'];
const results = {};
const adminUrl = /Admin (?:listener|console):\s+(\S+)/.exec(gwOutput())?.[1];
/** The gateway's used V8 heap and its longest event-loop stall since the last scrape (prom-client resets it per scrape). */
async function gatewayVitals() {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const metric = (name) => Number(new RegExp(`^scim_bridge_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { heapMb: metric('nodejs_heap_size_used_bytes') / 1048576, stallMs: metric('nodejs_eventloop_lag_max_seconds') * 1000, compactions: metric('store_compactions_total') };
}
async function userCount() {
  const r = await fetch(`${adminUrl}/readyz`);
  return (await r.json()).users;
}
// Warm-up, then the measured runs with bare and gateway alternating. Peak RSS of the gateway is
// sampled during each scenario, with the number of users it held at the end of it.
await run('warm-up', { url: base, headers: auth, duration: 2, requests: [{ setupRequest: (r) => ({ ...r, path: `/scim/v2/Users/${pick(userIds)}` }) }] });
for (const name of order) {
  if (ONLY && !name.includes(ONLY) && !name.startsWith('bare')) continue;
  let peak = 0;
  let peakHeap = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(gw.child.pid))), 200);
  // V8's used heap (live objects plus garbage not yet collected), from the gateway's /metrics:
  // tells a growing live set from RSS the allocator has not handed back.
  let maxStall = 0;
  const compactionsBefore = (await gatewayVitals()).compactions;
  const heapSampler = setInterval(
    () =>
      void gatewayVitals().then(
        (v) => {
          peakHeap = Math.max(peakHeap, v.heapMb);
          maxStall = Math.max(maxStall, v.stallMs);
        },
        () => undefined,
      ),
    500,
  );
  results[name] = await scenarios[name]();
  clearInterval(sampler);
  clearInterval(heapSampler);
  if (!name.startsWith('bare')) {
    results[name].peakRssMb = Math.round(peak);
    results[name].peakHeapMb = Math.round(peakHeap);
    results[name].maxStallMs = Math.round(maxStall);
    // a compaction serialises the whole store in the background: it shows in a write scenario's tail
    results[name].compactions = (await gatewayVitals()).compactions - compactionsBefore;
    results[name].usersAfter = await userCount();
  }
  process.stderr.write(`  ${name}: ${results[name].rps} req/s, p99 ${results[name].p99} ms${results[name].peakRssMb ? `, peak RSS ${results[name].peakRssMb} MB (heap ${results[name].peakHeapMb} MB), longest event-loop stall ${results[name].maxStallMs} ms, ${results[name].compactions} compaction(s), with ${results[name].usersAfter} users` : ''}\n`);
}

// Several instances on one database (--store postgres): durable POSTs for DURATION seconds through
// one instance, then through two (each its own process and data directory, the same token), the
// 32 connections split between them as a load balancer would. The scale-out must not be slower.
let scaleOut;
if (DATABASE_URL && !ONLY) {
  const { mkdirSync, copyFileSync } = await import('node:fs');
  const dataDir2 = mkdtempSync(join(tmpdir(), 'scim-bridge-bench-b-'));
  mkdirSync(dataDir2, { recursive: true, mode: 0o700 });
  copyFileSync(join(dataDir, 'access.json'), join(dataDir2, 'access.json'));
  const gw2 = await startProcess(process.execPath, [join(root, 'dist/cli.js'), 'serve', '--data-dir', dataDir2, '--port', '0', '--admin-port', '0', '--host', '127.0.0.1'], { SCIM_BRIDGE_LOG_LEVEL: 'warn', SCIM_BRIDGE_RATE_LIMIT_PER_TOKEN: '1000000000', ...storeEnv }, /SCIM base URL:\s+(\S+)/);
  const base2 = new URL(gw2.match[1]).origin;
  const postTo = (url, connections) =>
    new Promise((resolve, reject) =>
      autocannon(
        {
          url,
          connections,
          duration: DURATION,
          headers: auth,
          requests: [{ method: 'POST', path: '/scim/v2/Users', setupRequest: (r) => ({ ...r, body: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `scale${postN++}@bench.example`, active: true }) }) }],
        },
        (err, r) => (err ? reject(err) : resolve(r)),
      ),
    );
  const one = await postTo(base, CONNECTIONS);
  const [a, b] = await Promise.all([postTo(base, CONNECTIONS / 2), postTo(base2, CONNECTIONS / 2)]);
  gw2.child.kill('SIGTERM');
  await new Promise((r) => gw2.child.once('exit', r));
  rmSync(dataDir2, { recursive: true, force: true });
  const rate = (r) => r.requests.total / Math.max(0.001, (new Date(r.finish) - new Date(r.start)) / 1000);
  scaleOut = {
    oneInstance: { rps: Math.round(rate(one)), p99: one.latency.p99, non2xx: one.non2xx + one.errors },
    twoInstances: { rps: Math.round(rate(a) + rate(b)), p99: Math.max(a.latency.p99, b.latency.p99), non2xx: a.non2xx + a.errors + b.non2xx + b.errors },
  };
  process.stderr.write(`  POST, one instance: ${scaleOut.oneInstance.rps} req/s (p99 ${scaleOut.oneInstance.p99} ms); two instances: ${scaleOut.twoInstances.rps} req/s (p99 ${scaleOut.twoInstances.p99} ms)\n`);
}

// An Entra-style initial cycle: for each new user, a lookup by filter (nothing found), then a
// create; ENTRA_USERS users over 8 clients, end to end.
const ENTRA_USERS = opt('entra-users', 10_000);
const ENTRA_CLIENTS = 8;
const entraT0 = Date.now();
let entraNext = 0;
let entraFailures = 0;
await Promise.all(
  Array.from({ length: ENTRA_CLIENTS }, async () => {
    for (let i = entraNext++; i < ENTRA_USERS; i = entraNext++) {
      const userName = `entra${i}@cycle.example`;
      const found = await fetch(`${base}/scim/v2/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`, { headers: auth });
      const body = await found.json();
      if (found.status !== 200 || body.totalResults !== 0) entraFailures++;
      const created = await fetch(`${base}/scim/v2/Users`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
          externalId: randomUUID(),
          userName,
          active: true,
          displayName: `Entra User ${i}`,
          name: { givenName: 'Entra', familyName: `User${i}` },
          emails: [{ primary: true, type: 'work', value: userName }],
          'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { department: 'Cycle' },
        }),
      });
      await created.arrayBuffer();
      if (created.status !== 201) entraFailures++;
    }
  }),
);
const entraSeconds = (Date.now() - entraT0) / 1000;
process.stderr.write(`  Entra-style initial cycle: ${ENTRA_USERS} users in ${entraSeconds.toFixed(1)} s (${entraFailures} failures)\n`);

// Full listing page by page, end to end.
const listT0 = Date.now();
let listed = 0;
let finalRawBytes = 0;
for (let start = 1; ; start += 100) {
  const res = await fetch(`${base}/scim/v2/Users?startIndex=${start}&count=100`, { headers: auth });
  const body = await res.json();
  if (!Array.isArray(body.Resources)) throw new Error(`listing page ${start} failed: ${res.status} ${JSON.stringify(body)}`);
  listed += body.Resources.length;
  for (const r of body.Resources) finalRawBytes += JSON.stringify(r).length;
  if (body.Resources.length < 100) break;
}
const listSeconds = (Date.now() - listT0) / 1000;
// Groups, with their members, count towards the raw JSON of the resources.
for (let start = 1; ; start += 100) {
  const res = await fetch(`${base}/scim/v2/Groups?startIndex=${start}&count=100`, { headers: auth });
  const body = await res.json();
  for (const r of body.Resources) finalRawBytes += JSON.stringify(r).length;
  if (body.Resources.length < 100) break;
}
const rssEnd = rssMb(gw.child.pid);

gw.child.kill('SIGTERM');
bare.child.kill('SIGTERM');
await new Promise((r) => gw.child.once('exit', r));

// Start-up time on the data as the benchmark left it (snapshot + journal).
const again = await startProcess(process.execPath, [join(root, 'dist/cli.js'), 'serve', '--data-dir', dataDir, '--port', '0', '--admin-port', '0', '--host', '127.0.0.1'], { SCIM_BRIDGE_LOG_LEVEL: 'warn', SCIM_BRIDGE_RATE_LIMIT_PER_TOKEN: '1000000000', ...storeEnv }, /SCIM base URL:\s+(\S+)/);
const startupMs = again.startupMs;
again.child.kill('SIGTERM');
await new Promise((r) => again.child.once('exit', r));
// The store (snapshot, journal, tokens) against the resources it holds; the audit log is history
// that grows with every change, reported on its own.
let dataBytes = dirBytes(dataDir, (n) => !isAudit(n) && n !== 'backups');
let auditBytes = dirBytes(dataDir, isAudit);
if (DATABASE_URL) {
  // PostgreSQL: the store's tables and indexes, and the audit table, instead of files
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  const sizes = (await client.query(`SELECT (SELECT sum(pg_total_relation_size(c)) FROM unnest(ARRAY['scim_resources', 'scim_members', 'scim_tombstones', 'scim_outbox', 'scim_links']::regclass[]) AS c)::bigint AS data, pg_total_relation_size('scim_audit')::bigint AS audit`)).rows[0];
  await client.end();
  dataBytes = Number(sizes.data);
  auditBytes = Number(sizes.audit);
}

const ratio = (a, b) => (results[a] && results[b] ? Math.round((results[a].rps / results[b].rps) * 100) / 100 : null);
const summary = {
  at: new Date().toISOString(),
  store: STORE,
  machine: { node: process.version, cpus: (await import('node:os')).cpus().length },
  dataset: { users: USERS, groups: GROUPS, bigGroupMembers: BIG_GROUP, seedSeconds: seeded.seconds },
  connections: CONNECTIONS,
  durationSeconds: DURATION,
  results,
  ratios: {
    'GET by id / bare GET': ratio('GET /Users/{id}', 'bare GET'),
    'userName eq / bare GET': ratio('GET userName eq', 'bare GET'),
    'externalId eq / bare GET': ratio('GET externalId eq', 'bare GET'),
    'durable POST / bare POST': ratio('POST /Users (durable)', 'bare POST'),
    'durable PATCH / bare POST': ratio('PATCH /Users/{id} (durable)', 'bare POST'),
  },
  listAllUsers: { listed, seconds: listSeconds },
  ...(scaleOut ? { scaleOut } : {}),
  entraInitialCycle: { users: ENTRA_USERS, clients: ENTRA_CLIENTS, seconds: entraSeconds, failures: entraFailures },
  rssMb: { afterStart: Math.round(rssAfterStart), end: Math.round(rssEnd) },
  startupMs: Math.round(startupMs),
  dataDirBytes: dataBytes,
  auditLogBytes: auditBytes,
  rawJsonBytes: finalRawBytes,
  dataDirToRaw: Math.round((dataBytes / finalRawBytes) * 100) / 100,
};
writeFileSync(join(root, STORE === 'postgres' ? 'bench/results-postgres.json' : 'bench/results.json'), JSON.stringify(summary, null, 2) + '\n');
rmSync(dataDir, { recursive: true, force: true });

console.log(`\nSCIM Bridge benchmark (${STORE} store): ${USERS} users, ${GROUPS} groups (one of ${BIG_GROUP} members), ${CONNECTIONS} connections, ${DURATION}s per scenario\n`);
console.log('scenario                        req/s     p50 ms   p99 ms   non-2xx   peak RSS MB   peak heap MB   users after');
for (const name of order.filter((n) => results[n])) {
  const r = results[name];
  console.log(
    `${name.padEnd(30)} ${String(r.rps).padStart(7)} ${String(r.p50).padStart(9)} ${String(r.p99).padStart(8)} ${String(r.non2xx).padStart(9)} ${String(r.peakRssMb ?? '-').padStart(13)} ${String(r.peakHeapMb ?? '-').padStart(14)} ${String(r.usersAfter ?? '-').padStart(13)}`,
  );
}
console.log('');
for (const [k, v] of Object.entries(summary.ratios)) console.log(`${k.padEnd(30)} ${v}x`);
console.log(`list all ${listed} users (count=100)   ${listSeconds.toFixed(1)} s`);
if (scaleOut) console.log(`POST through 1 / 2 instances      ${scaleOut.oneInstance.rps} / ${scaleOut.twoInstances.rps} req/s (p99 ${scaleOut.oneInstance.p99} / ${scaleOut.twoInstances.p99} ms)`);
console.log(`Entra-style cycle, ${ENTRA_USERS} users   ${entraSeconds.toFixed(1)} s (lookup + create, ${ENTRA_CLIENTS} clients, ${entraFailures} failures)`);
console.log(`RSS after start / at end        ${summary.rssMb.afterStart} MB / ${summary.rssMb.end} MB`);
console.log(`start-up                        ${summary.startupMs} ms`);
console.log(`store / raw JSON                ${summary.dataDirToRaw}x (${(dataBytes / 1e6).toFixed(1)} MB / ${(finalRawBytes / 1e6).toFixed(1)} MB, after a clean stop)`);
console.log(`audit log                       ${(auditBytes / 1e6).toFixed(1)} MB for every change of the run`);
console.log(`\nwritten to ${STORE === 'postgres' ? 'bench/results-postgres.json' : 'bench/results.json'}`);
