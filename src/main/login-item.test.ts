import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AUTOSTART_FILE, autostartEntry, createLoginItem, HIDDEN_ARG, quoteExecArg, type LoginItemApi } from './login-item.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'scim-bridge-autostart-'));
  dirs.push(d);
  return d;
}

/** Records what Electron's login item API was given, and answers like it. */
function fakeLoginApi(): LoginItemApi & { settings: Array<{ openAtLogin: boolean; path?: string; args?: string[] }> } {
  const settings: Array<{ openAtLogin: boolean; path?: string; args?: string[] }> = [];
  return {
    settings,
    getLoginItemSettings: () => ({ openAtLogin: settings.at(-1)?.openAtLogin ?? false }),
    setLoginItemSettings: (s) => void settings.push(s),
  };
}

describe('quoteExecArg (Desktop Entry Specification, the Exec key)', () => {
  it('leaves plain arguments alone', () => {
    expect(quoteExecArg('/opt/SCIM-Bridge/scim-bridge')).toBe('/opt/SCIM-Bridge/scim-bridge');
    expect(quoteExecArg('--hidden')).toBe('--hidden');
  });

  it('quotes spaces and escapes the reserved characters; doubles %', () => {
    expect(quoteExecArg('/home/ann/Apps/SCIM Bridge.AppImage')).toBe('"/home/ann/Apps/SCIM Bridge.AppImage"');
    expect(quoteExecArg('a"b$c`d\\e')).toBe('"a\\"b\\$c\\`d\\\\e"');
    expect(quoteExecArg('100%')).toBe('100%%');
    expect(quoteExecArg('')).toBe('""');
  });
});

describe('start at login on Linux (XDG autostart)', () => {
  it('writes an autostart entry that starts the app hidden, and removes it', () => {
    const dir = join(tempDir(), 'autostart'); // created on demand
    const item = createLoginItem({ platform: 'linux', app: fakeLoginApi(), executable: '/home/ann/Apps/SCIM Bridge.AppImage', autostartDir: dir });
    expect(item.supported).toBe(true);
    expect(item.isEnabled()).toBe(false);

    item.setEnabled(true);
    expect(item.isEnabled()).toBe(true);
    const text = readFileSync(join(dir, AUTOSTART_FILE), 'utf8');
    expect(text).toContain('[Desktop Entry]');
    expect(text).toContain('Type=Application');
    expect(text).toContain(`Exec="/home/ann/Apps/SCIM Bridge.AppImage" ${HIDDEN_ARG}\n`);

    item.setEnabled(false);
    expect(existsSync(join(dir, AUTOSTART_FILE))).toBe(false);
    expect(item.isEnabled()).toBe(false);
    item.setEnabled(false); // already off: no error
  });

  it('starts an unpackaged app with its folder (electron .)', () => {
    expect(autostartEntry('/repo/node_modules/electron/dist/electron', ['/repo', HIDDEN_ARG])).toContain('Exec=/repo/node_modules/electron/dist/electron /repo --hidden\n');
  });

  it('reads an entry the desktop disabled with Hidden=true as off', () => {
    const dir = tempDir();
    const item = createLoginItem({ platform: 'linux', app: fakeLoginApi(), executable: '/usr/bin/scim-bridge', autostartDir: dir });
    item.setEnabled(true);
    writeFileSync(join(dir, AUTOSTART_FILE), readFileSync(join(dir, AUTOSTART_FILE), 'utf8') + 'Hidden=true\n');
    expect(item.isEnabled()).toBe(false);
  });
});

describe('start at login on Windows and macOS (Electron login items)', () => {
  it('Windows: registers the executable with --hidden and reads it back with the same identity', () => {
    const api = fakeLoginApi();
    const item = createLoginItem({ platform: 'win32', app: api, executable: 'C:\\Program Files\\SCIM Bridge\\SCIM Bridge.exe' });
    item.setEnabled(true);
    expect(api.settings).toEqual([{ openAtLogin: true, path: 'C:\\Program Files\\SCIM Bridge\\SCIM Bridge.exe', args: [HIDDEN_ARG] }]);
    expect(item.isEnabled()).toBe(true);
    item.setEnabled(false);
    expect(item.isEnabled()).toBe(false);
  });

  it('macOS: toggles the login item', () => {
    const api = fakeLoginApi();
    const item = createLoginItem({ platform: 'darwin', app: api, executable: '/Applications/SCIM Bridge.app/Contents/MacOS/SCIM Bridge' });
    item.setEnabled(true);
    expect(api.settings).toEqual([{ openAtLogin: true }]);
    expect(item.isEnabled()).toBe(true);
  });

  it('elsewhere: not supported, and setting it does nothing', () => {
    const api = fakeLoginApi();
    const item = createLoginItem({ platform: 'freebsd', app: api, executable: '/usr/local/bin/scim-bridge' });
    expect(item.supported).toBe(false);
    item.setEnabled(true);
    expect(item.isEnabled()).toBe(false);
    expect(api.settings).toEqual([]);
  });
});
