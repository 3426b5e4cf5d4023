import { describe, expect, it } from 'vitest';
import { CONSOLE_PARTITION, consoleWindowOptions, revealWindow, VERSION_ARG_PREFIX, type RevealableWindow } from './window-options.js';

describe('consoleWindowOptions', () => {
  const options = consoleWindowOptions({ preload: '/app/dist/src/main/preload.cjs', version: '1.2.3', devTools: false, icon: '/app/assets/icon.png' });
  const prefs = options.webPreferences!;

  it('spells out every security flag instead of trusting the defaults', () => {
    expect(prefs).toMatchObject({
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
    });
    expect(prefs.enableBlinkFeatures).toBeUndefined();
  });

  it('uses the preload it is given and passes it the version, nothing else', () => {
    expect(prefs.preload).toBe('/app/dist/src/main/preload.cjs');
    expect(prefs.additionalArguments).toEqual([VERSION_ARG_PREFIX + '1.2.3']);
  });

  it('keeps the console in its own persistent session', () => {
    expect(prefs.partition).toBe(CONSOLE_PARTITION);
    expect(CONSOLE_PARTITION.startsWith('persist:')).toBe(true);
  });

  it('allows DevTools only when asked (development), and starts hidden until ready-to-show', () => {
    expect(prefs.devTools).toBe(false);
    expect(consoleWindowOptions({ preload: 'p', version: 'v', devTools: true }).webPreferences!.devTools).toBe(true);
    expect(options.show).toBe(false);
  });

  it('is readable at 1280x800 and still usable narrow', () => {
    expect(options.width).toBe(1280);
    expect(options.minWidth).toBeLessThanOrEqual(800);
    expect(options.icon).toBe('/app/assets/icon.png');
    expect('icon' in consoleWindowOptions({ preload: 'p', version: 'v', devTools: false })).toBe(false);
  });
});

function fakeWindow(state: { destroyed?: boolean; minimized?: boolean } = {}) {
  const calls: string[] = [];
  const win: RevealableWindow = {
    isDestroyed: () => state.destroyed ?? false,
    isMinimized: () => state.minimized ?? false,
    restore: () => calls.push('restore'),
    show: () => calls.push('show'),
    focus: () => calls.push('focus'),
  };
  return { win, calls };
}

describe('revealWindow', () => {
  it('restores a minimised window, shows and focuses it', () => {
    const { win, calls } = fakeWindow({ minimized: true });
    expect(revealWindow(win)).toBe(true);
    expect(calls).toEqual(['restore', 'show', 'focus']);
  });

  it('shows and focuses a hidden or background window', () => {
    const { win, calls } = fakeWindow();
    expect(revealWindow(win)).toBe(true);
    expect(calls).toEqual(['show', 'focus']);
  });

  it('says false for no window or a destroyed one, touching nothing', () => {
    const { win, calls } = fakeWindow({ destroyed: true });
    expect(revealWindow(win)).toBe(false);
    expect(revealWindow(undefined)).toBe(false);
    expect(calls).toEqual([]);
  });
});
