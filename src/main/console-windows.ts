/**
 * At most one console window: opened on demand, brought to the front when asked again (a second
 * launch, the tray, the macOS dock), forgotten when closed. The window itself comes from an
 * injected factory (index.ts: a locked BrowserWindow; tests: a recording fake).
 */
import { revealWindow, type RevealableWindow } from './window-options.js';

/** The parts of a BrowserWindow the manager uses. */
export interface ConsoleWindowLike extends RevealableWindow {
  loadURL(url: string): Promise<void>;
  once(event: 'ready-to-show', listener: () => void): unknown;
  once(event: 'closed', listener: () => void): unknown;
  destroy(): void;
}

export interface ConsoleWindows {
  /** Brings the open console window to the front; false when none is open. */
  reveal(): boolean;
  /** Shows the console at `url`: in the open window, or in a new one. */
  open(url: string): void;
  /** Closes the window (at quit). */
  closeAll(): void;
}

export interface ConsoleWindowsOptions {
  /** Called when the user closes the window (the gateway keeps running in the tray). */
  onClosed?(): void;
  /** A page that failed to load (the URL is not given: a local-login URL carries a one-time secret). */
  onLoadFailed?(err: unknown): void;
}

export function createConsoleWindows(create: () => ConsoleWindowLike, opts: ConsoleWindowsOptions = {}): ConsoleWindows {
  let current: ConsoleWindowLike | undefined;
  let closingAll = false;
  const load = (win: ConsoleWindowLike, url: string) => {
    win.loadURL(url).catch((err: unknown) => opts.onLoadFailed?.(err));
  };
  return {
    reveal: () => revealWindow(current),
    open(url) {
      if (current && !current.isDestroyed()) {
        load(current, url);
        revealWindow(current);
        return;
      }
      const win = create();
      current = win;
      win.once('ready-to-show', () => revealWindow(win));
      win.once('closed', () => {
        if (current === win) current = undefined;
        if (!closingAll) opts.onClosed?.();
      });
      load(win, url);
    },
    closeAll() {
      closingAll = true;
      if (current && !current.isDestroyed()) current.destroy();
      current = undefined;
    },
  };
}
