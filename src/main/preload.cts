/**
 * The console's preload: sandboxed, so it may require only 'electron', and compiled to CommonJS
 * (preload.cjs) because a sandboxed preload cannot be an ES module. It exposes named verbs, never
 * ipcRenderer itself. BRIDGE_KEY and OPEN_EXTERNAL_CHANNEL from bridge.ts are repeated here
 * (a sandboxed preload cannot load them); bridge.test.ts checks they agree.
 */
import { contextBridge, ipcRenderer } from 'electron';
import type { DesktopBridge } from './bridge.js';

const versionArg = process.argv.find((a) => a.startsWith('--scim-bridge-version='));

const bridge: DesktopBridge = {
  desktop: true,
  version: versionArg ? versionArg.slice('--scim-bridge-version='.length) : '',
  openExternal: (url: string) => ipcRenderer.invoke('scim-bridge:open-external', String(url)).then((opened: unknown) => opened === true),
};

contextBridge.exposeInMainWorld('scimBridgeDesktop', bridge);
