/**
 * The custom provisioning hook of a connection: a JS module or a command that sees every SCIM write
 * before it commits and may allow it, amend the resource, or veto it with a message for the IdP.
 *
 * Contract (docs/connections.md "Custom provisioning hook"):
 * input  { connection, type: "User"|"Group", operation: "create"|"replace"|"patch"|"delete", id, before, after, actor }
 * output nothing or { "allow": true }           go on unchanged
 *        { "resource": { ...SCIM resource } }     go on with this resource instead of `after`
 *        { "allow": false, "detail": "...", "status": 400|403|409, "scimType": "..." }  refuse
 * A module exports it as its default (or `provision`) function; a command reads the input as JSON on
 * stdin and writes the output as JSON on stdout, exit code 0 (no shell is involved), with only an
 * allow-listed environment, as a `script` connector's command.
 */
import { spawn } from 'node:child_process';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { DEFAULT_INHERITED_ENV, childEnvironment, envNameSchema } from '../../../connectors/sdk/index.js';
import { ScimError, type Actor, type ScimType } from '../scim/index.js';
import type { ResourceType, ScimJson } from '../store/index.js';

export const hookSchema = z
  .object({
    /** Absolute path of an ES module whose default (or `provision`) export is the hook. */
    module: z.string().min(1).refine(isAbsolute, 'give an absolute path').optional(),
    /** A command as argv (no shell): the executable's absolute path, then its arguments. */
    command: z.array(z.string().min(1)).min(1).refine((c) => isAbsolute(c[0]), 'the executable must be an absolute path').optional(),
    /** A command's fixed environment variables. */
    env: z.record(envNameSchema, z.string()).optional(),
    /**
     * The only variables a command gets from the gateway's own environment (which holds the
     * gateway's credentials); DEFAULT_INHERITED_ENV when absent. Left unset rather than
     * defaulted, so a stored hook stays as the admin wrote it.
     */
    inheritEnv: z.array(envNameSchema).optional(),
    timeoutMs: z.number().int().min(100).max(60_000).default(5_000),
    /** What a hook that fails (throws, times out, exits non-zero, prints no JSON) means: refuse with 503 (default) or let the write through. */
    onError: z.enum(['refuse', 'allow']).default('refuse'),
    /** Which resources the hook sees. */
    resources: z.array(z.enum(['User', 'Group'])).min(1).default(['User', 'Group']),
  })
  .strict()
  .refine((h) => (h.module === undefined) !== (h.command === undefined), 'give either "module" or "command"');
export type HookConfig = z.infer<typeof hookSchema>;

export interface HookInput {
  connection: string;
  type: ResourceType;
  operation: 'create' | 'replace' | 'patch' | 'delete';
  id: string;
  before?: ScimJson;
  after?: ScimJson;
  actor?: Actor;
}

const outputSchema = z.union([
  z.object({ allow: z.literal(true).optional(), resource: z.record(z.string(), z.unknown()).optional() }).loose(),
  z
    .object({
      allow: z.literal(false),
      detail: z.string().min(1).max(2_000),
      status: z.union([z.literal(400), z.literal(403), z.literal(409)]).default(400),
      scimType: z.enum(['invalidValue', 'uniqueness', 'mutability', 'invalidSyntax']).optional(),
    })
    .loose(),
]);

/** What the service does with a hook's answer: nothing, a new resource, or throw. */
export type HookRunner = (input: HookInput) => Promise<ScimJson | undefined>;

const MAX_OUTPUT = 1024 * 1024;

