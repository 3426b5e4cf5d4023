/**
 * The trust boundaries that no type checks: what the preload hands the console, and that the
 * gateway never depends on Electron.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BRIDGE_KEY, OPEN_EXTERNAL_CHANNEL } from './bridge.js';
import { VERSION_ARG_PREFIX } from './window-options.js';

const root = join(import.meta.dirname, '..', '..');
const preload = readFileSync(join(import.meta.dirname, 'preload.cts'), 'utf8');
/** The preload without comments: what actually runs. */
const preloadCode = preload.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');

describe('the preload', () => {
  it('uses the names bridge.ts declares (a sandboxed preload cannot import them)', () => {
    expect(preloadCode).toContain(`exposeInMainWorld('${BRIDGE_KEY}'`);
    expect(preloadCode).toContain(`'${OPEN_EXTERNAL_CHANNEL}'`);
    expect(preloadCode).toContain(`'${VERSION_ARG_PREFIX}'`);
  });

  it('exposes one object of named verbs, never ipcRenderer or another channel', () => {
    expect(preloadCode.match(/exposeInMainWorld\(/g)).toHaveLength(1);
    expect(preloadCode).toMatch(/exposeInMainWorld\('scimBridgeDesktop', bridge\)/);
    expect(preloadCode.match(/ipcRenderer\.\w+/g)).toEqual(['ipcRenderer.invoke']);
    expect(preloadCode.match(/'scim-bridge:[^']*'/g)).toEqual([`'${OPEN_EXTERNAL_CHANNEL}'`]);
  });

  it('loads nothing but electron (all a sandboxed preload may require)', () => {
    const runtimeImports = [...preloadCode.matchAll(/^import (?!type )[^;]*from '([^']+)'/gm)].map((m) => m[1]);
    expect(runtimeImports).toEqual(['electron']);
    expect(preloadCode).not.toMatch(/require\(/);
  });
});

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sourcesUnder(p);
    return /\.(c|m)?ts$/.test(e.name) ? [p] : [];
  });
}

describe('the main process stays testable without Electron', () => {
  it('only index.ts and the preload load electron at run time; the other modules import its types at most', () => {
    const loaders = sourcesUnder(import.meta.dirname)
      .filter((file) => !file.endsWith('.test.ts'))
      .filter((file) => /^import (?!type )[^;]*from 'electron'/m.test(readFileSync(file, 'utf8')))
      .map((file) => file.slice(import.meta.dirname.length + 1));
    expect(loaders.sort()).toEqual(['index.ts', 'preload.cts']);
  });
});

describe('the gateway stays headless', () => {
  it('nothing under src/gateway or connectors imports electron', () => {
    const offenders = [...sourcesUnder(join(root, 'src', 'gateway')), ...sourcesUnder(join(root, 'connectors'))].filter((file) =>
      /(from\s+|import\s*\(\s*|require\(\s*)['"]electron(\/[^'"]*)?['"]/.test(readFileSync(file, 'utf8')),
    );
    expect(offenders).toEqual([]);
  });

  it('the gateway build (tsconfig.json) does not compile src/main', () => {
    const text = readFileSync(join(root, 'tsconfig.json'), 'utf8');
    expect(text).not.toContain('src/main');
    expect(text).not.toMatch(/"src\/\*\*/);
  });
});
