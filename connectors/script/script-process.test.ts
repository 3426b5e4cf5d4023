/**
 * The script connector's process handling with real POSIX sh scripts: exit codes, stdin, the
 * environment allow-list, no shell, timeouts that kill the whole process group, huge output,
 * JSON Lines listing and test().
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError, PermanentError, TransientError, createConnectorHost, type ConnectorHost, type TargetUser } from '../sdk/index.js';
import { createScriptConnector, testing, type ScriptConfig } from './index.js';

let dir: string;
const hosts: ConnectorHost<ScriptConfig>[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scim-bridge-script-proc-'));
});
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes an executable POSIX sh script and returns its path. */
function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

async function hostFor(command: string, config: Record<string, unknown> = {}, secrets: Record<string, string> = {}): Promise<ConnectorHost<ScriptConfig>> {
  const host = await createConnectorHost(createScriptConnector(), { config: { command, ...config }, secrets });
  hosts.push(host);
  return host;
}

const user = (extra: Partial<TargetUser> = {}): TargetUser => ({
  scimId: randomUUID(),
  externalId: 'ext-1',
  userName: 'ada@example.org',
  active: true,
  attributes: { givenName: 'Ada', groups: ['a', 'b'] },
  ...extra,
});
const op = () => ({ operationId: randomUUID(), attempt: 3 });

