/**
 * `scim-bridge audit export|verify` through commander, in-process: the commands are registered
 * on a fresh program exactly as the CLI does, so no build is needed.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupDirs, fakeClock, tempDir, userDraft } from '../../src/gateway/audit/audit.fixture.js';
import { createAuditLog, registerAuditCommands, type AuditRecord } from '../../src/gateway/audit/index.js';

afterEach(cleanupDirs);

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString('utf8');
    cb();
  }
}

/** Runs `scim-bridge <args>` with the audit commands registered; returns output and exit code. */
async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Sink();
  const stderr = new Sink();
  let code = 0;
  const program = new Command('scim-bridge').exitOverride();
  program.configureOutput({ writeOut: (s) => stdout.write(s), writeErr: (s) => stderr.write(s) });
  registerAuditCommands(program, (flags) => flags.dataDir ?? '/nonexistent', {
    stdout,
    stderr,
    setExitCode: (c) => void (code = c),
  });
  try {
    await program.parseAsync(['node', 'scim-bridge', ...args]);
  } catch (err) {
    code = (err as { exitCode?: number }).exitCode ?? 1;
    stderr.write(String(err));
  }
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** A data dir with 5 records over 5 days, the first 2 in a rotated file. */
async function seeded(): Promise<string> {
  const dir = await tempDir('audit-cli-');
  const clock = fakeClock(Date.now() - 10 * 86_400_000);
  const log = createAuditLog({ dataDir: dir, fsync: false }, { now: clock.now });
  await log.open();
  for (let i = 1; i <= 5; i++) {
    await log.append([userDraft(i, { detail: i === 3 ? 'a, "quoted"\nvalue' : undefined })]);
    if (i === 2) await log.rotate();
    clock.advance(2 * 86_400_000);
  }
  await log.close();
  return dir;
}

describe('scim-bridge audit verify', () => {
  it('reports an intact chain across rotated files', async () => {
    const dir = await seeded();
    expect(await run(['audit', 'verify', '--data-dir', dir])).toMatchObject({ code: 0, stdout: 'OK: 5 records, chain intact\n' });
  });

  it('refuses a data dir that does not exist instead of reporting 0 records', async () => {
    const r = await run(['audit', 'verify', '--data-dir', '/nonexistent/scim-bridge-data']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/does not exist/);
  });

  it('fails naming a line edited by hand', async () => {
    const dir = await seeded();
    const file = join(dir, 'audit.jsonl');
    const lines = (await readFile(file, 'utf8')).split('\n');
    lines[1] = lines[1].replace('user4@example.com', 'someone-else@example.com');
    await writeFile(file, lines.join('\n'));
    const r = await run(['audit', 'verify', '--data-dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^BROKEN: audit\.jsonl line 2 \(seq 4\): hash mismatch/);
  });

  it('fails naming the record after a removed line', async () => {
    const dir = await seeded();
    const file = join(dir, 'audit-000000000001-000000000002.jsonl');
    const lines = (await readFile(file, 'utf8')).split('\n');
    await writeFile(file, [lines[1], ''].join('\n'));
    const r = await run(['audit', 'verify', '--data-dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/BROKEN: audit-000000000001-000000000002\.jsonl line 1 \(seq 2\)/);
  });
});

describe('scim-bridge audit export', () => {
  it('writes JSON Lines to stdout by default, filtered by --since as a duration', async () => {
    const dir = await seeded();
    const all = await run(['audit', 'export', '--data-dir', dir]);
    expect(all.code).toBe(0);
    expect(all.stdout.trim().split('\n').map((l) => (JSON.parse(l) as AuditRecord).seq)).toEqual([1, 2, 3, 4, 5]);
    // records are 10, 8, 6, 4 and 2 days old
    const recent = await run(['audit', 'export', '--data-dir', dir, '--since', '5d']);
    expect(recent.stdout.trim().split('\n').map((l) => (JSON.parse(l) as AuditRecord).seq)).toEqual([4, 5]);
    const window = await run(['audit', 'export', '--data-dir', dir, '--since', '9d', '--until', '3d']);
    expect(window.stdout.trim().split('\n').map((l) => (JSON.parse(l) as AuditRecord).seq)).toEqual([2, 3, 4]);
  });

  it('writes CSV to a file with --output', async () => {
    const dir = await seeded();
    const out = join(dir, 'export.csv');
    const r = await run(['audit', 'export', '--data-dir', dir, '--format', 'csv', '--output', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/Exported 5 record\(s\)/);
    const csv = await readFile(out, 'utf8');
    expect(csv.startsWith('seq,time,actorKind,actorId,')).toBe(true);
    expect(csv).toContain('"a, ""quoted""\nvalue"');
    expect(csv.split('\r\n').filter(Boolean)).toHaveLength(6);
  });

  it('refuses an unknown format and a bad --since', async () => {
    const dir = await seeded();
    expect((await run(['audit', 'export', '--data-dir', dir, '--format', 'xml'])).code).not.toBe(0);
    const bad = await run(['audit', 'export', '--data-dir', dir, '--since', 'yesterday']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--since must be a duration like 7d/);
  });
});
