/**
 * `scim-bridge audit export` and `scim-bridge audit verify`. They read the files directly and
 * never write, so they are safe beside a running gateway.
 */
import { createWriteStream, existsSync } from 'node:fs';
import { finished } from 'node:stream/promises';
import { Command, Option } from 'commander';
import { exportAuditLog } from './export.js';
import { verifyAuditLog } from './verify.js';

/** Flags the audit commands share; `resolveDataDir` turns them into the data dir. */
export interface AuditCliFlags {
  dataDir?: string;
  config?: string;
  [key: string]: unknown;
}

/** Where the commands write; replaceable by tests that run them in-process. */
export interface AuditCliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** sets the exit code (the CLI's process.exitCode by default) */
  setExitCode(code: number): void;
}

const processIo: AuditCliIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  setExitCode: (code) => {
    process.exitCode = code;
  },
};

/** `7d`, `24h`, `30m` (that long ago) or an ISO date -> Date. */
export function parseSince(text: string, flag = '--since', now = Date.now()): Date {
  const m = /^(\d+)([dhm])$/.exec(text.trim());
  if (m) {
    const n = Number(m[1]);
    const ms = m[2] === 'd' ? n * 86_400_000 : m[2] === 'h' ? n * 3_600_000 : n * 60_000;
    return new Date(now - ms);
  }
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new Error(`${flag} must be a duration like 7d, 24h, 30m (that long ago) or a date like 2026-01-31; got "${text}".`);
  return new Date(t);
}

/** The data dir, which must exist: "0 records" for a mistyped path would read as a clean bill of health. */
function existingDataDir(resolveDataDir: (flags: AuditCliFlags) => string, flags: AuditCliFlags): string {
  const dir = resolveDataDir(flags);
  if (!existsSync(dir)) throw new Error(`the data directory ${dir} does not exist; pass the one the gateway uses with --data-dir.`);
  return dir;
}

/** Adds the `audit` command group to a commander program. */
export function registerAuditCommands(program: Command, resolveDataDir: (flags: AuditCliFlags) => string, io: AuditCliIo = processIo): Command {
  const audit = program.command('audit').description('the tamper-evident audit log: export it, verify its hash chain');
  const dataDirOption = () => new Option('--data-dir <dir>', 'data directory (env SCIM_BRIDGE_DATA_DIR; default ~/.scim-bridge)');
  const configOption = () => new Option('--config <file>', 'JSON config file (env SCIM_BRIDGE_CONFIG)');

  audit
    .command('export')
    .description('write the audit records, oldest first, as JSON Lines (verifiable) or CSV')
    .addOption(dataDirOption())
    .addOption(configOption())
    .addOption(new Option('--format <format>', 'output format').choices(['jsonl', 'csv']).default('jsonl'))
    .option('--since <when>', 'records at or after: a date (2026-01-31) or a duration ago (7d, 24h)')
    .option('--until <when>', 'records before: a date or a duration ago')
    .option('--output <file>', 'write to this file instead of stdout')
    .action(async (flags: AuditCliFlags & { format: 'jsonl' | 'csv'; since?: string; until?: string; output?: string }) => {
      const dataDir = existingDataDir(resolveDataDir, flags);
      const since = flags.since !== undefined ? parseSince(flags.since, '--since') : undefined;
      const until = flags.until !== undefined ? parseSince(flags.until, '--until') : undefined;
      if (flags.output === undefined) {
        const summary = await exportAuditLog(dataDir, { format: flags.format, since, until }, io.stdout);
        if (summary.skipped > 0) io.stderr.write(`Warning: ${summary.skipped} damaged line(s) left out; run \`scim-bridge audit verify\`.\n`);
        return;
      }
      const file = createWriteStream(flags.output, { mode: 0o600 });
      const summary = await exportAuditLog(dataDir, { format: flags.format, since, until }, file);
      file.end();
      await finished(file);
      io.stderr.write(`Exported ${summary.records} record(s) to ${flags.output}.\n`);
      if (summary.skipped > 0) io.stderr.write(`Warning: ${summary.skipped} damaged line(s) left out; run \`scim-bridge audit verify\`.\n`);
    });

  audit
    .command('verify')
    .description('recompute every hash and the chain across rotated files; exit 1 naming the first broken record')
    .addOption(dataDirOption())
    .addOption(configOption())
    .action(async (flags: AuditCliFlags) => {
      const dataDir = existingDataDir(resolveDataDir, flags);
      const r = await verifyAuditLog(dataDir);
      if (r.ok) {
        io.stdout.write(`OK: ${r.records} records, chain intact\n`);
        return;
      }
      io.stdout.write(`BROKEN: ${r.file} line ${r.line}${r.seq !== undefined ? ` (seq ${r.seq})` : ''}: ${r.reason}\n`);
      io.setExitCode(1);
    });
  return audit;
}
