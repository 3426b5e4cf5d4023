// `npm run bench:compare [-- --users 10000 --duration 8]`
// Runs the benchmark (bench/run.mjs) on the embedded store and on PostgreSQL, taking turns per
// scenario on this machine, and checks the PostgreSQL store's budgets against the embedded store's figures
// of the same run (docs/scaling.md): durable POST at least 0.5x, GET by id at least 0.7x, p99 under
// 50 ms at 32 clients for those two, and two instances together no slower than one. The ratios
// are normalized by each half's bare express baseline (see below).
// Prints a table and writes bench/results-compare.json. Exit code 1 when a budget is missed.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const passThrough = process.argv.slice(2);

function runStore(store, extra = []) {
  const r = spawnSync(process.execPath, [join(root, 'bench/run.mjs'), '--store', store, ...passThrough, ...extra], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`bench/run.mjs --store ${store} exited ${r.status}`);
  return JSON.parse(readFileSync(join(root, store === 'postgres' ? 'bench/results-postgres.json' : 'bench/results.json'), 'utf8'));
}

// This VM's speed drifts by a factor of two over minutes, so the stores take turns: each scenario
// runs on the embedded store and then on PostgreSQL (each on a freshly seeded store, with its own
// bare baseline) before the next scenario starts. The full PostgreSQL run at the end adds the
// scale-out figures.
const SCENARIOS = ['GET /Users/{id}', 'GET userName eq', 'GET externalId eq', 'PATCH /Users/{id} (durable)', 'POST /Users (durable)'];
const lowdb = { results: {}, dataset: undefined, connections: undefined };
const postgres = { results: {}, scaleOut: undefined };
for (const name of SCENARIOS) {
  for (const [store, into] of [['lowdb', lowdb], ['postgres', postgres]]) {
    const run = runStore(store, ['--only', name, '--entra-users', '200']);
    into.results[name] = run.results[name];
    into.results[`bare (${name})`] = run.results[name.startsWith('GET') ? 'bare GET' : 'bare POST'];
    into.dataset ??= run.dataset;
    into.connections ??= run.connections;
  }
}
postgres.scaleOut = runStore('postgres', ['--entra-users', '200']).scaleOut;

const rows = SCENARIOS;
// Each rate is also given relative to the bare baseline measured just before it (normalized), and
// the budgets use that ratio.
const bareOf = (run, name) => run.results[`bare (${name})`]?.rps ?? NaN;
const round2 = (x) => Math.round(x * 100) / 100;
const table = rows
  .filter((name) => lowdb.results[name] && postgres.results[name])
  .map((name) => ({
    name,
    lowdb: lowdb.results[name],
    postgres: postgres.results[name],
    ratio: round2(postgres.results[name].rps / lowdb.results[name].rps),
    normalized: round2(postgres.results[name].rps / bareOf(postgres, name) / (lowdb.results[name].rps / bareOf(lowdb, name))),
  }));
const ratioOf = (name) => table.find((r) => r.name === name)?.normalized ?? 0;
const p99Of = (name) => postgres.results[name]?.p99 ?? Infinity;
const scale = postgres.scaleOut;
const budgets = [
  { budget: 'PostgreSQL durable POST >= 0.5x embedded', value: `${ratioOf('POST /Users (durable)')}x`, ok: ratioOf('POST /Users (durable)') >= 0.5 },
  { budget: 'PostgreSQL GET by id >= 0.7x embedded', value: `${ratioOf('GET /Users/{id}')}x`, ok: ratioOf('GET /Users/{id}') >= 0.7 },
  { budget: 'PostgreSQL p99 of durable POST < 50 ms (32 clients)', value: `${p99Of('POST /Users (durable)')} ms`, ok: p99Of('POST /Users (durable)') < 50 },
  { budget: 'PostgreSQL p99 of GET by id < 50 ms (32 clients)', value: `${p99Of('GET /Users/{id}')} ms`, ok: p99Of('GET /Users/{id}') < 50 },
  {
    budget: 'two instances no slower than one (durable POST)',
    value: scale ? `${scale.twoInstances.rps} vs ${scale.oneInstance.rps} req/s` : 'not measured',
    // within 5 %: the run-to-run noise of one scenario on this machine
    ok: scale !== undefined && scale.twoInstances.rps >= scale.oneInstance.rps * 0.95,
  },
];

console.log(`\nEmbedded store vs PostgreSQL, same machine, same run (${lowdb.dataset.users} users, ${lowdb.connections} connections)\n`);
console.log('scenario                        lowdb req/s (p99)  bare    postgres req/s (p99)  bare     ratio   normalized');
for (const r of table) {
  console.log(
    `${r.name.padEnd(30)} ${`${r.lowdb.rps} (${r.lowdb.p99})`.padStart(18)} ${String(bareOf(lowdb, r.name)).padStart(5)} ${`${r.postgres.rps} (${r.postgres.p99})`.padStart(22)} ${String(bareOf(postgres, r.name)).padStart(5)} ${`${r.ratio}x`.padStart(8)} ${`${r.normalized}x`.padStart(12)}`,
  );
}
console.log('');
for (const b of budgets) console.log(`${b.ok ? 'ok  ' : 'MISS'} ${b.budget.padEnd(54)} ${b.value}`);
writeFileSync(join(root, 'bench/results-compare.json'), JSON.stringify({ at: new Date().toISOString(), table, scaleOut: scale, budgets }, null, 2) + '\n');
console.log('\nwritten to bench/results-compare.json');
process.exitCode = budgets.every((b) => b.ok) ? 0 : 1;
