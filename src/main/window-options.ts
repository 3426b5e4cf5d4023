/**
 * The console window: how it is created (every security flag spelled out, not left to Electron's
 * defaults) and how an existing one is brought back. Pure: index.ts passes these to Electron.
 */
import type { BrowserWindowConstructorOptions } from 'electron';

/** The console's own persistent session: its cookies and cache stay apart from any other. */
export const CONSOLE_PARTITION = 'persist:console';

/** Passed to the preload through process.argv (a sandboxed preload cannot ask the main process synchronously). */
export const VERSION_ARG_PREFIX = '--scim-bridge-version=';

export interface ConsoleWindowInput {
  /** Absolute path of the compiled preload (preload.cjs). */
  preload: string;
  version: string;
  /** Window icon (Linux and Windows; macOS uses the bundle's). */
  icon?: string;
  /** DevTools only in development (`electron .`), never in a packaged app. */
  devTools: boolean;
}

export function consoleWindowOptions(input: ConsoleWindowInput): BrowserWindowConstructorOptions {
  return {
    title: 'SCIM Bridge',
    width: 1280,
    height: 820,
    minWidth: 720,
    minHeight: 520,
    // Shown on 'ready-to-show', so the user never sees a blank white frame.
    show: false,
    backgroundColor: '#ffffff',
    autoHideMenuBar: true,
    ...(input.icon ? { icon: input.icon } : {}),
    webPreferences: {
      preload: input.preload,
      partition: CONSOLE_PARTITION,
      contextIsolation: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      sandbox: true,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      plugins: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      spellcheck: false,
      devTools: input.devTools,
      additionalArguments: [VERSION_ARG_PREFIX + input.version],
    },
  };
}

/** The parts of a BrowserWindow that bringing it back needs. */
export interface RevealableWindow {
  isDestroyed(): boolean;
  isMinimized(): boolean;
  restore(): void;
  show(): void;
  focus(): void;
}

/** Brings an existing window to the front (restored, shown, focused); false when there is none to reveal. */
export function revealWindow(win: RevealableWindow | undefined): boolean {
  if (!win || win.isDestroyed()) return false;
  if (win.isMinimized()) win.restore();
  win.show();
  win.focus();
  return true;
}
