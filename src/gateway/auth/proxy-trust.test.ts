/** Who the client is behind proxies, on plain request objects: X-Forwarded-For walked from the right. */
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { compileTrustProxy, createProxyTrust } from './index.js';

function req(peer: string, headers: Record<string, string> = {}): IncomingMessage {
  return { socket: { remoteAddress: peer }, connection: { remoteAddress: peer }, headers } as unknown as IncomingMessage;
}

describe('client address behind proxies', () => {
  it('trusts nothing by default: the peer is the client and X-Forwarded-* are ignored', () => {
    const p = createProxyTrust(false);
    const r = req('198.51.100.4', { 'x-forwarded-for': '10.0.0.1', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' });
    expect(p.clientAddress(r)).toBe('198.51.100.4');
    expect(p.forwarded(r, 'x-forwarded-proto')).toBeUndefined();
    expect(p.forwarded(r, 'x-forwarded-host')).toBeUndefined();
  });

  it('true is one hop: the right-most entry, whatever the client put before it', () => {
    const p = createProxyTrust(true);
    expect(p.clientAddress(req('10.0.0.2', { 'x-forwarded-for': '1.2.3.4, 203.0.113.7' }))).toBe('203.0.113.7');
    expect(p.clientAddress(req('10.0.0.2'))).toBe('10.0.0.2'); // no header: the peer
    const r = req('10.0.0.2', { 'x-forwarded-proto': 'https, http', 'x-forwarded-host': 'evil.example, scim.example.com' });
    expect(p.forwarded(r, 'x-forwarded-proto')).toBe('http');
    expect(p.forwarded(r, 'x-forwarded-host')).toBe('scim.example.com');
  });

  it('a hop count: the client is that many entries in from the right', () => {
    const p = createProxyTrust(2);
    const r = req('10.0.0.2', { 'x-forwarded-for': '6.6.6.6, 203.0.113.7, 10.0.0.9', 'x-forwarded-proto': 'http, https, http' });
    expect(p.clientAddress(r)).toBe('203.0.113.7');
    // The outer proxy (the second hop) wrote the client's protocol.
    expect(p.forwarded(r, 'x-forwarded-proto')).toBe('https');
    // A proxy that sets the header instead of appending: the one value there is the proxies'.
    expect(p.forwarded(req('10.0.0.2', { 'x-forwarded-for': '203.0.113.7, 10.0.0.9', 'x-forwarded-proto': 'https' }), 'x-forwarded-proto')).toBe('https');
  });

  it('addresses and CIDRs: the right-most address outside them; a client reaching us directly is not believed', () => {
    const p = createProxyTrust(['10.0.0.0/8', 'loopback']);
    expect(p.clientAddress(req('127.0.0.1', { 'x-forwarded-for': '6.6.6.6, 203.0.113.7, 10.1.1.1, 10.2.2.2' }))).toBe('203.0.113.7');
    expect(p.clientAddress(req('::ffff:127.0.0.1', { 'x-forwarded-for': '::ffff:203.0.113.8' }))).toBe('203.0.113.8');
    const direct = req('198.51.100.4', { 'x-forwarded-for': '10.9.9.9', 'x-forwarded-host': 'evil.example' });
    expect(p.clientAddress(direct)).toBe('198.51.100.4');
    expect(p.forwarded(direct, 'x-forwarded-host')).toBeUndefined();
  });

  it('names what is not a hop count, an address or a range', () => {
    expect(() => compileTrustProxy(['10.0.0.0/33'])).toThrow(/"10\.0\.0\.0\/33" is not an IP address, a CIDR/);
    expect(() => compileTrustProxy(['proxy.example'])).toThrow(/proxy\.example/);
    expect(() => compileTrustProxy(-1)).toThrow(/hop count/);
  });
});
