/** Which Host headers the admin listener answers (DNS rebinding). */
import { describe, expect, it } from 'vitest';
import { createHostCheck, parseAllowedHost } from './index.js';

describe('admin Host check', () => {
  const loopback = createHostCheck({ bindHost: '127.0.0.1', allowedHosts: [] });

  it('accepts literal loopback hosts on the listener\'s port only', () => {
    for (const host of ['127.0.0.1:8081', '127.9.8.7:8081', 'localhost:8081', 'LocalHost:8081', '[::1]:8081']) expect(loopback(host, 8081), host).toBeUndefined();
    for (const host of ['127.attacker.example:8081', '127.0.0.1.nip.io:8081', '127.1:8081', '0x7f000001:8081', 'localhost.:8081', 'localhost:8082', '127.0.0.1', '[::1]', '', 'a b', '[::1', 'localhost:99999', 'localhost:80ab']) {
      expect(loopback(host, 8081), host).toMatch(/does not answer to the host/);
    }
    expect(loopback(undefined, 8081)).toMatch(/\(none\)/);
    expect(loopback('localhost', 80)).toBeUndefined(); // port 80: browsers omit it
  });

  it('on a non-loopback bind: also the bind address and the allow-list', () => {
    const lan = createHostCheck({ bindHost: '10.0.0.5', allowedHosts: ['console.corp.example', 'proxy.corp.example:443'] });
    expect(lan('10.0.0.5:8081', 8081)).toBeUndefined();
    expect(lan('console.corp.example:8081', 8081)).toBeUndefined();
    expect(lan('console.corp.example', 8081)).toBeUndefined();
    expect(lan('console.corp.example:9999', 8081)).toMatch(/adminAllowedHosts/);
    expect(lan('proxy.corp.example:443', 8081)).toBeUndefined();
    expect(lan('proxy.corp.example', 8081)).toMatch(/adminAllowedHosts/);
    expect(lan('10.0.0.6:8081', 8081)).toMatch(/adminAllowedHosts/);
    const wildcard = createHostCheck({ bindHost: '0.0.0.0', allowedHosts: [] });
    expect(wildcard('0.0.0.0:8081', 8081)).toMatch(/does not answer/);
    expect(wildcard('127.0.0.1:8081', 8081)).toBeUndefined();
    const v6 = createHostCheck({ bindHost: 'fd00::5', allowedHosts: [] });
    expect(v6('[fd00::5]:8081', 8081)).toBeUndefined();
  });

  it('names an allow-list entry that is not a host', () => {
    expect(parseAllowedHost('Console.Example.com:8443')).toEqual({ name: 'console.example.com', port: 8443 });
    expect(() => parseAllowedHost('https://console.example.com')).toThrow(/"https:\/\/console\.example\.com" is not a host name or host:port/);
    expect(() => parseAllowedHost('*.example.com')).toThrow(/not a host name/);
  });
});
