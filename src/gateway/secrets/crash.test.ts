/**
 * Durability of the encrypted file with real processes: two writer processes set secrets on
 * one data dir (the gateway and the CLI) with two writes in flight each, and both are
 * killed with SIGKILL at a random instant, over several rounds on the same directory. After
 * each kill the store must open (the dead writers' lock taken over, their temp files ignored)
 * and hold every secret a writer saw acknowledged, with its value; a write in flight at the
 * kill may or may not be there, and nothing else may be.
 *
 * The writers run the compiled module (dist), as the gateway does; it is rebuilt when older
 * than the sources (`npm test` builds first anyway).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFileSecretStore, SECRETS_FILE } from './index.js';
import { cleanupDirs, tempDir } from './secrets.fixture.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const distEntry = join(root, 'dist/src/gateway/secrets/index.js');
const ROUNDS = 6;

/** Sets `<writer>-<round>-<n>:pw` = `value-<account>`, 2 lanes at a time, printing S before and A after. */
const WRITER = `
const [entry, dataDir, writer, round] = process.argv.slice(1);
const { openFileSecretStore } = await import(entry);
const store = await openFileSecretStore({ dataDir });
const out = (t, a) => process.stdout.write(JSON.stringify({ t, a }) + '\\n');
out('ready', '');
let n = 0;
const lane = async () => {
  for (;;) {
    const account = writer + '-' + round + '-' + n++ + ':pw';
    out('S', account);
    await store.set(account, 'value-' + account);
    out('A', account);
    // Paced like real use, so neither process holds the lock back to back and starves the other.
    await new Promise((r) => setTimeout(r, 5 + Math.random() * 30));
  }
};
await Promise.all([lane(), lane()]);
`;

async function ensureBuilt(): Promise<void> {
  const sources = (await readdir(here)).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.fixture.ts'));
  const newest = Math.max(...(await Promise.all(sources.map(async (f) => (await stat(join(here, f))).mtimeMs))));
  const built = await stat(distEntry).then((s) => s.mtimeMs, () => 0);
  if (built >= newest) return;
  // tsc exits non-zero on type errors elsewhere in the tree but still emits; only our files matter.
  spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'ignore' });
  expect((await stat(distEntry)).mtimeMs, 'dist was not rebuilt').toBeGreaterThanOrEqual(newest);
}

interface WriterRun {
  acked: string[];
  started: string[];
  stderr: string;
}

function startWriter(dataDir: string, writer: string, round: number): { ready: Promise<void>; acks(): number; kill(): Promise<WriterRun> } {
  const child = spawn(process.execPath, ['--input-type=module', '-e', WRITER, pathToFileURL(distEntry).href, dataDir, writer, String(round)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  const ready = (async () => {
    const deadline = Date.now() + 15_000;
    while (!out.includes('"ready"')) {
      if (child.exitCode !== null) throw new Error(`writer ${writer} exited early: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`writer ${writer} not ready: ${stderr}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    ready,
    acks: () => out.split('"t":"A"').length - 1,
    async kill() {
      child.kill('SIGKILL');
      await exited; // reaped: its pid is dead, so a lock it held is stale
      const lines = out.split('\n');
      lines.pop(); // possibly cut mid-line by the kill
      const records = lines.map((l) => JSON.parse(l) as { t: string; a: string });
      return { acked: records.filter((r) => r.t === 'A').map((r) => r.a), started: records.filter((r) => r.t === 'S').map((r) => r.a), stderr };
    },
  };
}

describe('file secret store crash safety (SIGKILL)', () => {
  beforeAll(ensureBuilt, 180_000);
  afterAll(cleanupDirs);

  it(`keeps every acknowledged secret over ${ROUNDS} kills of two concurrent writers`, { timeout: 120_000 }, async () => {
    const dataDir = await tempDir('secrets-crash-');
    const acked = new Set<string>();
    const ackedBy = [0, 0];
    let inFlightLanded = 0;

    for (let round = 0; round < ROUNDS; round++) {
      const writers = [startWriter(dataDir, 'a', round), startWriter(dataDir, 'b', round)];
      await Promise.all(writers.map((w) => w.ready));
      // A writer killed while creating the lock leaves it without a pid, which counts as stale
      // only after 2 s: let writes resume before timing the next kill.
      const resumeBy = Date.now() + 10_000;
      while (writers.every((w) => w.acks() === 0) && Date.now() < resumeBy) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 600));
      const runs = await Promise.all(writers.map((w) => w.kill()));
      for (const run of runs) expect(run.stderr).toBe('');
      const inFlight = new Set<string>();
      for (const run of runs) {
        for (const a of run.started) inFlight.add(a);
        for (const a of run.acked) {
          acked.add(a);
          inFlight.delete(a);
        }
      }
      expect(runs.some((r) => r.acked.length > 0), 'writes were acknowledged before the kill').toBe(true);
      runs.forEach((r, i) => (ackedBy[i] += r.acked.length));

      const store = await openFileSecretStore({ dataDir });
      const stored = new Set(await store.list());
      for (const a of acked) {
        expect(stored.has(a), `acknowledged ${a} after round ${round}`).toBe(true);
        expect(await store.get(a)).toBe(`value-${a}`);
      }
      for (const a of stored) {
        if (acked.has(a)) continue;
        expect(inFlight.has(a), `${a} was never written`).toBe(true);
        expect(await store.get(a)).toBe(`value-${a}`);
        acked.add(a); // landed: it must survive the next rounds like any other
        inFlightLanded++;
      }
      await store.close();
    }

    // A write after the last kill takes over the lock and sweeps the dead writers' temp files.
    const store = await openFileSecretStore({ dataDir });
    await store.set('after:pw', 'value-after');
    const names = await readdir(dataDir);
    expect(names.filter((n) => n !== SECRETS_FILE && n !== 'secrets.key')).toEqual([]);
    // The lock is not fair (a waiter polls), but both processes must have written in between.
    expect(ackedBy.every((n) => n > 0), `acknowledged per writer: ${ackedBy.join(', ')}`).toBe(true);
    // Reported for the record: how many writes were cut by a kill yet had landed.
    console.log(`secrets crash test: ${acked.size} secrets over ${ROUNDS} rounds (acknowledged per writer: ${ackedBy.join(', ')}; ${inFlightLanded} cut by the kill had landed)`);
  });
});