/** Whether a process still runs; a zombie (killed, waiting for init to reap it) does not. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] !== 'Z';
  } catch {
    return false;
  }
}

describe('the protocol', () => {
  it('sends the operation as JSON on stdin and takes the key from stdout', async () => {
    const cmd = script('create.sh', `cat > "${dir}/stdin.json"\necho 'log line before the answer'\necho '{"key": "emp-42"}'`);
    const host = await hostFor(cmd);
    const u = user();
    const result = await host.apply({ kind: 'createUser', operationId: 'op-1', attempt: 2, user: u });
    expect(result.key).toBe('emp-42');
    expect(JSON.parse(readFileSync(join(dir, 'stdin.json'), 'utf8'))).toEqual({ operation: 'createUser', user: u, operationId: 'op-1', attempt: 2 });
  });

  it('update keeps the key when the script prints none, and follows a new one', async () => {
    const quiet = await hostFor(script('quiet.sh', 'cat >/dev/null'));
    expect((await quiet.apply({ kind: 'updateUser', ...op(), key: 'k1', user: user() })).key).toBe('k1');
    const renaming = await hostFor(script('rename.sh', 'cat >/dev/null; echo \'{"key": 7}\''));
    expect((await renaming.apply({ kind: 'updateUser', ...op(), key: 'k1', user: user() })).key).toBe('7');
  });

  it('a create without a key on stdout is refused, saying what to print', async () => {
    const host = await hostFor(script('nokey.sh', 'cat >/dev/null; echo done'));
    const err = await host.apply({ kind: 'createUser', ...op(), user: user() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as Error).message).toContain('print {"key": "..."} on stdout');
  });
});

describe('exit codes', () => {
  it('75 (EX_TEMPFAIL) is a TransientError with the end of stderr', async () => {
    const host = await hostFor(script('busy.sh', 'cat >/dev/null; echo "connecting to erp.example.org" >&2; echo "erp busy, try later" >&2; exit 75'));
    const err = await host.apply({ kind: 'createUser', ...op(), user: user() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect(err).toMatchObject({ code: 'script_tempfail' });
    expect((err as Error).message).toContain('erp busy, try later');
  });

  it('67 (EX_NOUSER) is NotFoundError: delete counts as done, update fails', async () => {
    const host = await hostFor(script('gone.sh', 'cat >/dev/null; echo "no such user" >&2; exit 67'));
    expect((await host.apply({ kind: 'deleteUser', ...op(), key: 'k' })).outcome).toBe('already-absent');
    expect(await host.apply({ kind: 'updateUser', ...op(), key: 'k', user: user() }).catch((e: unknown) => e)).toBeInstanceOf(NotFoundError);
  });

  it('any other exit is a PermanentError with the last lines of stderr, bounded', async () => {
    const host = await hostFor(script('refuse.sh', 'cat >/dev/null; i=0; while [ $i -lt 5000 ]; do echo "noise line $i" >&2; i=$((i+1)); done; echo "FINAL: department is required" >&2; exit 3'));
    const err = await host.apply({ kind: 'createUser', ...op(), user: user() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err).toMatchObject({ code: 'exit_3' });
    const message = (err as Error).message;
    expect(message).toContain('failed with exit 3');
    expect(message.trimEnd().endsWith('FINAL: department is required')).toBe(true);
    expect(message).not.toContain('noise line 10\n');
    expect(message.length).toBeLessThan(2_500);
  });

  it('a command that does not exist or is not executable is a PermanentError naming it', async () => {
    const missing = await hostFor(join(dir, 'missing.sh'));
    expect((await missing.test()).message).toContain(`${join(dir, 'missing.sh')} (or the working directory) does not exist`);
    const path = join(dir, 'noexec.sh');
    writeFileSync(path, '#!/bin/sh\nexit 0\n');
    chmodSync(path, 0o644);
    const err = await (await hostFor(path)).apply({ kind: 'deleteUser', ...op(), key: 'k' }).catch((e: unknown) => e);
    // Root may execute a file without x bits only if some x bit is set: 0644 is refused for everyone.
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as Error).message).toContain('is not executable');
  });
});

describe('environment, arguments and working directory', () => {
  it('passes only allow-listed variables, config env and credentials; secrets never in argv', async () => {
    process.env.SCIM_BRIDGE_SHOULD_NOT_LEAK = 'leak';
    try {
      const cmd = script('env.sh', `cat >/dev/null; env > "${dir}/env.txt"; printf '%s\\n' "$@" > "${dir}/args.txt"; pwd > "${dir}/pwd.txt"`);
      const host = await hostFor(cmd, { args: ['--mode', 'sync', '$(touch pwned)', '; rm -rf /'], env: { ERP_URL: 'https://erp.example.org' }, cwd: tmpdir(), credentialsEnv: { apiKey: 'ERP_API_KEY' } }, { 'credentials.apiKey': 'K3y-value-123', 'credentials.password': 'pw-value-456' });
      await host.apply({ kind: 'deleteUser', ...op(), key: 'k' });
      const env = Object.fromEntries(
        readFileSync(join(dir, 'env.txt'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      );
      expect(env).toMatchObject({ ERP_URL: 'https://erp.example.org', ERP_API_KEY: 'K3y-value-123', SCRIPT_PASSWORD: 'pw-value-456', PATH: process.env.PATH });
      expect(env.SCIM_BRIDGE_SHOULD_NOT_LEAK).toBeUndefined();
      // sh adds PWD, SHLVL and _ itself; nothing else beyond the allow-list.
      const allowed = new Set(['PATH', 'LANG', 'LC_ALL', 'TZ', 'HOME', 'TMPDIR', 'ERP_URL', 'ERP_API_KEY', 'SCRIPT_PASSWORD', 'PWD', 'SHLVL', '_', 'OLDPWD']);
      expect(Object.keys(env).filter((k) => !allowed.has(k))).toEqual([]);
      // No shell: the arguments arrive as written.
      expect(readFileSync(join(dir, 'args.txt'), 'utf8')).toBe('--mode\nsync\n$(touch pwned)\n; rm -rf /\n');
      expect(readFileSync(join(dir, 'args.txt'), 'utf8')).not.toContain('K3y-value-123');
      expect(existsSync(join(tmpdir(), 'pwned'))).toBe(false);
      expect(readFileSync(join(dir, 'pwd.txt'), 'utf8').trim()).toBe(tmpdir());
    } finally {
      delete process.env.SCIM_BRIDGE_SHOULD_NOT_LEAK;
    }
  });

  it('a script that prints a credential has it redacted from the error', async () => {
    const host = await hostFor(script('leaky.sh', 'cat >/dev/null; echo "auth failed with key $SCRIPT_API_KEY" >&2; exit 1'), {}, { 'credentials.apiKey': 'S3cret-api-key-99' });
    const err = await host.apply({ kind: 'deleteUser', ...op(), key: 'k' }).catch((e: unknown) => e);
    expect((err as Error).message).toContain('auth failed with key [REDACTED]');
    expect((err as Error).message).not.toContain('S3cret-api-key-99');
  });
});

describe('timeouts and output bounds', () => {
  it('a timeout kills the whole process group (SIGTERM ignored -> SIGKILL) and is a TransientError', async () => {
    // The script ignores SIGTERM and starts a child of its own; both must be gone afterwards.
    const cmd = script('hang.sh', `trap '' TERM\nsleep 30 &\necho "$$ $!" > "${dir}/pids"\nwait`);
    const host = await hostFor(cmd, { timeoutMs: 300, killGraceMs: 300 });
    const started = Date.now();
    const err = await host.apply({ kind: 'deleteUser', ...op(), key: 'k' }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(err).toBeInstanceOf(TransientError);
    expect(err).toMatchObject({ code: 'timeout' });
    expect((err as Error).message).toMatch(/timed out after \d+ ms and was killed/);
    const [shPid, sleepPid] = readFileSync(join(dir, 'pids'), 'utf8').trim().split(' ').map(Number);
    expect(alive(shPid)).toBe(false);
    expect(alive(sleepPid)).toBe(false);
  });

  it('huge stdout and stderr stay bounded; an oversized answer is refused', async () => {
    const flood = 'head -c 30000000 /dev/zero | tr "\\0" x';
    const noisy = await hostFor(script('flood.sh', `cat >/dev/null; ${flood}; ${flood} >&2; echo; echo "the end" >&2; exit 2`));
    const rssBefore = process.memoryUsage().rss;
    const err = await noisy.apply({ kind: 'deleteUser', ...op(), key: 'k' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as Error).message.length).toBeLessThan(2_500);
    expect((err as Error).message).toContain('the end');
    // 60 MB went through the pipes; the connector kept about 1 MiB + 64 KiB of it.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(50 * 1024 * 1024);

    const chatty = await hostFor(script('chatty.sh', `cat >/dev/null; ${flood}`), { maxStdoutBytes: 1024 });
    const tooBig = await chatty.apply({ kind: 'createUser', ...op(), user: user() }).catch((e: unknown) => e);
    expect(tooBig).toMatchObject({ code: 'output_too_large' });
  });
});

describe('listUsers, findUser and test()', () => {
  it('streams JSON Lines from stdout', async () => {
    const cmd = script('list.sh', 'cat >/dev/null; i=0; while [ $i -lt 3000 ]; do echo "{\\"key\\": \\"u$i\\", \\"user\\": {\\"userName\\": \\"user$i\\", \\"active\\": true}}"; i=$((i+1)); done');
    const host = await hostFor(cmd, { operations: { listUsers: true } });
    const keys: string[] = [];
    for await (const entry of host.listUsers()) keys.push(entry.key);
    expect(keys).toHaveLength(3000);
    expect(keys[2999]).toBe('u2999');
  });

  it('a bad line, or a failing exit, ends the listing with a typed error', async () => {
    const bad = await hostFor(script('bad.sh', 'cat >/dev/null; echo \'{"key":"a","user":{}}\'; echo "not json"'), { operations: { listUsers: true } });
    const seen: string[] = [];
    const err = await (async () => {
      for await (const e of bad.listUsers()) seen.push(e.key);
    })().catch((e: unknown) => e);
    expect(seen).toEqual(['a']);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as Error).message).toContain('line 2 of stdout is not JSON');

    const busy = await hostFor(script('busy.sh', 'cat >/dev/null; exit 75'), { operations: { listUsers: true } });
    const transient = await (async () => {
      for await (const _ of busy.listUsers()) void _;
    })().catch((e: unknown) => e);
    expect(transient).toBeInstanceOf(TransientError);
  });

  it('findUser answers from the script, {} meaning not found', async () => {
    const cmd = script('find.sh', 'input=$(cat); case "$input" in *ada*) echo \'{"key":"k-ada","user":{"userName":"ada","active":true}}\';; *) echo "{}";; esac');
    const host = await hostFor(cmd, { operations: { findUser: true } });
    expect(await host.findUser({ userName: 'ada' })).toEqual({ key: 'k-ada', user: { userName: 'ada', active: true } });
    expect(await host.findUser({ userName: 'bob' })).toBeUndefined();
  });

  it('test() runs the script with {"operation": "test"} and repeats its message', async () => {
    const cmd = script('test.sh', `cat > "${dir}/test-input.json"; echo '{"message": "erp.example.org reachable"}'`);
    const host = await hostFor(cmd, { args: ['--verbose'] });
    expect(await host.test()).toMatchObject({ ok: true, message: `script ${cmd} --verbose answered the test (exit 0): erp.example.org reachable` });
    expect(JSON.parse(readFileSync(join(dir, 'test-input.json'), 'utf8'))).toEqual({ operation: 'test' });
  });

  it('capabilities follow operations.*; preview shows the command, env names and stdin, not values', async () => {
    const host = await hostFor(script('x.sh', 'exit 0'), { env: { A: '1' } }, { 'credentials.token': 'tok-value-1' });
    expect(host.manifest.capabilities).toMatchObject({ groups: false, membership: false, read: false, lookup: false, create: true, delete: true });
    const plan = await host.dryRun({ kind: 'deleteUser', operationId: 'o', key: 'k' });
    expect(plan.requests[0].detail).toMatchObject({ command: join(dir, 'x.sh'), args: [], stdin: { operation: 'deleteUser', key: 'k', operationId: 'o', attempt: 1 } });
    expect((plan.requests[0].detail as { env: string[] }).env).toContain('SCRIPT_TOKEN');
    expect(JSON.stringify(plan)).not.toContain('tok-value-1');
  });

  it('parseOutput takes one JSON document or the last JSON line', () => {
    expect(testing.parseOutput('{"key":"a"}')).toEqual({ key: 'a' });
    expect(testing.parseOutput('working...\n{"key":"b"}\n')).toEqual({ key: 'b' });
    expect(testing.parseOutput('')).toEqual({});
    expect(testing.parseOutput('done')).toBeUndefined();
  });
});

describe('README', () => {
  it('the example configuration is valid and enables the optional operations', async () => {
    const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
    const example = JSON.parse(/```json\n([\s\S]*?)\n```/.exec(readme)![1]);
    const host = await createConnectorHost(createScriptConnector(), { config: example.connections.default.connectors[0].config, secrets: { 'credentials.apiKey': 'k' } });
    hosts.push(host);
    expect(host.manifest.capabilities).toMatchObject({ groups: true, membership: true, read: true, lookup: true });
  });
});
