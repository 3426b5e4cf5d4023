import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createConsoleWindows, type ConsoleWindowLike } from './console-windows.js';

class FakeWindow extends EventEmitter implements ConsoleWindowLike {
  calls: string[] = [];
  urls: string[] = [];
  destroyed = false;
  failLoad = false;
  isDestroyed = () => this.destroyed;
  isMinimized = () => false;
  restore = () => void this.calls.push('restore');
  show = () => void this.calls.push('show');
  focus = () => void this.calls.push('focus');
  destroy = () => {
    this.destroyed = true;
    this.emit('closed');
  };
  loadURL(url: string) {
    this.urls.push(url);
    return this.failLoad ? Promise.reject(new Error('ERR_CONNECTION_REFUSED')) : Promise.resolve();
  }
}

function manager() {
  const created: FakeWindow[] = [];
  const closed: number[] = [];
  const failures: unknown[] = [];
  const windows = createConsoleWindows(
    () => {
      const w = new FakeWindow();
      created.push(w);
      return w;
    },
    { onClosed: () => void closed.push(created.length), onLoadFailed: (err) => void failures.push(err) },
  );
  return { windows, created, closed, failures };
}

describe('createConsoleWindows', () => {
  it('opens one window, hidden until ready-to-show', () => {
    const { windows, created } = manager();
    windows.open('http://127.0.0.1:8081/');
    expect(created).toHaveLength(1);
    expect(created[0].urls).toEqual(['http://127.0.0.1:8081/']);
    expect(created[0].calls).toEqual([]);
    created[0].emit('ready-to-show');
    expect(created[0].calls).toEqual(['show', 'focus']);
  });

  it('reuses the open window: reveal brings it back, open loads the URL into it', () => {
    const { windows, created } = manager();
    expect(windows.reveal()).toBe(false);
    windows.open('http://127.0.0.1:8081/');
    expect(windows.reveal()).toBe(true);
    windows.open('http://127.0.0.1:8081/outbox');
    expect(created).toHaveLength(1);
    expect(created[0].urls).toEqual(['http://127.0.0.1:8081/', 'http://127.0.0.1:8081/outbox']);
  });

  it('forgets a closed window, tells the app, and opens a fresh one next time', () => {
    const { windows, created, closed } = manager();
    windows.open('http://127.0.0.1:8081/');
    created[0].destroyed = true;
    created[0].emit('closed');
    expect(closed).toEqual([1]);
    expect(windows.reveal()).toBe(false);
    windows.open('http://127.0.0.1:8081/');
    expect(created).toHaveLength(2);
  });

  it('closeAll at quit destroys the window without the "still running" notice', () => {
    const { windows, created, closed } = manager();
    windows.open('http://127.0.0.1:8081/');
    windows.closeAll();
    expect(created[0].destroyed).toBe(true);
    expect(closed).toEqual([]);
    windows.closeAll(); // nothing open: no error
  });

  it('reports a page that failed to load', async () => {
    const { windows, created, failures } = manager();
    windows.open('http://127.0.0.1:8081/');
    created[0].failLoad = true;
    windows.open('http://127.0.0.1:8081/x');
    await new Promise((r) => setImmediate(r));
    expect(failures).toHaveLength(1);
  });
});
