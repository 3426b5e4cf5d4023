/**
 * The keychain check's child process in the desktop app: an Electron utility process. The app's
 * runAsNode fuse is off (electron-builder.yml), so the gateway cannot start `<app>` as Node with
 * ELECTRON_RUN_AS_NODE; a utility process runs the check's script with Node inside Electron, and
 * a keytar that hangs or crashes still costs only that process.
 */
import type { KeychainChildLauncher } from '../gateway/secrets/index.js';

/** The part of Electron's UtilityProcess the launcher uses. */
export interface UtilityProcessLike {
  stdout: NodeJS.ReadableStream | null;
  stderr: NodeJS.ReadableStream | null;
  kill(): boolean;
  once(event: 'exit', listener: (code: number) => void): unknown;
}

/** `utilityProcess.fork` as index.ts passes it in. */
export type ForkUtility = (modulePath: string, args: string[], options: { stdio: 'pipe'; serviceName: string; env: NodeJS.ProcessEnv }) => UtilityProcessLike;

/** Ends when the stream has ended or closed (a child's pipe at exit). */
function drained(stream: NodeJS.ReadableStream | null): Promise<void> {
  const state = stream as { readableEnded?: boolean; destroyed?: boolean } | null;
  if (!stream || state?.readableEnded || state?.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
  });
}

export function utilityProcessLauncher(fork: ForkUtility): KeychainChildLauncher {
  return (script, args) => {
    const env = { ...process.env };
    delete env.ELECTRON_RUN_AS_NODE;
    const child = fork(script, args, { stdio: 'pipe', serviceName: 'SCIM Bridge keychain check', env });
    let killed = false;
    return {
      stdout: child.stdout,
      stderr: child.stderr,
      kill: () => {
        killed = true;
        child.kill();
      },
      onClose(listener) {
        // 'exit' can come before the piped report is read: wait for the pipes too (not after a kill).
        const output = Promise.all([drained(child.stdout), drained(child.stderr)]);
        child.once('exit', (code) => {
          if (killed) listener(null, 'SIGKILL');
          else void output.then(() => listener(code, null));
        });
      },
      // A utility process that cannot start ends with an exit code: onClose reports it.
      onError() {},
    };
  };
}
