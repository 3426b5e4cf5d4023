/** Runs the built `scim-bridge` command (dist/cli.js; `npm test` builds first) as a real child process. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: run `npm run build` (npm test does it for you)');
}

export function runCli(args: string[], env: Record<string, string> = {}, input?: string) {
  assertBuilt();
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, timeout: 20_000, ...(input !== undefined ? { input } : {}) });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Children still running when the test file ends (a failed or timed-out test) are killed with it. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Starts `scim-bridge serve` and resolves with its SCIM base URL once it printed it. */
export async function startServe(args: string[], env: Record<string, string> = {}): Promise<{ child: ChildProcess; scimUrl: string; output: () => string }> {
  assertBuilt();
  const child = spawn(process.execPath, [CLI, 'serve', ...args], {
    // Tests hammer one token harder than an IdP would: the per-token rate limit and concurrency cap are off unless a test sets them.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', SCIM_BRIDGE_LOG_LEVEL: 'warn', SCIM_BRIDGE_RATE_LIMIT_PER_TOKEN: '0', SCIM_BRIDGE_CONCURRENCY_PER_TOKEN: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const scimUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start in time:\n${out}`)), 15_000);
    const onData = () => {
      const m = /SCIM base URL:\s+(\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}:\n${out}`));
    });
  });
  return { child, scimUrl, output: () => out };
}

export function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
    child.kill(signal);
  });
}
