/**
 * The console session's second layer, behind the navigation policy: no request leaves for
 * another origin, no permission is granted but writing to the clipboard, and a CSP is added to
 * every console response. Pure: index.ts hands these to Electron's session hooks.
 */
import { isConsoleUrl } from './navigation-policy.js';

/**
 * Added to the console's own CSP (when the gateway sends one, both apply: the stricter wins).
 * Inline styles are allowed because UI libraries set them; scripts only from the console itself.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function parse(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/**
 * `session.webRequest.onBeforeRequest`: the console origin (and its WebSocket twin, for live
 * status), inline `data:` and its own `blob:` URLs, and DevTools; nothing remote.
 */
export function isRequestAllowed(url: string, consoleOrigin: string): boolean {
  if (isConsoleUrl(url, consoleOrigin)) return true;
  const u = parse(url);
  if (!u) return false;
  if (u.protocol === 'data:' || u.protocol === 'devtools:') return true;
  if (u.protocol === 'blob:') return isConsoleUrl(u.pathname, consoleOrigin);
  if (u.protocol === 'ws:' || u.protocol === 'wss:') {
    const console = new URL(consoleOrigin);
    return (u.protocol === 'wss:') === (console.protocol === 'https:') && u.host === console.host && !u.username && !u.password;
  }
  return false;
}

/**
 * Permission requests and checks: denied, except the console writing to the clipboard, which its
 * "copy token" and "copy URL" buttons need (reading the clipboard stays denied).
 */
export function decidePermission(permission: string, requestingUrl: string | undefined, consoleOrigin: string): boolean {
  if (permission !== 'clipboard-sanitized-write') return false;
  return requestingUrl !== undefined && isConsoleUrl(requestingUrl, consoleOrigin);
}

/** `onHeadersReceived`: the response headers with CONSOLE_CSP added, for console URLs only. */
export function withConsoleCsp(
  url: string,
  headers: Record<string, string[]> | undefined,
  consoleOrigin: string,
): Record<string, string[]> | undefined {
  if (!isConsoleUrl(url, consoleOrigin)) return headers;
  const out: Record<string, string[]> = { ...headers };
  const key = Object.keys(out).find((k) => k.toLowerCase() === 'content-security-policy') ?? 'Content-Security-Policy';
  out[key] = [...(out[key] ?? []), CONSOLE_CSP];
  return out;
}

/** `will-download`: files (audit exports) only from the console. */
export function isDownloadAllowed(url: string, consoleOrigin: string): boolean {
  return isConsoleUrl(url, consoleOrigin) || (url.startsWith('blob:') && isConsoleUrl(url.slice(5), consoleOrigin)) || url.startsWith('data:');
}
