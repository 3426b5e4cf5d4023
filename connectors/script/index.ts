/**
 * The `script` connector: runs a configured executable once per operation, with the operation as
 * JSON on stdin. No shell, an allow-listed environment, secrets in environment variables (never
 * in argv). Exit 0 = done, 75 (EX_TEMPFAIL) = retry later, 67 (EX_NOUSER) = no such entry, any
 * other = refused; stdout may carry `{ "key": "..." }`. See README.md for the protocol.
 */
import { dirname, isAbsolute } from 'node:path';
import { z } from 'zod';
import {
  DEFAULT_INHERITED_ENV,
  NotFoundError,
  PermanentError,
  TransientError,
  childEnvironment,
  defineConnector,
  envNameSchema,
  secret,
  type Connector,
  type ConnectorCapabilities,
  type ConnectorDefinition,
  type ConnectorManifest,
  type ConnectorOperation,
  type InitContext,
  type KeyResult,
  type OperationContext,
  type Preview,
  type SecretReader,
  type TargetEntry,
  type TargetGroup,
  type TargetIdentity,
  type TargetKey,
  type TargetUser,
  type TestResult,
  type UserQuery,
} from '../sdk/index.js';
import { ProcessGroup, SpawnError, feed, lastLines, runScript, startScript, terminate, type ScriptRun, type ScriptSpec } from './process.js';

/** sysexits.h: temporary failure, the caller should retry. */
export const EX_TEMPFAIL = 75;
/** sysexits.h: addressee unknown; here "no entry with that key". */
export const EX_NOUSER = 67;

const absolutePath = z.string().refine(isAbsolute, 'must be an absolute path');
const envName = envNameSchema;

/** The `script` connector's configuration. */
export const scriptConfigSchema = z
  .object({
    /** The executable, by absolute path (no PATH lookup, no shell). */
    command: absolutePath,
    /** Arguments, passed as they are (no shell expansion). Never put a secret here. */
    args: z.array(z.string()).default([]),
    /** Working directory; the command's directory when absent. */
    cwd: absolutePath.optional(),
    /** Fixed variables for the script. */
    env: z.record(envName, z.string()).default({}),
    /** Variables passed through from the gateway's own environment; nothing else is. */
    inheritEnv: z.array(envName).default([...DEFAULT_INHERITED_ENV]),
    /** Credentials the script needs, kept in the secret store and handed over in environment variables. */
    credentials: z
      .object({
        apiKey: secret(z.string().min(1), { optional: true }),
        password: secret(z.string().min(1), { optional: true }),
        token: secret(z.string().min(1), { optional: true }),
      })
      .strict()
      .default({}),
    /** The variable each credential is passed in. */
    credentialsEnv: z
      .object({ apiKey: envName.default('SCRIPT_API_KEY'), password: envName.default('SCRIPT_PASSWORD'), token: envName.default('SCRIPT_TOKEN') })
      .strict()
      .default({ apiKey: 'SCRIPT_API_KEY', password: 'SCRIPT_PASSWORD', token: 'SCRIPT_TOKEN' }),
    /** Per run; a timeout kills the process group and is a TransientError. */
    timeoutMs: z.number().int().positive().max(3_600_000).default(30_000),
    /** For listUsers, which may take longer. */
    listTimeoutMs: z.number().int().positive().max(3_600_000).default(300_000),
    /** Between SIGTERM and SIGKILL. */
    killGraceMs: z.number().int().positive().max(60_000).default(5_000),
    maxStdoutBytes: z.number().int().positive().default(1024 * 1024),
    /** The tail of stderr kept for error messages. */
    maxStderrBytes: z.number().int().positive().default(64 * 1024),
    /** Runs at once; 1 unless the script is safe to run concurrently. */
    maxConcurrent: z.number().int().positive().max(64).default(1),
    /** Optional operations the script answers (capabilities follow). */
    operations: z
      .object({ groups: z.boolean().default(false), listUsers: z.boolean().default(false), findUser: z.boolean().default(false) })
      .strict()
      .default({ groups: false, listUsers: false, findUser: false }),
  })
  .strict();

