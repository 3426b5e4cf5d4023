/**
 * Where the console window may go. The window shows one origin only, the admin listener the
 * gateway started in this process; everything else is refused, and only https links to an
 * identity provider's or the project's documentation may leave, to the OS browser.
 * Pure: index.ts applies these decisions to Electron's events.
 */

/**
 * Hosts (and their subdomains) a console link may open in the OS browser: the IdP admin consoles
 * and documentation the setup guides point to, and the project's docs.
 */
export const EXTERNAL_LINK_HOSTS: readonly string[] = [
  'github.com', // the project's docs (DOCS_URL)
  'okta.com', // <org>-admin.okta.com, help.okta.com, developer.okta.com
  'entra.microsoft.com',
  'portal.azure.com',
  'learn.microsoft.com',
  'admin.google.com',
  'support.google.com',
  'onelogin.com', // <org>.onelogin.com, developers.onelogin.com
  'jumpcloud.com', // console.jumpcloud.com, jumpcloud.com/support
];

function parse(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/** The origin of the console (`http://127.0.0.1:8081`), from the gateway's admin URL. */
export function consoleOriginOf(adminUrl: string): string {
  const u = parse(adminUrl);
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) throw new Error(`The admin URL "${adminUrl}" is not an http(s) URL.`);
  return u.origin;
}

/** True for an http(s) URL on the console's origin (scheme, host and port all equal). */
export function isConsoleUrl(url: string, consoleOrigin: string): boolean {
  const u = parse(url);
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) return false;
  // Credentials in a URL are a classic way to disguise where it goes; the console never needs them.
  if (u.username || u.password) return false;
  return u.origin === consoleOrigin;
}

/** True for an https URL, on the default port, to an allowed host or one of its subdomains. */
export function isAllowedExternalUrl(url: string, hosts: readonly string[] = EXTERNAL_LINK_HOSTS): boolean {
  const u = parse(url);
  if (!u || u.protocol !== 'https:' || u.port !== '' || u.username || u.password) return false;
  const host = u.hostname.toLowerCase();
  return hosts.some((h) => host === h || host.endsWith('.' + h));
}

export type NavigationDecision = { allow: true } | { allow: false; openExternal?: string };

/** `will-navigate` / `will-redirect`: stay on the console origin; an allowed link goes to the OS browser. */
export function decideNavigation(url: string, consoleOrigin: string, hosts: readonly string[] = EXTERNAL_LINK_HOSTS): NavigationDecision {
  if (isConsoleUrl(url, consoleOrigin)) return { allow: true };
  if (isAllowedExternalUrl(url, hosts)) return { allow: false, openExternal: url };
  return { allow: false };
}

/**
 * `window.open` and `target=_blank`: never a new Electron window. A console URL opens in the
 * console window itself; an allowed external link in the OS browser; anything else nowhere.
 */
export interface WindowOpenDecision {
  action: 'deny';
  navigateInPlace?: string;
  openExternal?: string;
}

export function decideWindowOpen(url: string, consoleOrigin: string, hosts: readonly string[] = EXTERNAL_LINK_HOSTS): WindowOpenDecision {
  if (isConsoleUrl(url, consoleOrigin)) return { action: 'deny', navigateInPlace: url };
  if (isAllowedExternalUrl(url, hosts)) return { action: 'deny', openExternal: url };
  return { action: 'deny' };
}

/**
 * The preload's `openExternal(url)`: the argument comes from the renderer, so it is `unknown`
 * until checked, and only a console page may ask. Returns the URL to open, or undefined.
 */
export function parseOpenExternalRequest(
  senderUrl: string | undefined,
  arg: unknown,
  consoleOrigin: string,
  hosts: readonly string[] = EXTERNAL_LINK_HOSTS,
): string | undefined {
  if (senderUrl === undefined || !isConsoleUrl(senderUrl, consoleOrigin)) return undefined;
  if (typeof arg !== 'string' || arg.length > 2048) return undefined;
  return isAllowedExternalUrl(arg, hosts) ? new URL(arg).href : undefined;
}
