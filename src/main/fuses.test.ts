/**
 * The packaged app's Electron fuses, as electron-builder applies them: electron-builder.yml read
 * and validated by electron-builder's own loader, turned into a fuse config by its own code, and
 * flipped by @electron/fuses on a stand-in Electron binary (the real one cannot be downloaded
 * here) that carries the fuse wire the way Electron does. runAsNode must be off: with it on,
 * any local program could run `ELECTRON_RUN_AS_NODE=1 <app> -e ...` as the app and read its
 * keychain items (the macOS keychain trusts the app's signature, not who started it).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FuseV1Options, flipFuses, getCurrentFuseWire, type FuseConfig } from '@electron/fuses';
import { getConfig, validateConfiguration } from 'app-builder-lib/out/util/config/config.js';
import { LinuxPackager } from 'electron-builder';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
/** How a fuse's state is written in the binary (@electron/fuses FuseState). */
const FuseState = { DISABLE: 48, ENABLE: 49 } as const;
const dir = mkdtempSync(join(tmpdir(), 'scim-bridge-fuses-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A file laid out like an Electron binary's fuse wire: sentinel, version 1, 8 fuses, all as Electron ships them (on, but the last 3). */
function standInElectron(): string {
  const shipped = [FuseState.ENABLE, FuseState.DISABLE, FuseState.ENABLE, FuseState.ENABLE, FuseState.DISABLE, FuseState.DISABLE, FuseState.DISABLE, FuseState.ENABLE];
  const file = join(dir, 'scim-bridge-desktop');
  writeFileSync(file, Buffer.concat([Buffer.from('\x7fELF padding '), Buffer.from(SENTINEL), Buffer.from([1, shipped.length, ...shipped]), Buffer.from(' more binary')]));
  return file;
}

describe('electron-builder fuses', () => {
  it('turn runAsNode off, and set every fuse explicitly', async () => {
    const config = await getConfig(root, join(root, 'electron-builder.yml'), null);
    await validateConfiguration(config, { isEnabled: false } as Parameters<typeof validateConfiguration>[1]);
    const generate = (LinuxPackager.prototype as unknown as { generateFuseConfig(f: unknown): Promise<FuseConfig> }).generateFuseConfig;
    const fuses = await generate.call(undefined, config.electronFuses);
    const binary = standInElectron();
    await flipFuses(binary, { ...fuses, strictlyRequireAllFuses: true } as FuseConfig);
    const wire = await getCurrentFuseWire(binary);
    const state = (fuse: FuseV1Options) => wire[fuse];
    expect(state(FuseV1Options.RunAsNode)).toBe(FuseState.DISABLE);
    expect(state(FuseV1Options.EnableNodeOptionsEnvironmentVariable)).toBe(FuseState.DISABLE);
    expect(state(FuseV1Options.EnableNodeCliInspectArguments)).toBe(FuseState.DISABLE);
    expect(state(FuseV1Options.EnableCookieEncryption)).toBe(FuseState.ENABLE);
    expect(state(FuseV1Options.EnableEmbeddedAsarIntegrityValidation)).toBe(FuseState.ENABLE);
    expect(state(FuseV1Options.OnlyLoadAppFromAsar)).toBe(FuseState.ENABLE);
    expect(state(FuseV1Options.GrantFileProtocolExtraPrivileges)).toBe(FuseState.DISABLE);
  });
});