/** The parsed configuration. */
export type ScriptConfig = z.infer<typeof scriptConfigSchema>;

const CREDENTIALS = ['apiKey', 'password', 'token'] as const;

const BASE_CAPABILITIES: ConnectorCapabilities = {
  create: true,
  update: true,
  deactivate: true,
  reactivate: true,
  delete: true,
  groups: true,
  membership: true,
  read: true,
  lookup: true,
  dryRun: true,
  passwords: false,
};

/**
 * Where an instance points: the command line it runs. Its credentials are handed to that process,
 * so anything that changes what runs (command, arguments, working directory, environment) counts
 * as another endpoint: saved credentials must be typed again.
 */
function scriptTargetIdentity(c: ScriptConfig): TargetIdentity {
  const run = {
    command: c.command,
    args: c.args,
    cwd: c.cwd ?? dirname(c.command),
    env: Object.entries(c.env).sort(([a], [b]) => (a < b ? -1 : 1)),
    inheritEnv: [...new Set(c.inheritEnv)].sort(),
  };
  return { target: `script:${[c.command, ...c.args].join(' ')}`, endpoints: [`script:${JSON.stringify(run)}`] };
}

/** The `script` manifest, with every capability a configuration may enable. */
export const scriptManifest: ConnectorManifest<ScriptConfig> = {
  type: 'script',
  displayName: 'Script (JSON on stdin)',
  version: '1.0.0',
  description: 'Runs an executable for each operation with the operation as JSON on stdin; exit 0 done, 75 retry, other refused. No shell.',
  configSchema: scriptConfigSchema,
  capabilities: BASE_CAPABILITIES,
  defaultMapping: {
    givenName: 'name.givenName',
    familyName: 'name.familyName',
    displayName: 'displayName',
    email: 'emails[primary eq true].value',
    title: 'title',
    employeeNumber: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber',
    department: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department',
  },
  targetIdentity: scriptTargetIdentity,
};

/** What the script receives on stdin. */
export type ScriptInput =
  | { operation: 'test' }
  | { operation: 'listUsers' }
  | { operation: 'findUser'; query: UserQuery }
  | (ConnectorOperationInput & { operationId: string; attempt: number });

type ConnectorOperationInput =
  | { operation: 'createUser'; user: TargetUser }
  | { operation: 'updateUser' | 'deactivateUser' | 'reactivateUser'; key: TargetKey; user: TargetUser }
  | { operation: 'deleteUser' | 'deleteGroup'; key: TargetKey }
  | { operation: 'upsertGroup'; key?: TargetKey; group: TargetGroup }
  | { operation: 'addMembers' | 'removeMembers'; key: TargetKey; memberKeys: TargetKey[] };

