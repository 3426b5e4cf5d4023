/**
 * The keychain check's child process without ELECTRON_RUN_AS_NODE: the desktop app's runAsNode
 * fuse is off, so the check must not depend on that variable (under `serve` it runs Node's own
 * binary; the desktop app hands in a launcher built on Electron's utility process). A stand-in
 * keytar refuses to work where the variable is set, as a fused app would ignore it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { openSecretStore, testing, type KeychainChildLauncher } from './index.js';
import { fakeKeytar } from '../../../test/helpers/fake-keytar.js';
import { cleanupDirs, tempDir } from './secrets.fixture.js';

afterAll(cleanupDirs);

describe('keychain check child', () => {
  it('runs without ELECTRON_RUN_AS_NODE under Node', async () => {
    const store = await openSecretStore({ dataDir: await tempDir(), backend: 'keychain', keytarModule: await fakeKeytar(), service: 'scim-bridge-test' });
    try {
      expect(store.describe().backend).toBe('keychain');
    } finally {
      await store.close();
    }
  });

  it('runs through the launcher the embedding app hands in, with the child script as a file', async () => {
    const calls: Array<{ script: string; args: string[] }> = [];
    const node = testing.defaultKeychainLauncher({ node: process.versions.node })!;
    const launch: KeychainChildLauncher = (script, args) => {
      calls.push({ script, args });
      return node(script, args);
    };
    const store = await openSecretStore({ dataDir: await tempDir(), backend: 'keychain', keytarModule: await fakeKeytar(), service: 'scim-bridge-test', launchKeychainChild: launch });
    await store.close();
    expect(calls).toHaveLength(1);
    expect(calls[0].script).toMatch(/keychain-child\.cjs$/);
    expect(calls[0].args[2]).toBe('probe');
  });

  it('under Electron without a launcher: no check (it would start the app again), the reason says why', async () => {
    expect(testing.defaultKeychainLauncher({ node: '20.0.0', electron: '41.0.0' })).toBeUndefined();
  });
});
