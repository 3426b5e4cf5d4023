/**
 * Who the client is behind reverse proxies, for both listeners (the SCIM allow-list, rate limits
 * and bad-token lockout; the console's lockout, cookies and audit): ONE reading of
 * X-Forwarded-For/-Proto/-Host.
 *
 * Proxies append to X-Forwarded-For (cloud load balancers, HAProxy, nginx
 * `$proxy_add_x_forwarded_for`), so everything left of what our own proxies wrote is whatever
 * the client sent. The client is the right-most address that is not a trusted proxy; the
 * left-most entry is never believed. `trustProxy` says which peers are our proxies:
 *   false / 0      none: the socket's peer is the client, X-Forwarded-* are ignored
 *   true / 1       one hop: the peer is a proxy, the right-most X-Forwarded-For entry is the client
 *   N              N hops: the N right-most hops (peer included) are proxies
 *   [cidr, ...]    the peer and each entry inside these ranges (or `loopback`, `linklocal`,
 *                  `uniquelocal`) are proxies, walking from the right
 */
import type { IncomingMessage } from 'node:http';
import proxyAddr from 'proxy-addr';
import { normalizeIp } from './request-guard.js';

export type TrustProxySetting = boolean | number | readonly string[];

export interface ProxyTrust {
  /** The client's address (IPv4-mapped IPv6 written as IPv4). */
  clientAddress(req: IncomingMessage): string;
  /**
   * X-Forwarded-Proto or -Host as the outermost trusted proxy set it, or undefined when no
   * trusted proxy stands between the client and us.
   */
  forwarded(req: IncomingMessage, header: 'x-forwarded-proto' | 'x-forwarded-host'): string | undefined;
}

/** The trust function proxy-addr walks the chain with; throws naming an entry that is no address or range. */
export function compileTrustProxy(setting: TrustProxySetting): (addr: string, hop: number) => boolean {
  if (setting === false || setting === 0) return () => false;
  if (setting === true) return (_addr, hop) => hop < 1;
  if (typeof setting === 'number') {
    if (!Number.isInteger(setting) || setting < 0) throw new Error(`${setting} is not a hop count (0, 1, 2, ...)`);
    return (_addr, hop) => hop < setting;
  }
  for (const entry of setting) {
    try {
      proxyAddr.compile(entry);
    } catch {
      throw new Error(`"${entry}" is not an IP address, a CIDR (e.g. 10.0.0.0/8) or one of loopback, linklocal, uniquelocal`);
    }
  }
  return proxyAddr.compile([...setting]);
}

function headerValues(req: IncomingMessage, name: string): string[] {
  const raw = req.headers[name];
  const text = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  return text
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
}

export function createProxyTrust(setting: TrustProxySetting): ProxyTrust {
  const trust = compileTrustProxy(setting);
  /** [peer, then X-Forwarded-For from the right] up to and including the first untrusted address. */
  const chain = (req: IncomingMessage): string[] => proxyAddr.all(req, trust);
  return {
    clientAddress(req) {
      const addrs = chain(req);
      return normalizeIp(addrs[addrs.length - 1] ?? req.socket.remoteAddress ?? '');
    },
    forwarded(req, header) {
      const addrs = chain(req);
      // How many of our proxies the request passed: each appends (or sets) one value.
      const proxies = addrs.length > 1 ? addrs.length - 1 : trust(addrs[0] ?? '', 0) ? 1 : 0;
      if (proxies === 0) return undefined;
      const values = headerValues(req, header);
      if (values.length === 0) return undefined;
      // The value the outermost trusted proxy wrote; anything further left came from the client.
      return values[Math.max(0, values.length - proxies)];
    },
  };
}