function runCommand(argv: string[], env: Record<string, string>, input: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env, shell: false, detached: process.platform !== 'win32' });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const kill = () => {
      try {
        if (child.pid !== undefined && process.platform !== 'win32') process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      kill();
      finish(() => reject(new Error(`did not answer within ${timeoutMs} ms`)));
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      outBytes += b.length;
      if (outBytes > MAX_OUTPUT) {
        kill();
        finish(() => reject(new Error(`printed more than ${MAX_OUTPUT} bytes`)));
        return;
      }
      out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      err = (err + b.toString('utf8')).slice(-2_000);
    });
    child.on('error', (e) => finish(() => reject(new Error(`could not start: ${e.message}`))));
    child.on('close', (code, signal) => {
      if (code === 0) finish(() => resolve(Buffer.concat(out).toString('utf8')));
      else finish(() => reject(new Error(`exited with ${signal ?? `code ${code}`}${err.trim() ? `: ${err.trim().split('\n').slice(-3).join(' | ')}` : ''}`)));
    });
    child.stdin.on('error', () => undefined); // a hook that exits without reading stdin
    child.stdin.end(input);
  });
}

async function loadModule(path: string): Promise<(input: HookInput) => unknown> {
  const mod = (await import(pathToFileURL(path).href)) as { default?: unknown; provision?: unknown };
  const fn = typeof mod.provision === 'function' ? mod.provision : mod.default;
  if (typeof fn !== 'function') throw new Error(`${path} exports no default or "provision" function`);
  return fn as (input: HookInput) => unknown;
}

/** Builds the runner for a connection's hook; the module is imported once, on first use. */
export function createHookRunner(connection: string, config: HookConfig, logger: { warn(o: object, m?: string): void }): HookRunner {
  let fn: Promise<(input: HookInput) => unknown> | undefined;
  const where = config.module ?? config.command!.join(' ');
  const call = async (input: HookInput): Promise<unknown> => {
    if (config.module) {
      fn ??= loadModule(config.module);
      const run = await fn;
      return await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`did not answer within ${config.timeoutMs} ms`)), config.timeoutMs);
        Promise.resolve()
          .then(() => run(structuredClone(input)))
          .then(
            (v) => {
              clearTimeout(timer);
              resolve(v);
            },
            (e: unknown) => {
              clearTimeout(timer);
              reject(e instanceof Error ? e : new Error(String(e)));
            },
          );
      });
    }
    const text = (await runCommand(config.command!, childEnvironment(config.inheritEnv ?? DEFAULT_INHERITED_ENV, config.env), JSON.stringify(input), config.timeoutMs)).trim();
    if (text === '') return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new Error(`printed something that is not JSON: ${text.slice(0, 200)}`);
    }
  };

  return async (input) => {
    if (!config.resources.includes(input.type)) return undefined;
    let raw: unknown;
    try {
      raw = await call(input);
    } catch (err) {
      const message = `the provisioning hook of connection "${connection}" (${where}) failed: ${(err as Error).message}`;
      logger.warn({ connection, hook: where }, message);
      if (config.onError === 'allow') return undefined;
      throw ScimError.unavailable(`${message}. Nothing was changed; fix the hook or retry.`);
    }
    if (raw === undefined || raw === null) return undefined;
    const parsed = outputSchema.safeParse(raw);
    if (!parsed.success) {
      const message = `the provisioning hook of connection "${connection}" (${where}) answered something unexpected (${parsed.error.issues[0].message})`;
      logger.warn({ connection, hook: where }, message);
      if (config.onError === 'allow') return undefined;
      throw ScimError.unavailable(`${message}. Nothing was changed.`);
    }
    const out = parsed.data;
    if (out.allow === false) {
      const refusal = out as { detail: string; status: 400 | 403 | 409; scimType?: ScimType };
      const scimType = refusal.scimType ?? (refusal.status === 409 ? 'uniqueness' : refusal.status === 400 ? 'invalidValue' : undefined);
      try {
        throw new ScimError(refusal.status, scimType, refusal.detail);
      } catch (err) {
        // A scimType that cannot travel with that status (RFC 7644 §3.12) is dropped, not the refusal.
        throw err instanceof ScimError ? err : new ScimError(refusal.status, undefined, refusal.detail);
      }
    }
    if (input.operation === 'delete') return undefined; // a delete can be vetoed, not amended
    return (out as { resource?: ScimJson }).resource;
  };
}
