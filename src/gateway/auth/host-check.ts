/**
 * Which Host headers the admin listener answers (DNS rebinding): a page whose DNS name is rebound
 * to 127.0.0.1 reaches the listener with its own name in Host, so only names that cannot be
 * rebound are accepted: literal loopback hosts (`localhost`, `[::1]`, a numeric 127.0.0.0/8
 * address) with the listener's port, the listener's own bind address when that is a specific
 * address, and the names an operator lists in `adminAllowedHosts` (a non-loopback bind, a
 * reverse proxy in front of the console).
 */
import { isIPv4, isIPv6 } from 'node:net';

/** An allowed host: a name or address, and a port (undefined = the listener's, or none). */
export interface AllowedHost {
  name: string;
  port?: number;
}

const NAME_RE = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Splits a Host header (or an allow-list entry) into a lower-case name and a port. */
export function splitHost(value: string): { name: string; port?: number } | undefined {
  const text = value.trim().toLowerCase();
  let name: string;
  let port: string | undefined;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end === -1) return undefined;
    name = text.slice(0, end + 1);
    const rest = text.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) return undefined;
    port = rest ? rest.slice(1) : undefined;
  } else {
    const colon = text.indexOf(':');
    name = colon === -1 ? text : text.slice(0, colon);
    port = colon === -1 ? undefined : text.slice(colon + 1);
  }
  if (port !== undefined && !/^\d{1,5}$/.test(port)) return undefined;
  const portNumber = port === undefined ? undefined : Number(port);
  if (portNumber !== undefined && portNumber > 65535) return undefined;
  const literal = name.startsWith('[') ? isIPv6(name.slice(1, -1)) : isIPv4(name) || NAME_RE.test(name);
  if (!literal) return undefined;
  return portNumber === undefined ? { name } : { name, port: portNumber };
}

/** Parses an `adminAllowedHosts` entry; throws naming the entry that is not a host name or host:port. */
export function parseAllowedHost(entry: string): AllowedHost {
  const parsed = splitHost(entry);
  if (!parsed) throw new Error(`"${entry}" is not a host name or host:port (e.g. console.example.com or console.example.com:8443)`);
  return parsed;
}

/** `localhost`, `[::1]` or a dotted-quad 127.0.0.0/8 address: names no DNS answer can rebind. */
export function isLoopbackName(name: string): boolean {
  return name === 'localhost' || name === '[::1]' || (isIPv4(name) && name.startsWith('127.'));
}

/** Whether a bind address keeps the listener on this machine. */
export function isLoopbackBind(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || (isIPv4(h) && h.startsWith('127.'));
}

export interface HostCheckOptions {
  /** The address the listener is bound to (adminHost). */
  bindHost: string;
  /** adminAllowedHosts. */
  allowedHosts: readonly string[];
}

/** Returns undefined when the Host is acceptable for a listener on `port`, else the reason to show. */
export function createHostCheck(opts: HostCheckOptions): (hostHeader: string | undefined, port: number) => string | undefined {
  const allowed = opts.allowedHosts.map(parseAllowedHost);
  const bind = opts.bindHost.toLowerCase();
  // The bind address itself, written as a Host would carry it; a wildcard bind has no such name.
  const bindName = bind === '0.0.0.0' || bind === '::' ? undefined : isIPv6(bind) ? `[${bind}]` : bind;
  const advice = isLoopbackBind(opts.bindHost)
    ? 'open the console as http://localhost:<port> or http://127.0.0.1:<port>'
    : 'open the console by an allowed name, or add the name to adminAllowedHosts in the gateway\'s configuration';
  return (hostHeader, port) => {
    const host = splitHost(hostHeader ?? '');
    const refused = `This console does not answer to the host ${hostHeader ? `"${hostHeader.slice(0, 100)}"` : '(none)'}: ${advice}.`;
    if (!host) return refused;
    // Only the listener's own port: another port means another origin (or a mistaken proxy).
    const samePort = host.port === port || (host.port === undefined && port === 80);
    if ((isLoopbackName(host.name) || host.name === bindName) && samePort) return undefined;
    for (const entry of allowed) {
      if (entry.name !== host.name) continue;
      if (entry.port !== undefined ? host.port === entry.port : host.port === undefined || host.port === port) return undefined;
    }
    return refused;
  };
}
