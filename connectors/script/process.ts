/**
 * Runs one script invocation for the `script` connector: no shell, a clean environment, JSON on
 * stdin, bounded stdout/stderr buffers, and a timeout that kills the whole process group
 * (SIGTERM, then SIGKILL after a grace period) so a script's own children do not linger.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** How to start the script. */
export interface ScriptSpec {
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  killGraceMs: number;
  maxStdoutBytes: number;
  maxStderrBytes: number;
}

/** What one run produced. */
export interface ScriptRun {
  /** null when the process was killed by a signal. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  /** stdout went over maxStdoutBytes: the rest was read and dropped. */
  stdoutTruncated: boolean;
  /** The last maxStderrBytes of stderr. */
  stderrTail: string;
  durationMs: number;
}

/** The process could not be started (missing command, not executable, bad cwd). */
export class SpawnError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'SpawnError';
  }
}

/** Keeps the last `limit` bytes of a stream. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - this.chunks[0].length >= this.limit) this.size -= this.chunks.shift()!.length;
  }
  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

/** Processes currently running, so dispose() can stop them. */
export class ProcessGroup {
  private readonly running = new Set<ChildProcess>();

  add(child: ChildProcess): void {
    this.running.add(child);
    child.once('close', () => this.running.delete(child));
  }

  /** Stops every running script (SIGTERM, SIGKILL after the grace period) and waits for them. */
  async stopAll(graceMs: number): Promise<void> {
    await Promise.all([...this.running].map((child) => terminate(child, graceMs)));
  }
}

/** Sends a signal to the child's process group (POSIX), or to the child alone (Windows). */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    if (process.platform === 'win32') child.kill(signal);
    else process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

/** SIGTERM to the group, SIGKILL after `graceMs`; resolves once the child has closed. */
export function terminate(child: ChildProcess, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      // The leader is gone; its group may not be (a background child): make sure.
      signalGroup(child, 'SIGKILL');
      return resolve();
    }
    const kill = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
    child.once('close', () => {
      clearTimeout(kill);
      resolve();
    });
    signalGroup(child, 'SIGTERM');
  });
}

/** Starts the script detached into its own process group, with no shell. */
export function startScript(spec: ScriptSpec, group: ProcessGroup): ChildProcess {
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env: spec.env,
    shell: false,
    // Its own process group, so a timeout kills what the script started too.
    detached: process.platform !== 'win32',
    windowsHide: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  group.add(child);
  return child;
}

/** Writes the input and closes stdin; a script that does not read it (EPIPE) is not an error. */
export function feed(child: ChildProcess, input: string): void {
  child.stdin?.on('error', () => {});
  child.stdin?.end(input);
}

/**
 * Runs the script with `input` on stdin and collects its output within the bounds. A failure to
 * start rejects with SpawnError; everything else (exit codes, timeout) is in the result.
 */
export function runScript(spec: ScriptSpec, input: string, group: ProcessGroup): Promise<ScriptRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = startScript(spec, group);
    } catch (err) {
      reject(new SpawnError((err as Error).message, (err as { code?: string }).code));
      return;
    }
    const stdout: Buffer[] = [];
    let stdoutSize = 0;
    let stdoutTruncated = false;
    const stderr = new TailBuffer(spec.maxStderrBytes);
    let timedOut = false;
    let settled = false;

    child.stdout!.on('data', (chunk: Buffer) => {
      // Keep reading past the limit (a blocked pipe would hang the script) but drop the bytes.
      if (stdoutSize + chunk.length > spec.maxStdoutBytes) {
        stdoutTruncated = true;
        const room = spec.maxStdoutBytes - stdoutSize;
        if (room > 0) stdout.push(chunk.subarray(0, room));
        stdoutSize = spec.maxStdoutBytes;
        return;
      }
      stdout.push(chunk);
      stdoutSize += chunk.length;
    });
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));

    const timer = setTimeout(() => {
      timedOut = true;
      void terminate(child, spec.killGraceMs);
    }, spec.timeoutMs);

    // A background process that inherited stdout would hold 'close' back forever: after the
    // script itself exits, give its pipes a moment, then stop waiting for them.
    let exitGrace: NodeJS.Timeout | undefined;
    child.once('exit', () => {
      exitGrace = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        signalGroup(child, 'SIGKILL');
        finish(child.exitCode, child.signalCode);
      }, 1_000);
    });

    const finish = (exitCode: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (exitGrace) clearTimeout(exitGrace);
      resolve({
        exitCode,
        signal,
        timedOut,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stdoutTruncated,
        stderrTail: stderr.text(),
        durationMs: Date.now() - started,
      });
    };

    child.once('error', (err: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (exitGrace) clearTimeout(exitGrace);
      reject(new SpawnError(err.message, err.code));
    });
    child.once('close', (code, signal) => finish(code, signal));
    feed(child, input);
  });
}

/** The last `lines` lines of a text, at most `maxChars` characters, for an error message. */
export function lastLines(text: string, lines = 20, maxChars = 2_000): string {
  const tail = text.replace(/\s+$/, '').split(/\r?\n/).slice(-lines).join('\n');
  return tail.length > maxChars ? `…${tail.slice(tail.length - maxChars)}` : tail;
}