/** A small semaphore: at most `size` runs at once. */
class Slots {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly size: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.size) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/** Parses stdout: one JSON document, or JSON on its last non-empty line (after log lines). */
function parseOutput(stdout: string): Record<string, unknown> | undefined {
  const text = stdout.trim();
  if (!text) return {};
  const candidates = [text, text.split(/\r?\n/).filter((l) => l.trim()).pop() ?? ''];
  for (const c of candidates) {
    try {
      const value: unknown = JSON.parse(c);
      if (value === null) return {};
      if (typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {
      // try the next form
    }
  }
  return undefined;
}

function keyIn(output: Record<string, unknown> | undefined): TargetKey | undefined {
  const key = output?.key;
  if (typeof key === 'string' && key !== '') return key;
  if (typeof key === 'number' && Number.isFinite(key)) return String(key);
  return undefined;
}

class ScriptConnector implements Connector<ScriptConfig> {
  private config!: ScriptConfig;
  private secrets!: SecretReader;
  private slots!: Slots;
  private readonly processes = new ProcessGroup();

  constructor(private readonly capabilities: ConnectorCapabilities) {}

  async init(ctx: InitContext<ScriptConfig>): Promise<void> {
    this.config = ctx.config;
    this.secrets = ctx.secrets;
    this.slots = new Slots(this.config.maxConcurrent);
    const ops = this.config.operations;
    Object.assign(this.capabilities, { groups: ops.groups, membership: ops.groups, read: ops.listUsers, lookup: ops.findUser } satisfies ConnectorCapabilities);
  }

  async dispose(): Promise<void> {
    await this.processes.stopAll(this.config?.killGraceMs ?? 5_000);
  }

  /** The command line as shown in messages. */
  private get label(): string {
    return ['script', this.config.command, ...this.config.args].join(' ');
  }

  /** The environment: allow-listed names from ours, the fixed ones, then the credentials. */
  private async environment(): Promise<Record<string, string>> {
    const env = childEnvironment(this.config.inheritEnv, this.config.env);
    for (const field of CREDENTIALS) {
      const value = await this.secrets.get(`credentials.${field}`);
      if (value !== undefined) env[this.config.credentialsEnv[field]] = value;
    }
    return env;
  }

  private async spec(timeoutMs: number): Promise<ScriptSpec> {
    const c = this.config;
    return {
      command: c.command,
      args: c.args,
      cwd: c.cwd ?? dirname(c.command),
      env: await this.environment(),
      timeoutMs,
      killGraceMs: c.killGraceMs,
      maxStdoutBytes: c.maxStdoutBytes,
      maxStderrBytes: c.maxStderrBytes,
    };
  }

  private spawnFailure(err: unknown): Error {
    if (!(err instanceof SpawnError)) return err as Error;
    const hint =
      err.code === 'ENOENT'
        ? `: ${this.config.command} (or the working directory) does not exist`
        : err.code === 'EACCES'
          ? `: ${this.config.command} is not executable by the gateway's account`
          : `: ${err.message}`;
    return new PermanentError(`cannot start ${this.label}${hint}`, { code: 'spawn_failed' });
  }

  /** Maps a finished run to success or an SDK error; the one place exit codes mean something. */
  private check(run: ScriptRun, operation: string): void {
    const stderr = lastLines(run.stderrTail);
    const detail = stderr ? `\n${stderr}` : '';
    if (run.timedOut) {
      throw new TransientError(`${this.label} (${operation}) timed out after ${run.durationMs} ms and was killed${detail}`, { code: 'timeout' });
    }
    if (run.exitCode === 0) return;
    if (run.exitCode === EX_TEMPFAIL) throw new TransientError(`${this.label} (${operation}) asked to retry later (exit 75)${detail}`, { code: 'script_tempfail' });
    if (run.exitCode === EX_NOUSER) throw new NotFoundError(`${this.label} (${operation}) found no such entry (exit 67)${detail}`);
    const how = run.exitCode === null ? `was killed by ${run.signal}` : `failed with exit ${run.exitCode}`;
    throw new PermanentError(`${this.label} (${operation}) ${how}${detail}`, { code: run.exitCode === null ? 'script_killed' : `exit_${run.exitCode}` });
  }

  /** Runs the script for one input and returns its parsed stdout. */
  private async invoke(input: ScriptInput, timeoutMs = this.config.timeoutMs): Promise<Record<string, unknown> | undefined> {
    return this.slots.run(async () => {
      let run: ScriptRun;
      try {
        run = await runScript(await this.spec(timeoutMs), `${JSON.stringify(input)}\n`, this.processes);
      } catch (err) {
        throw this.spawnFailure(err);
      }
      this.check(run, input.operation);
      if (run.stdoutTruncated) {
        throw new PermanentError(`${this.label} (${input.operation}) printed more than ${this.config.maxStdoutBytes} bytes on stdout (maxStdoutBytes)`, { code: 'output_too_large' });
      }
      return parseOutput(run.stdout);
    });
  }

  private async write(input: ScriptInput, fallbackKey?: TargetKey): Promise<KeyResult> {
    const output = await this.invoke(input);
    const key = keyIn(output) ?? fallbackKey;
    if (!key) {
      const why = output === undefined ? 'its stdout is not JSON' : 'it printed no "key"';
      throw new PermanentError(`${this.label} (${input.operation}) succeeded but ${why}: print {"key": "..."} on stdout`, { code: 'no_key' });
    }
    return { key };
  }

  private base(ctx: OperationContext): { operationId: string; attempt: number } {
    return { operationId: ctx.operationId, attempt: ctx.attempt };
  }

  async createUser(user: TargetUser, ctx: OperationContext): Promise<KeyResult> {
    // The script is idempotent by contract: a create of an existing user updates it and prints its key.
    return this.write({ operation: 'createUser', user, ...this.base(ctx) });
  }

  async updateUser(key: TargetKey, user: TargetUser, ctx: OperationContext): Promise<KeyResult> {
    return this.write({ operation: 'updateUser', key, user, ...this.base(ctx) }, key);
  }

  async deactivateUser(key: TargetKey, user: TargetUser, ctx: OperationContext): Promise<KeyResult> {
    return this.write({ operation: 'deactivateUser', key, user: { ...user, active: false }, ...this.base(ctx) }, key);
  }

  async reactivateUser(key: TargetKey, user: TargetUser, ctx: OperationContext): Promise<KeyResult> {
    return this.write({ operation: 'reactivateUser', key, user: { ...user, active: true }, ...this.base(ctx) }, key);
  }

  async deleteUser(key: TargetKey, ctx: OperationContext): Promise<void> {
    await this.invoke({ operation: 'deleteUser', key, ...this.base(ctx) });
  }

  async upsertGroup(group: TargetGroup, key: TargetKey | undefined, ctx: OperationContext): Promise<KeyResult> {
    return this.write({ operation: 'upsertGroup', ...(key !== undefined ? { key } : {}), group, ...this.base(ctx) }, key);
  }

  async deleteGroup(key: TargetKey, ctx: OperationContext): Promise<void> {
    await this.invoke({ operation: 'deleteGroup', key, ...this.base(ctx) });
  }

  async addMembers(key: TargetKey, memberKeys: TargetKey[], ctx: OperationContext): Promise<void> {
    await this.invoke({ operation: 'addMembers', key, memberKeys, ...this.base(ctx) });
  }

  async removeMembers(key: TargetKey, memberKeys: TargetKey[], ctx: OperationContext): Promise<void> {
    await this.invoke({ operation: 'removeMembers', key, memberKeys, ...this.base(ctx) });
  }

  async findUser(query: UserQuery): Promise<TargetEntry | undefined> {
    const output = await this.invoke({ operation: 'findUser', query });
    if (output === undefined) throw new PermanentError(`${this.label} (findUser): stdout is not JSON`, { code: 'bad_output' });
    const key = keyIn(output);
    if (!key) return undefined;
    return { key, user: (typeof output.user === 'object' && output.user !== null ? output.user : {}) as Partial<TargetUser> };
  }

  /** Streams JSON Lines from the script's stdout, one entry per line, with a bounded line length. */
  async *listUsers(): AsyncIterable<TargetEntry> {
    const release = await this.acquire();
    let child: ReturnType<typeof startScript> | undefined;
    const spec = await this.spec(this.config.listTimeoutMs);
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const started = Date.now();
    try {
      try {
        child = startScript(spec, this.processes);
      } catch (err) {
        throw this.spawnFailure(new SpawnError((err as Error).message, (err as { code?: string }).code));
      }
      const proc = child;
      const spawnError = new Promise<never>((_, reject) => proc.once('error', (e: NodeJS.ErrnoException) => reject(this.spawnFailure(new SpawnError(e.message, e.code)))));
      spawnError.catch(() => {});
      const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('close', (code, signal) => resolve({ code, signal })));
      const stderr: Buffer[] = [];
      let stderrSize = 0;
      proc.stderr!.on('data', (chunk: Buffer) => {
        stderr.push(chunk);
        stderrSize += chunk.length;
        while (stderrSize - stderr[0].length >= spec.maxStderrBytes) stderrSize -= stderr.shift()!.length;
      });
      timer = setTimeout(() => {
        timedOut = true;
        void terminate(proc, spec.killGraceMs);
      }, spec.timeoutMs);
      feed(proc, `${JSON.stringify({ operation: 'listUsers' } satisfies ScriptInput)}\n`);

      let pending = '';
      let lineNo = 0;
      const parseLine = (line: string): TargetEntry | undefined => {
        lineNo++;
        if (!line.trim()) return undefined;
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          throw new PermanentError(`${this.label} (listUsers): line ${lineNo} of stdout is not JSON`, { code: 'bad_output' });
        }
        const key = keyIn(value as Record<string, unknown>);
        if (!key) throw new PermanentError(`${this.label} (listUsers): line ${lineNo} has no "key"`, { code: 'bad_output' });
        const user = (value as { user?: unknown }).user;
        return { key, user: (typeof user === 'object' && user !== null ? user : {}) as Partial<TargetUser> };
      };
      for await (const chunk of proc.stdout! as AsyncIterable<Buffer>) {
        pending += chunk.toString('utf8');
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const entry = parseLine(pending.slice(0, nl));
          pending = pending.slice(nl + 1);
          if (entry) yield entry;
        }
        if (pending.length > spec.maxStdoutBytes) {
          throw new PermanentError(`${this.label} (listUsers): a line of stdout is longer than ${spec.maxStdoutBytes} bytes`, { code: 'output_too_large' });
        }
      }
      const { code, signal } = await Promise.race([closed, spawnError]);
      this.check(
        { exitCode: code, signal, timedOut, stdout: '', stdoutTruncated: false, stderrTail: Buffer.concat(stderr).toString('utf8'), durationMs: Date.now() - started },
        'listUsers',
      );
      const last = parseLine(pending);
      if (last) yield last;
    } finally {
      if (timer) clearTimeout(timer);
      // The caller stopped early or a line was bad: do not leave the script running.
      if (child && child.exitCode === null && child.signalCode === null) await terminate(child, spec.killGraceMs);
      release();
    }
  }

  /** Takes a slot for a long run (listUsers) and returns its release. */
  private acquire(): Promise<() => void> {
    return new Promise((outer) => {
      void this.slots.run(
        () =>
          new Promise<void>((done) => {
            outer(done);
          }),
      );
    });
  }

  async test(): Promise<TestResult> {
    try {
      const output = await this.invoke({ operation: 'test' });
      const said = typeof output?.message === 'string' ? `: ${output.message}` : '';
      return { ok: true, message: `${this.label} answered the test (exit 0)${said}` };
    } catch (err) {
      const message = (err as Error).message.replace(/\n/g, ' | ');
      return { ok: false, message: message.startsWith(this.label) || message.startsWith('cannot start') ? message : `${this.label}: ${message}` };
    }
  }

  async preview(op: ConnectorOperation, ctx: OperationContext): Promise<Preview> {
    const { kind, operationId: _id, attempt: _attempt, ...rest } = op;
    const input = { operation: kind, ...rest, ...this.base(ctx) };
    const env = Object.keys(await this.environment()).sort();
    return {
      requests: [
        {
          description: `run ${this.label} with ${kind} on stdin`,
          detail: { command: this.config.command, args: this.config.args, cwd: this.config.cwd ?? dirname(this.config.command), env, stdin: input },
        },
      ],
    };
  }
}

/**
 * Creates the `script` connector definition. Its manifest is a copy per definition: an instance
 * turns groups, read and lookup on only when its script answers them (operations.*).
 */
export function createScriptConnector(): ConnectorDefinition<ScriptConfig> {
  const manifest: ConnectorManifest<ScriptConfig> = { ...scriptManifest, capabilities: { ...BASE_CAPABILITIES } };
  return defineConnector(manifest, () => new ScriptConnector(manifest.capabilities));
}

/** Internals for tests only. */
export const testing = { parseOutput, lastLines };
