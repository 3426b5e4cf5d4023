/**
 * The desktop app's keychain check launcher, without Electron: a stand-in for
 * `utilityProcess.fork` built on Node's child_process.fork with the same shape (piped stdio, an
 * `exit` event with the code only), running the gateway's real check script against a keytar
 * stand-in that refuses ELECTRON_RUN_AS_NODE.
 */
import { fork } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { fakeKeytar } from '../../test/helpers/fake-keytar.js';
import { cleanupDirs, tempDir } from '../../test/helpers/temp.js';
import { openSecretStore } from '../gateway/secrets/index.js';
import { utilityProcessLauncher, type ForkUtility } from './keychain-child.js';

afterAll(cleanupDirs);

const forks: Array<{ modulePath: string; options: Parameters<ForkUtility>[2] }> = [];
const forkLikeElectron: ForkUtility = (modulePath, args, options) => {
  forks.push({ modulePath, options });
  const child = fork(modulePath, args, { env: options.env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  return {
    stdout: child.stdout,
    stderr: child.stderr,
    kill: () => child.kill('SIGKILL'),
    once: (_event: 'exit', listener: (code: number) => void) => child.once('exit', (code) => listener(code ?? -1)),
  };
};

describe('utility process launcher', () => {
  it('runs the keychain check in a utility process, without ELECTRON_RUN_AS_NODE', async () => {
    const store = await openSecretStore({ dataDir: await tempDir(), backend: 'keychain', keytarModule: await fakeKeytar(), service: 'scim-bridge-test', launchKeychainChild: utilityProcessLauncher(forkLikeElectron) });
    await store.close();
    expect(store.describe().backend).toBe('keychain');
    expect(forks[0].modulePath).toMatch(/keychain-child\.cjs$/);
    expect(forks[0].options.stdio).toBe('pipe');
  });

  it('does not pass ELECTRON_RUN_AS_NODE on, even when it is set around the app', () => {
    let seen: NodeJS.ProcessEnv | undefined;
    process.env.ELECTRON_RUN_AS_NODE = '1';
    try {
      utilityProcessLauncher((_m, _a, options) => {
        seen = options.env;
        return { stdout: null, stderr: null, kill: () => true, once: () => undefined };
      })('check.cjs', []);
    } finally {
      delete process.env.ELECTRON_RUN_AS_NODE;
    }
    expect(seen).toBeDefined();
    expect(seen!.ELECTRON_RUN_AS_NODE).toBeUndefined();
  });

  it('a check that never answers is killed at its deadline', async () => {
    const { testing } = await import('../gateway/secrets/index.js');
    const hang = `${await tempDir()}/hang.cjs`;
    const { writeFileSync } = await import('node:fs');
    writeFileSync(hang, "module.exports = { setPassword: () => new Promise(() => setInterval(() => {}, 1000)) };");
    const check = await testing.runKeychainChild(hang, 'scim-bridge-test', 'probe', 300, utilityProcessLauncher(forkLikeElectron));
    expect(check).toMatchObject({ ok: false, code: 'keychain-timeout' });
  });
});
