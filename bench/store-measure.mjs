// Measures the embedded store (src/gateway/store): commit throughput and latency with 32
// concurrent committers, open() time and RSS, snapshot size vs raw JSON, and event-loop stalls
// during compaction. Prints figures; asserts nothing.
//
//   npm run build && node bench/store-measure.mjs [--quick]
//
// Uses real files in a temp dir with fsync on (except for bulk loading the fixtures).
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

const dist = new URL('../dist/src/gateway/', import.meta.url);
const { testing } = await import(new URL('store/index.js', dist));
const { parseFilter } = await import(new URL('scim/filter/index.js', dist));
const { createSchemaRegistry } = await import(new URL('scim/schemas/registry.js', dist));

const quick = process.argv.includes('--quick');
const C = 'default';
const silent = { info() {}, warn: (o, m) => console.error('warn', m, o), error: (o, m) => console.error('error', m, o) };
const resolver = createSchemaRegistry().resolver('User');

/** A user as Entra ID / Okta push them (~0.7 KB of JSON). */
function userData(i) {
  const given = `Given${i}`;
  const family = `Family${i % 977}`;
  return {
    userName: `user${i}@example.com`,
    externalId: `ext-${i.toString(16).padStart(8, '0')}-4a7b-9c1d-${(i * 7919).toString(16).padStart(12, '0')}`,
    name: { givenName: given, familyName: family, formatted: `${given} ${family}` },
    displayName: `${given} ${family}`,
    title: ['Engineer', 'Manager', 'Analyst', 'Director'][i % 4],
    active: true,
    emails: [{ value: `user${i}@example.com`, type: 'work', primary: true }],
    phoneNumbers: [{ value: `+1 555 ${String(i).padStart(7, '0')}`, type: 'work' }],
    addresses: [{ type: 'work', streetAddress: `${i} Main St`, locality: 'Springfield', postalCode: '12345', country: 'US', primary: true }],
    preferredLanguage: 'en-US',
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': {
      employeeNumber: String(100000 + i),
      department: `Dept ${i % 50}`,
      costCenter: `CC${i % 20}`,
    },
  };
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const mb = (n) => `${(n / 1024 / 1024).toFixed(1)} MB`;
const ms = (n) => `${n.toFixed(2)} ms`;

async function dirSize(dir) {
  let total = 0;
  const files = {};
  for (const f of await readdir(dir)) {
    const s = (await stat(join(dir, f))).size;
    files[f] = s;
    total += s;
  }
  return { total, files };
}

/** Bulk-loads users (and groups) with fsync off, then closes: leaves a compacted data dir. */
async function build(dir, users, groups, bigGroup) {
  const store = testing.createLowdbStore({ dataDir: dir, logger: silent, fsync: false });
  await store.open();
  let raw = 0;
  for (let i = 0; i < users; i += 1000) {
    const changes = [];
    for (let j = i; j < Math.min(users, i + 1000); j++) {
      const data = userData(j);
      raw += JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], id: `u${j}`, ...data }).length;
      changes.push({ op: 'create', type: 'User', connection: C, id: `u${j}`, data });
    }
    await store.commit({ changes });
  }
  for (let i = 0; i < groups; i += 500) {
    const changes = [];
    for (let j = i; j < Math.min(groups, i + 500); j++) {
      const members = Array.from({ length: 10 }, (_, k) => ({ value: `u${(j * 37 + k * 1009) % users}` }));
      const data = { displayName: `Group ${j}`, externalId: `gext-${j}` };
      raw += JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], id: `g${j}`, ...data, members }).length;
      changes.push({ op: 'create', type: 'Group', connection: C, id: `g${j}`, data, members });
    }
    await store.commit({ changes });
  }
  if (bigGroup > 0) {
    await store.commit({ changes: [{ op: 'create', type: 'Group', connection: C, id: 'big', data: { displayName: 'Everyone' } }] });
    const all = [];
    for (let i = 0; i < bigGroup; i += 5000) {
      const add = Array.from({ length: Math.min(5000, bigGroup - i) }, (_, k) => ({ value: `u${i + k}` }));
      all.push(...add);
      await store.commit({ changes: [{ op: 'members', connection: C, groupId: 'big', add }] });
    }
    raw += JSON.stringify({ id: 'big', displayName: 'Everyone', members: all }).length;
  }
  await store.close();
  return raw;
}

