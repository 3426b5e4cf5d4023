/** Small pieces every test-server harness needs: a free loopback port, a pause, a log's tail. */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** A port that was free a moment ago (the server binds it right after; a clash is retried). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The last lines of a server's log file, for an error message; `missing` when there is none. */
export function logTail(file: string, lines = 15, missing = '(no server log)'): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return missing;
  }
}
