import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDesktopLogger, desktopConfigFile, loadDesktopConfig } from './desktop-config.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function userData(): string {
  const d = mkdtempSync(join(tmpdir(), 'scim-bridge-userdata-'));
  dirs.push(d);
  return d;
}

describe('loadDesktopConfig', () => {
  it('keeps the data in <userData>/data by default, with the serve defaults otherwise', () => {
    const ud = userData();
    const { config, configFile } = loadDesktopConfig(ud, {});
    expect(config.dataDir).toBe(join(ud, 'data'));
    expect(configFile).toBeUndefined();
    expect(config.port).toBe(8080);
    expect(config.adminHost).toBe('127.0.0.1');
    expect(config.adminPort).toBe(8081);
  });

  it('lets SCIM_BRIDGE_DATA_DIR and the other SCIM_BRIDGE_* variables win, as for serve', () => {
    const ud = userData();
    const other = join(ud, 'elsewhere');
    const { config } = loadDesktopConfig(ud, { SCIM_BRIDGE_DATA_DIR: other, SCIM_BRIDGE_ADMIN_PORT: '9191' });
    expect(config.dataDir).toBe(other);
    expect(config.adminPort).toBe(9191);
  });

  it('reads <userData>/config.json when it exists, its dataDir included', () => {
    const ud = userData();
    writeFileSync(join(ud, 'config.json'), JSON.stringify({ port: 18080, dataDir: join(ud, 'from-file') }));
    const { config, configFile } = loadDesktopConfig(ud, {});
    expect(configFile).toBe(join(ud, 'config.json'));
    expect(config.port).toBe(18080);
    expect(config.dataDir).toBe(join(ud, 'from-file'));
  });

  it('keeps the desktop data dir when the config file does not name one', () => {
    const ud = userData();
    writeFileSync(join(ud, 'config.json'), JSON.stringify({ logLevel: 'warn' }));
    expect(loadDesktopConfig(ud, {}).config.dataDir).toBe(join(ud, 'data'));
  });

  it('prefers SCIM_BRIDGE_CONFIG to <userData>/config.json', () => {
    const ud = userData();
    writeFileSync(join(ud, 'config.json'), '{}');
    const mine = join(ud, 'mine.json');
    writeFileSync(mine, JSON.stringify({ adminPort: 0 }));
    expect(desktopConfigFile(ud, { SCIM_BRIDGE_CONFIG: mine })).toBe(mine);
    expect(loadDesktopConfig(ud, { SCIM_BRIDGE_CONFIG: mine }).config.adminPort).toBe(0);
  });

  it('refuses a bad configuration with the message serve gives', () => {
    const ud = userData();
    writeFileSync(join(ud, 'config.json'), JSON.stringify({ port: 'eighty' }));
    expect(() => loadDesktopConfig(ud, {})).toThrow(/Invalid configuration "port" \(from config file .*config\.json\)/);
  });
});

describe('createDesktopLogger', () => {
  it('writes JSON lines to <logs>/gateway.log with secrets redacted', async () => {
    const ud = userData();
    const { config } = loadDesktopConfig(ud, {});
    const logs = join(ud, 'logs'); // created on demand
    const { logger, file, flush } = createDesktopLogger(config, logs, false);
    expect(file).toBe(join(logs, 'gateway.log'));
    logger.info({ password: 'hunter2-secret', token: 'scb_secret', connection: 'default' }, 'hello');
    logger.debug({}, 'below the level');
    await new Promise((r) => setTimeout(r, 50)); // the destination opens asynchronously
    flush();
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'hello', connection: 'default', password: '[redacted]', token: '[redacted]' });
    expect(readFileSync(file, 'utf8')).not.toContain('secret');
  });
});
