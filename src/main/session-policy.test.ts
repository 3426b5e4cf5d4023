import { describe, expect, it } from 'vitest';
import { CONSOLE_CSP, decidePermission, isDownloadAllowed, isRequestAllowed, withConsoleCsp } from './session-policy.js';

const origin = 'http://127.0.0.1:8081';

describe('isRequestAllowed (no remote content)', () => {
  it('lets the console load its own pages, scripts, API and WebSocket', () => {
    for (const url of ['http://127.0.0.1:8081/', 'http://127.0.0.1:8081/assets/index-abc.js', 'http://127.0.0.1:8081/api/status', 'ws://127.0.0.1:8081/api/live']) {
      expect(isRequestAllowed(url, origin), url).toBe(true);
    }
  });

  it('allows inline data:, the console own blob: URLs and DevTools', () => {
    expect(isRequestAllowed('data:image/png;base64,AAAA', origin)).toBe(true);
    expect(isRequestAllowed('blob:http://127.0.0.1:8081/6a1c-77', origin)).toBe(true);
    expect(isRequestAllowed('devtools://devtools/bundled/devtools_app.html', origin)).toBe(true);
  });

  it('cancels anything remote or local-file', () => {
    for (const url of [
      'https://cdn.example.com/lib.js',
      'https://fonts.googleapis.com/css',
      'http://127.0.0.1:8080/scim/v2/Users',
      'wss://127.0.0.1:8081/api/live', // wss on an http origin: not the console
      'ws://evil.example/',
      'blob:https://evil.example/1',
      'file:///etc/passwd',
      'chrome://gpu',
      'ftp://example.com/',
      'nonsense',
    ]) {
      expect(isRequestAllowed(url, origin), url).toBe(false);
    }
  });
});

describe('decidePermission', () => {
  it('denies every permission, to the console too', () => {
    for (const p of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal', 'fullscreen', 'display-capture', 'hid', 'serial', 'usb', 'fileSystem', 'unknown']) {
      expect(decidePermission(p, 'http://127.0.0.1:8081/tokens', origin), p).toBe(false);
    }
  });

  it('lets the console, and only the console, write to the clipboard (copy token / copy URL)', () => {
    expect(decidePermission('clipboard-sanitized-write', 'http://127.0.0.1:8081/tokens', origin)).toBe(true);
    expect(decidePermission('clipboard-sanitized-write', origin, origin)).toBe(true); // checks pass the origin alone
    expect(decidePermission('clipboard-sanitized-write', 'https://evil.example/', origin)).toBe(false);
    expect(decidePermission('clipboard-sanitized-write', undefined, origin)).toBe(false);
  });
});

describe('withConsoleCsp', () => {
  it('adds the CSP to console responses, keeping the console own CSP (both apply)', () => {
    const own = "default-src 'self'; script-src 'self' 'nonce-x'";
    const out = withConsoleCsp('http://127.0.0.1:8081/', { 'content-security-policy': [own], 'Content-Type': ['text/html'] }, origin);
    expect(out?.['content-security-policy']).toEqual([own, CONSOLE_CSP]);
    expect(out?.['Content-Type']).toEqual(['text/html']);
    expect(out?.['Content-Security-Policy']).toBeUndefined();
  });

  it('sets it when the response had none', () => {
    expect(withConsoleCsp('http://127.0.0.1:8081/api/x', {}, origin)).toEqual({ 'Content-Security-Policy': [CONSOLE_CSP] });
    expect(withConsoleCsp('http://127.0.0.1:8081/api/x', undefined, origin)).toEqual({ 'Content-Security-Policy': [CONSOLE_CSP] });
  });

  it('leaves other responses alone (they are cancelled anyway)', () => {
    const headers = { a: ['b'] };
    expect(withConsoleCsp('https://example.com/', headers, origin)).toBe(headers);
  });

  it('forbids remote scripts, plugins, framing and foreign form targets', () => {
    expect(CONSOLE_CSP).toContain("default-src 'self'");
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).not.toMatch(/script-src[^;]*unsafe/);
    expect(CONSOLE_CSP).toContain("object-src 'none'");
    expect(CONSOLE_CSP).toContain("frame-ancestors 'none'");
    expect(CONSOLE_CSP).toContain("form-action 'self'");
    expect(CONSOLE_CSP).not.toMatch(/https?:|\*/);
  });
});

describe('isDownloadAllowed', () => {
  it('accepts audit exports from the console, refuses other sources', () => {
    expect(isDownloadAllowed('http://127.0.0.1:8081/api/audit/export?format=csv', origin)).toBe(true);
    expect(isDownloadAllowed('blob:http://127.0.0.1:8081/abc', origin)).toBe(true);
    expect(isDownloadAllowed('https://evil.example/payload.exe', origin)).toBe(false);
    expect(isDownloadAllowed('blob:https://evil.example/abc', origin)).toBe(false);
    expect(isDownloadAllowed('file:///etc/passwd', origin)).toBe(false);
  });
});
