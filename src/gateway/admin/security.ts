/**
 * The console's HTTP hardening: security headers, the Host check in front of every route of the
 * admin listener (DNS rebinding), the session cookie, and the session + CSRF gate in front of
 * every /api route.
 */
import type { TLSSocket } from 'node:tls';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { createHostCheck, sameSecret, type HostCheckOptions, type ProxyTrust } from '../auth/index.js';
import type { AdminContext } from './context.js';
import { setSession } from './context.js';
import { errorBody } from './errors.js';

export const SESSION_COOKIE = 'scb_session';

/** No inline script or style, nothing from elsewhere, never framed. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function securityHeaders(): RequestHandler {
  return (req, res, next) => {
    res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), clipboard-read=()');
    if (req.path.startsWith('/api/') || req.path.startsWith('/auth/')) {
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Pragma', 'no-cache');
    }
    next();
  };
}

/**
 * Refuses requests whose Host the listener must not answer (auth/host-check.ts): mounted first on
 * the admin listener, before /healthz, /readyz and /metrics too. `port` is the bound port.
 */
export function adminHostCheck(opts: HostCheckOptions, port: () => number): RequestHandler {
  const check = createHostCheck(opts);
  return (req, res, next) => {
    const problem = check(req.headers.host, port());
    if (!problem) return next();
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    res.status(403).json(errorBody('host', problem));
  };
}

export function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Whether the browser reached us over TLS (directly, or through a proxy we were told to trust). */
export function isHttps(req: Request, proxy: ProxyTrust): boolean {
  if ((req.socket as TLSSocket).encrypted) return true;
  return proxy.forwarded(req, 'x-forwarded-proto')?.toLowerCase() === 'https';
}

export function setSessionCookie(req: Request, res: Response, id: string, proxy: ProxyTrust): void {
  // No Max-Age: the cookie ends with the browser; the server ends the session on idle/absolute expiry.
  const attrs = [`${SESSION_COOKIE}=${id}`, 'Path=/', 'HttpOnly', 'SameSite=Strict'];
  if (isHttps(req, proxy)) attrs.push('Secure');
  res.append('Set-Cookie', attrs.join('; '));
}

export function clearSessionCookie(req: Request, res: Response, proxy: ProxyTrust): void {
  const attrs = [`${SESSION_COOKIE}=`, 'Path=/', 'HttpOnly', 'SameSite=Strict', 'Max-Age=0'];
  if (isHttps(req, proxy)) attrs.push('Secure');
  res.append('Set-Cookie', attrs.join('; '));
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A state-changing request must come from the console's own origin: the Origin header, when the
 * browser sends one, must name this host (browsers send it on every cross-origin POST).
 */
export function sameOrigin(req: Request): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

/**
 * Every /api route behind this needs a live session, and every state-changing one its CSRF token
 * in X-CSRF-Token. A SCIM bearer token is not a credential here: the Authorization header is ignored.
 */
export function requireSession(ctx: AdminContext): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const id = readCookie(req, SESSION_COOKIE);
    // The console marks its automatic refreshes: they do not keep an unattended session alive.
    const background = SAFE_METHODS.has(req.method) && req.get('x-console-refresh') === '1';
    const { session, expired } = ctx.sessions.get(id, { touch: !background });
    if (!session) {
      if (expired) clearSessionCookie(req, res, ctx.deps.proxy);
      const message = expired ? 'Your session has expired; sign in again.' : 'Sign in to the console first.';
      res.status(401).json(errorBody(expired ? 'session_expired' : 'unauthenticated', message));
      return;
    }
    if (!SAFE_METHODS.has(req.method)) {
      const sent = req.get('x-csrf-token');
      if (!sameOrigin(req) || !sent || !sameSecret(sent, session.csrfToken)) {
        res.status(403).json(errorBody('csrf', 'This request did not carry the console\'s CSRF token; reload the page and try again.'));
        return;
      }
    }
    setSession(req, session);
    next();
  };
}

/** Requests with a body must be JSON (a cross-site form cannot send that without CORS). */
export function requireJson(): RequestHandler {
  return (req, res, next) => {
    if (SAFE_METHODS.has(req.method) || req.method === 'DELETE') return next();
    const length = req.headers['content-length'];
    const hasBody = (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
    if (hasBody && !req.is('application/json')) {
      res.status(415).json(errorBody('media_type', 'Send the request body as JSON (Content-Type: application/json).'));
      return;
    }
    next();
  };
}