/** 32 concurrent committers for `seconds`: mostly replaces, some creates and member deltas. */
async function commitLoad(store, users, seconds, tag, workers = 32) {
  const lat = [];
  let created = 0;
  const end = performance.now() + seconds * 1000;
  const worker = async (w) => {
    let n = 0;
    while (performance.now() < end) {
      const r = Math.random();
      let changes;
      if (r < 0.8) {
        const i = Math.floor(Math.random() * users);
        changes = [{ op: 'replace', type: 'User', connection: C, id: `u${i}`, data: { ...userData(i), title: `T${n}` } }];
      } else if (r < 0.9) {
        const id = `${tag}-${w}-${created++}`;
        changes = [{ op: 'create', type: 'User', connection: C, id, data: { ...userData(users + created), userName: `${id}@example.com`, externalId: id } }];
      } else {
        const i = Math.floor(Math.random() * users);
        changes = [{ op: 'members', connection: C, groupId: 'big', ...(Math.random() < 0.5 ? { add: [{ value: `u${i}` }] } : { remove: [`u${i}`] }) }];
      }
      const t0 = performance.now();
      await store.commit({ changes });
      lat.push(performance.now() - t0);
      n++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  const elapsed = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { commits: lat.length, perSecond: Math.round(lat.length / elapsed), p50: pct(lat, 50), p99: pct(lat, 99), max: lat.at(-1) };
}

function openInChild(dir) {
  const script = `
    const { testing } = await import(${JSON.stringify(new URL('store/index.js', dist).href)});
    const s = testing.createLowdbStore({ dataDir: ${JSON.stringify(dir)}, logger: { info() {}, warn() {}, error() {} } });
    const t0 = performance.now();
    await s.open();
    const openMs = performance.now() - t0;
    const rss = process.memoryUsage().rss;
    globalThis.gc?.();
    globalThis.gc?.();
    await new Promise((r) => setTimeout(r, 100));
    const rssAfterGc = process.memoryUsage().rss;
    const heap = process.memoryUsage().heapUsed;
    const st = await s.stats();
    await s.close();
    console.log(JSON.stringify({ openMs, rss, rssAfterGc, heap, users: st.users, groups: st.groups }));`;
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

async function readBench(store, users) {
  const n = 200_000;
  let t0 = performance.now();
  for (let k = 0; k < n; k++) await store.get(C, 'User', `u${(k * 7919) % users}`);
  const getUs = ((performance.now() - t0) * 1000) / n;
  const ast = parseFilter('userName eq "user4242@example.com"');
  t0 = performance.now();
  for (let k = 0; k < n / 4; k++) await store.query({ connection: C, type: 'User', filter: ast, resolver, startIndex: 1, count: 100 });
  const eqUs = ((performance.now() - t0) * 1000) / (n / 4);
  const emailAst = parseFilter('emails[type eq "work"].value eq "user4242@example.com"');
  t0 = performance.now();
  for (let k = 0; k < n / 4; k++) await store.query({ connection: C, type: 'User', filter: emailAst, resolver, startIndex: 1, count: 100 });
  const emailUs = ((performance.now() - t0) * 1000) / (n / 4);
  const scanAst = parseFilter('title eq "Director" and active eq true');
  t0 = performance.now();
  const scan = await store.query({ connection: C, type: 'User', filter: scanAst, resolver, startIndex: 1, count: 100 });
  const scanMs = performance.now() - t0;
  t0 = performance.now();
  await store.query({ connection: C, type: 'User', startIndex: Math.floor(users / 2), count: 100 });
  const deepPageMs = performance.now() - t0;
  return { getUs, eqUs, emailUs, scanMs, scanTotal: scan.totalResults, deepPageMs };
}

// --build DIR: only build the 100k fixture into DIR (for profiling open())
const buildAt = process.argv.indexOf('--build');
if (buildAt !== -1) {
  console.log('raw', await build(process.argv[buildAt + 1], 100_000, 10_000, 50_000));
  process.exit(0);
}

const results = {};
const root = await mkdtemp(join(tmpdir(), 'store-measure-'));
try {
  for (const users of quick ? [10_000] : [10_000, 100_000]) {
    const dir = join(root, `u${users}`);
    const groups = users >= 100_000 ? 10_000 : 1_000;
    const big = users >= 100_000 ? 50_000 : 5_000;
    let t0 = performance.now();
    const raw = await build(dir, users, groups, big);
    const buildS = (performance.now() - t0) / 1000;
    const size = await dirSize(dir);
    const opened = openInChild(dir);

    const compactions = [];
    const store = testing.createLowdbStore({
      dataDir: dir,
      logger: { ...silent, info: (o, m) => m === 'store: compacted' && compactions.push(o) },
    });
    await store.open();
    // data dir size and RSS while writing (automatic compactions included)
    const peak = { dir: 0, rss: 0, heapUsed: 0, heapTotal: 0, external: 0 };
    const sampler = setInterval(async () => {
      const m = process.memoryUsage();
      for (const k of ['rss', 'heapUsed', 'heapTotal', 'external']) peak[k] = Math.max(peak[k], m[k]);
      peak.dir = Math.max(peak.dir, (await dirSize(dir).catch(() => ({ total: 0 }))).total);
    }, 50);
    const load = await commitLoad(store, users, quick ? 3 : 8, `w${users}`);
    clearInterval(sampler);
    const reads = await readBench(store, users);

    // compaction alone: the event-loop stall it causes (a running automatic one is finished first)
    await store.compactNow();
    await store.commit({ changes: [{ op: 'replace', type: 'User', connection: C, id: 'u1', data: userData(1) }] });
    const h0 = monitorEventLoopDelay({ resolution: 1 });
    h0.enable();
    let c0 = performance.now();
    await store.compactNow();
    const idleCompactMs = performance.now() - c0;
    h0.disable();
    const idleStall = { maxMs: h0.max / 1e6, p99Ms: h0.percentile(99) / 1e6 };

    // compaction under load: event-loop delay and commit latency while it runs
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const loadDuring = commitLoad(store, users, 3, `d${users}`, 32);
    await new Promise((r) => setTimeout(r, 200));
    h.reset();
    c0 = performance.now();
    await store.compactNow();
    const compactMs = performance.now() - c0;
    h.disable();
    const duringResult = await loadDuring;
    const stall = { maxMs: h.max / 1e6, p99Ms: h.percentile(99) / 1e6, meanMs: h.mean / 1e6 };

    const st = await store.stats();
    await store.close();
    const sizeAfter = await dirSize(dir);
    results[users] = { buildS, raw, size, opened, load, reads, idleCompactMs, idleStall, compactMs, stall, duringResult, st, sizeAfter, peak, compactions };

    console.log(`\n=== ${users} users, ${groups} groups (10 members each) + one ${big}-member group ===`);
    console.log(`raw SCIM JSON ${mb(raw)}; db.json ${mb(size.files['db.json'])} (${(size.files['db.json'] / raw).toFixed(2)}x raw); data dir ${mb(size.total)} (${(size.total / raw).toFixed(2)}x)`);
    console.log(`open() in a fresh process: ${opened.openMs.toFixed(0)} ms; RSS ${mb(opened.rss)} (after gc ${mb(opened.rssAfterGc)}, heap ${mb(opened.heap)})`);
    console.log(`32 committers, fsync on: ${load.perSecond} commits/s; latency p50 ${ms(load.p50)}, p99 ${ms(load.p99)}, max ${ms(load.max)} (${load.commits} commits)`);
    console.log(`reads: get ${reads.getUs.toFixed(2)} µs; userName eq ${reads.eqUs.toFixed(2)} µs; emails[type eq "work"].value eq ${reads.emailUs.toFixed(2)} µs; full scan (title eq and active eq, ${reads.scanTotal} hits) ${ms(reads.scanMs)}; page at startIndex ${users / 2} ${ms(reads.deepPageMs)}`);
    console.log(`compaction alone: ${idleCompactMs.toFixed(0)} ms; event-loop delay max ${ms(idleStall.maxMs)}, p99 ${ms(idleStall.p99Ms)}`);
    console.log(`compaction under 32 committers: ${compactMs.toFixed(0)} ms; event-loop delay max ${ms(stall.maxMs)}, p99 ${ms(stall.p99Ms)}, mean ${ms(stall.meanMs)}; commits over the 3 s around it ${duringResult.perSecond}/s, p99 ${ms(duringResult.p99)}, max ${ms(duringResult.max)}`);
    console.log(`while writing: ${compactions.length} automatic compactions; peak data dir ${mb(peak.dir)} = ${(peak.dir / (sizeAfter.files['db.json'] / (size.files['db.json'] / raw))).toFixed(2)}x the raw JSON then held; peak RSS ${mb(peak.rss)} (heap used ${mb(peak.heapUsed)}, heap total ${mb(peak.heapTotal)}, external ${mb(peak.external)})`);
    console.log(`after close: data dir ${mb(sizeAfter.total)} (${Object.entries(sizeAfter.files).map(([f, s]) => `${f} ${mb(s)}`).join(', ')})`);
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
if (process.argv.includes('--json')) console.log(JSON.stringify(results));
