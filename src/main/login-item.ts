/**
 * "Start at login". Electron's app.setLoginItemSettings covers macOS and Windows only; on Linux
 * the desktop's way is an XDG autostart entry (~/.config/autostart/*.desktop), written here.
 * Started at login, the app comes up in the tray without opening the window.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Started at login: stay in the tray, do not open the console window. */
export const HIDDEN_ARG = '--hidden';

export const AUTOSTART_FILE = 'scim-bridge.desktop';

/** The parts of Electron's `app` that macOS and Windows need. */
export interface LoginItemApi {
  getLoginItemSettings(options?: { path?: string; args?: string[] }): { openAtLogin: boolean };
  setLoginItemSettings(settings: { openAtLogin: boolean; path?: string; args?: string[] }): void;
}

export interface LoginItemOptions {
  platform: NodeJS.Platform;
  app: LoginItemApi;
  /** What to start: the app's executable, or on Linux the AppImage file when run as one ($APPIMAGE). */
  executable: string;
  /** Arguments before HIDDEN_ARG: the app folder when run unpackaged (`electron .`), else none. */
  launchArgs?: string[];
  /** Linux: the XDG autostart folder ($XDG_CONFIG_HOME/autostart). */
  autostartDir?: string;
}

export interface LoginItem {
  supported: boolean;
  isEnabled(): boolean;
  setEnabled(enabled: boolean): void;
}

/**
 * Quotes one Exec argument per the Desktop Entry Specification ("The Exec key"): double quotes
 * around anything with reserved characters, `"` `` ` `` `$` `\` escaped, and `%` doubled.
 */
export function quoteExecArg(arg: string): string {
  const doubled = arg.replace(/%/g, '%%');
  if (!/[\s"'\\`$<>~|&;*?#()]/.test(arg) && doubled.length > 0) return doubled;
  return '"' + doubled.replace(/(["`$\\])/g, '\\$1') + '"';
}

/** The autostart entry's text. */
export function autostartEntry(executable: string, args: string[]): string {
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Name=SCIM Bridge',
    'Comment=SCIM 2.0 gateway: keeps provisioning running in the tray',
    `Exec=${[executable, ...args].map(quoteExecArg).join(' ')}`,
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

export function createLoginItem(opts: LoginItemOptions): LoginItem {
  const args = [...(opts.launchArgs ?? []), HIDDEN_ARG];
  if (opts.platform === 'linux') {
    const dir = opts.autostartDir;
    if (!dir) return { supported: false, isEnabled: () => false, setEnabled: () => undefined };
    const file = join(dir, AUTOSTART_FILE);
    return {
      supported: true,
      isEnabled() {
        if (!existsSync(file)) return false;
        // Desktops disable an entry by adding Hidden=true rather than deleting it.
        return !/^Hidden\s*=\s*true\s*$/m.test(readFileSync(file, 'utf8'));
      },
      setEnabled(enabled) {
        if (enabled) {
          mkdirSync(dir, { recursive: true });
          writeFileSync(file, autostartEntry(opts.executable, args), { mode: 0o644 });
        } else {
          rmSync(file, { force: true });
        }
      },
    };
  }
  if (opts.platform === 'darwin' || opts.platform === 'win32') {
    // Windows matches the registry entry by path and args, so both are passed when reading too.
    const identity = opts.platform === 'win32' ? { path: opts.executable, args } : {};
    return {
      supported: true,
      isEnabled: () => opts.app.getLoginItemSettings(identity).openAtLogin,
      setEnabled: (enabled) => opts.app.setLoginItemSettings({ openAtLogin: enabled, ...identity }),
    };
  }
  return { supported: false, isEnabled: () => false, setEnabled: () => undefined };
}
