import { describe, expect, it } from 'vitest';
import {
  consoleOriginOf,
  decideNavigation,
  decideWindowOpen,
  isAllowedExternalUrl,
  isConsoleUrl,
  parseOpenExternalRequest,
} from './navigation-policy.js';

const origin = consoleOriginOf('http://127.0.0.1:8081');

describe('the console origin', () => {
  it('is scheme, host and port of the admin URL', () => {
    expect(origin).toBe('http://127.0.0.1:8081');
    expect(consoleOriginOf('http://[::1]:9000/')).toBe('http://[::1]:9000');
  });

  it('refuses an admin URL that is not http(s)', () => {
    expect(() => consoleOriginOf('file:///etc/passwd')).toThrow(/not an http/);
    expect(() => consoleOriginOf('not a url')).toThrow(/not an http/);
  });
});

describe('isConsoleUrl', () => {
  it('accepts any path, query and fragment on the console origin', () => {
    for (const url of ['http://127.0.0.1:8081', 'http://127.0.0.1:8081/', 'http://127.0.0.1:8081/tokens?x=1#top', 'http://127.0.0.1:8081/api/../login']) {
      expect(isConsoleUrl(url, origin), url).toBe(true);
    }
  });

  it('refuses other ports, hosts and schemes, and URLs that only look alike', () => {
    for (const url of [
      'http://127.0.0.1:8080/', // the SCIM listener
      'https://127.0.0.1:8081/', // another scheme is another origin
      'http://localhost:8081/',
      'http://127.0.0.2:8081/',
      'http://127.0.0.1:8081@evil.example/',
      'http://user:pass@127.0.0.1:8081/', // credentials disguise where a URL goes
      'http://127.0.0.1.evil.example:8081/',
      'javascript:alert(1)',
      'file:///etc/passwd',
      'data:text/html,<script>alert(1)</script>',
      'blob:http://127.0.0.1:8081/1234',
      'about:blank',
      'chrome://settings',
      'ws://127.0.0.1:8081/',
      '',
      'not a url',
    ]) {
      expect(isConsoleUrl(url, origin), url).toBe(false);
    }
  });

  it('refuses everything while the origin is not known yet', () => {
    expect(isConsoleUrl('http://127.0.0.1:8081/', 'null')).toBe(false);
  });
});

describe('isAllowedExternalUrl', () => {
  it('allows https links to IdP admin consoles and docs, including subdomains', () => {
    for (const url of [
      'https://github.com/scim-bridge/scim-bridge/tree/main/docs',
      'https://acme-admin.okta.com/admin/apps',
      'https://help.okta.com/en-us/content/topics/apps/apps_app_integration_wizard_scim.htm',
      'https://entra.microsoft.com/#view/Microsoft_AAD_IAM',
      'https://learn.microsoft.com/en-us/entra/identity/app-provisioning/',
      'https://admin.google.com/ac/apps',
      'https://acme.onelogin.com/apps',
      'https://console.jumpcloud.com/',
    ]) {
      expect(isAllowedExternalUrl(url), url).toBe(true);
    }
  });

  it('refuses plain http, other ports, credentials, look-alike hosts and other schemes', () => {
    for (const url of [
      'http://github.com/',
      'https://github.com:8443/',
      'https://user@github.com/',
      'https://github.com.evil.example/',
      'https://evilgithub.com/',
      'https://notokta.com/',
      'https://evil.example/?https://github.com/',
      'https://google.com/', // only admin.google.com and support.google.com
      'javascript:alert(1)',
      'file:///C:/Windows/System32/calc.exe',
      'data:text/html,hi',
      'mailto:admin@example.com',
      'smb://fileserver/share',
      'ms-settings:',
    ]) {
      expect(isAllowedExternalUrl(url), url).toBe(false);
    }
  });

  it('uses the allow-list it is given', () => {
    expect(isAllowedExternalUrl('https://docs.example.com/x', ['example.com'])).toBe(true);
    expect(isAllowedExternalUrl('https://github.com/', ['example.com'])).toBe(false);
  });
});

describe('decideNavigation', () => {
  it('lets the console navigate within its origin', () => {
    expect(decideNavigation('http://127.0.0.1:8081/users/42', origin)).toEqual({ allow: true });
  });

  it('sends an allowed https link to the OS browser instead of the window', () => {
    expect(decideNavigation('https://help.okta.com/scim', origin)).toEqual({ allow: false, openExternal: 'https://help.okta.com/scim' });
  });

  it('blocks everything else without opening anything', () => {
    for (const url of ['http://example.com/', 'https://example.com/', 'javascript:void(0)', 'file:///etc/hosts', 'data:text/html,x', 'http://127.0.0.1:8080/scim/v2']) {
      expect(decideNavigation(url, origin), url).toEqual({ allow: false });
    }
  });
});

describe('decideWindowOpen', () => {
  it('never opens a new Electron window', () => {
    for (const url of ['http://127.0.0.1:8081/audit', 'https://github.com/', 'https://example.com/', 'javascript:alert(1)', 'about:blank', '']) {
      expect(decideWindowOpen(url, origin).action, url).toBe('deny');
    }
  });

  it('opens a console URL in the console window itself', () => {
    expect(decideWindowOpen('http://127.0.0.1:8081/audit?export=csv', origin)).toEqual({ action: 'deny', navigateInPlace: 'http://127.0.0.1:8081/audit?export=csv' });
  });

  it('opens an allowed external link in the OS browser, and nothing else anywhere', () => {
    expect(decideWindowOpen('https://learn.microsoft.com/entra', origin)).toEqual({ action: 'deny', openExternal: 'https://learn.microsoft.com/entra' });
    expect(decideWindowOpen('https://example.com/', origin)).toEqual({ action: 'deny' });
    expect(decideWindowOpen('file:///etc/passwd', origin)).toEqual({ action: 'deny' });
  });
});

describe('parseOpenExternalRequest (the preload bridge)', () => {
  const page = 'http://127.0.0.1:8081/guides/okta';

  it('returns the normalised URL for an allowed link asked by a console page', () => {
    expect(parseOpenExternalRequest(page, 'https://help.okta.com/a b', origin)).toBe('https://help.okta.com/a%20b');
  });

  it('refuses a request from anything but a console page', () => {
    expect(parseOpenExternalRequest(undefined, 'https://github.com/', origin)).toBeUndefined();
    expect(parseOpenExternalRequest('https://evil.example/', 'https://github.com/', origin)).toBeUndefined();
  });

  it('treats the argument as unknown: non-strings, huge strings and disallowed URLs are refused', () => {
    for (const arg of [undefined, null, 42, { href: 'https://github.com/' }, ['https://github.com/'], 'https://github.com/' + 'a'.repeat(3000), 'http://github.com/', 'file:///etc/passwd']) {
      expect(parseOpenExternalRequest(page, arg, origin)).toBeUndefined();
    }
  });
});
