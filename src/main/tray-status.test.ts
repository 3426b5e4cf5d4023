import { describe, expect, it } from 'vitest';
import { statusLine, trayModel, type TrayMenuEntry } from './tray-status.js';

const login = { supported: true, enabled: false };

function action(menu: TrayMenuEntry[], id: string) {
  return menu.find((e) => e.kind === 'action' && e.id === id) as Extract<TrayMenuEntry, { kind: 'action' }> | undefined;
}

describe('statusLine', () => {
  it('says all is well when nothing waits', () => {
    expect(statusLine({ state: 'running', outboxPending: 0, outboxDead: 0 })).toBe('Running · all changes delivered');
  });

  it('counts failed deliveries first, then waiting changes, in singular and plural', () => {
    expect(statusLine({ state: 'running', outboxPending: 1, outboxDead: 0 })).toBe('Running · 1 change waiting');
    expect(statusLine({ state: 'running', outboxPending: 12, outboxDead: 3 })).toBe('Running · 3 failed deliveries · 12 changes waiting');
    expect(statusLine({ state: 'running', outboxPending: 0, outboxDead: 1 })).toBe('Running · 1 failed delivery');
  });

  it('names starting, stopping and why it is not running', () => {
    expect(statusLine({ state: 'starting' })).toMatch(/^Starting/);
    expect(statusLine({ state: 'stopping' })).toMatch(/^Stopping/);
    expect(statusLine({ state: 'failed', problem: 'Port 8080 is already in use' })).toBe('Not running: Port 8080 is already in use');
  });
});

describe('trayModel', () => {
  it('running and healthy: normal icon, the console and the SCIM URL one click away', () => {
    const m = trayModel({ state: 'running', scimUrl: 'http://host:8080/scim/v2', outboxPending: 0, outboxDead: 0 }, login);
    expect(m.icon).toBe('normal');
    expect(m.tooltip).toBe('SCIM Bridge: Running · all changes delivered');
    expect(action(m.menu, 'open-console')).toMatchObject({ enabled: true, label: 'Open console' });
    expect(action(m.menu, 'copy-scim-url')?.enabled).toBe(true);
    expect(m.menu).toContainEqual({ kind: 'info', label: 'SCIM base URL: http://host:8080/scim/v2' });
    expect(action(m.menu, 'quit')?.enabled).toBe(true);
  });

  it('failed deliveries: attention icon, and the menu points to the Outbox', () => {
    const m = trayModel({ state: 'running', scimUrl: 'u', outboxPending: 2, outboxDead: 5 }, login);
    expect(m.icon).toBe('attention');
    expect(m.tooltip).toContain('5 failed deliveries');
    expect(action(m.menu, 'open-console')?.label).toBe('Open console (see Outbox)');
  });

  it('not running: attention icon, nothing to open, Quit still there', () => {
    const m = trayModel({ state: 'failed', problem: 'store locked' }, login);
    expect(m.icon).toBe('attention');
    expect(action(m.menu, 'open-console')?.enabled).toBe(false);
    expect(action(m.menu, 'copy-scim-url')?.enabled).toBe(false);
    expect(action(m.menu, 'quit')?.enabled).toBe(true);
  });

  it('while stopping, Quit is not offered twice', () => {
    expect(action(trayModel({ state: 'stopping' }, login).menu, 'quit')?.enabled).toBe(false);
  });

  it('shows the start-at-login toggle as it is, disabled where it cannot be set', () => {
    const toggle = (l: { supported: boolean; enabled: boolean }) => trayModel({ state: 'running' }, l).menu.find((e) => e.kind === 'toggle');
    expect(toggle({ supported: true, enabled: true })).toMatchObject({ id: 'start-at-login', checked: true, enabled: true });
    expect(toggle({ supported: true, enabled: false })).toMatchObject({ checked: false, enabled: true });
    expect(toggle({ supported: false, enabled: true })).toMatchObject({ checked: false, enabled: false });
  });

  it('keeps the tooltip within the 127 characters Windows shows', () => {
    const m = trayModel({ state: 'failed', problem: 'x'.repeat(500) }, login);
    expect(m.tooltip.length).toBeLessThanOrEqual(127);
    expect(m.tooltip.endsWith('…')).toBe(true);
  });
});
