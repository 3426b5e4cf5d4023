/** The admin API from a test: a browser stand-in with a cookie jar and the CSRF token, and raw requests. */
import { request } from 'node:http';
import type { Gateway } from '../../src/gateway/server.js';

export interface ConsoleReply {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export class ConsoleClient {
  cookie = '';
  csrf = '';
  constructor(readonly base: string) {}

  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ConsoleReply> {
    const h: Record<string, string> = { ...headers };
    if (this.cookie) h.Cookie = this.cookie;
    if (method !== 'GET' && this.csrf && h['X-CSRF-Token'] === undefined) h['X-CSRF-Token'] = this.csrf;
    if (body !== undefined) h['Content-Type'] ??= 'application/json';
    const res = await fetch(this.base + path, { method, headers: h, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), redirect: 'manual' });
    const setCookie = res.headers.get('set-cookie');
    if (setCookie) {
      const m = /scb_session=([^;]*)/.exec(setCookie);
      if (m) this.cookie = m[1] ? `scb_session=${m[1]}` : '';
    }
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (json?.csrfToken) this.csrf = json.csrfToken;
    return { status: res.status, headers: res.headers, body: json, text };
  }
  get(path: string, headers?: Record<string, string>) {
    return this.call('GET', path, undefined, headers);
  }
  post(path: string, body?: unknown, headers?: Record<string, string>) {
    return this.call('POST', path, body, headers);
  }
  put(path: string, body: unknown) {
    return this.call('PUT', path, body);
  }
  delete(path: string, body?: unknown) {
    return this.call('DELETE', path, body);
  }
}

/**
 * One raw HTTP request with headers fetch will not send as given (Host), optionally from another
 * loopback source address (127.0.0.2 is a different client to the gateway).
 */
export function rawRequest(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string; localAddress?: string } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port, path: u.pathname + u.search, method: opts.method ?? 'GET', headers: opts.headers, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Creates the first admin with the one-time setup code and returns a signed-in client. */
export async function signInFirstAdmin(gateway: Pick<Gateway, 'adminUrl' | 'admin'>, username = 'ada', password = 'correct horse battery staple'): Promise<ConsoleClient> {
  const c = new ConsoleClient(gateway.adminUrl);
  const res = await c.post('/api/session/setup', { code: gateway.admin.setupCode()!.code, username, password });
  if (res.status !== 201) throw new Error(`admin setup answered ${res.status}: ${res.text}`);
  return c;
}
