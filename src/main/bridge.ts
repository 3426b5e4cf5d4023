/**
 * The console's only door to the desktop shell: what preload.cts exposes as
 * `window.scimBridgeDesktop`. A renderer that wants it declares
 * `scimBridgeDesktop?: import('../main/bridge.js').DesktopBridge` on its Window: absent in a browser.
 */
export interface DesktopBridge {
  /** Always true: lets the console tell it runs in the desktop app. */
  readonly desktop: true;
  /** The app's version, e.g. "0.1.0". */
  readonly version: string;
  /**
   * Opens an https link in the OS browser, if it is on the allow-list (IdP admin consoles and
   * documentation: navigation-policy.ts); resolves false when refused.
   */
  openExternal(url: string): Promise<boolean>;
}

/** The global the bridge is exposed as. */
export const BRIDGE_KEY = 'scimBridgeDesktop';

/** The one IPC channel the preload may use. */
export const OPEN_EXTERNAL_CHANNEL = 'scim-bridge:open-external';
