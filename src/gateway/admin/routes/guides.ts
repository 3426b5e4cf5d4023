/**
 * What the setup guides need: the real SCIM base URL, and the "send a test request" check: the
 * gateway calls its own SCIM URL with the token the admin pasted, proving from this machine that
 * URL and token work before they go into the identity provider.
 */
import { performance } from 'node:perf_hooks';
import { Router } from 'express';
import { z } from 'zod';
import { hashToken, readAccess } from '../../auth/index.js';
import type { GuideContext, TestRequestCheck, TestRequestOutcome } from '../api-types.js';
import type { AdminContext } from '../context.js';
import { parseBody } from '../errors.js';
import { listConnections } from '../views.js';

const CHECK_TIMEOUT_MS = 10_000;

const testBody = z.object({
  token: z
    .string()
    .trim()
    .min(1, 'paste the token the identity provider will use')
    .max(4096)
    // Accept what an admin may paste: the token alone, or "Bearer <token>" (Okta's Header Auth app).
    .transform((t) => t.replace(/^bearer\s+/i, '')),
});

function errorText(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${CHECK_TIMEOUT_MS / 1000} s`;
  const cause = e.cause?.code ? `${e.cause.code}${e.cause.message ? ` (${e.cause.message})` : ''}` : e.cause?.message;
  return cause ? `${e.message}: ${cause}` : e.message;
}

async function check(name: string, url: string, token: string, summarize: (body: Record<string, unknown>) => string | undefined): Promise<TestRequestCheck> {
  const started = performance.now();
  try {
    const res = await fetch(url, { headers: { Authorization: `Bearer ${token}`, Accept: 'application/scim+json' }, signal: AbortSignal.timeout(CHECK_TIMEOUT_MS), redirect: 'manual' });
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      /* not JSON: reported below */
    }
    const durationMs = Math.round(performance.now() - started);
    if (res.status !== 200) {
      const detail = typeof body.detail === 'string' ? body.detail : res.status >= 300 && res.status < 400 ? `redirected to ${res.headers.get('location') ?? 'elsewhere'}: use the final URL` : text.slice(0, 200) || res.statusText;
      return { name, method: 'GET', url, ok: false, status: res.status, durationMs, error: detail };
    }
    if (!Array.isArray(body.schemas)) return { name, method: 'GET', url, ok: false, status: res.status, durationMs, error: 'the answer is not a SCIM response: is something else answering at this URL?' };
    const summary = summarize(body);
    return { name, method: 'GET', url, ok: true, status: res.status, durationMs, ...(summary ? { summary } : {}) };
  } catch (err) {
    return { name, method: 'GET', url, ok: false, durationMs: Math.round(performance.now() - started), error: errorText(err) };
  }
}

export function guideRoutes(ctx: AdminContext): Router {
  const r = Router();
  const { deps } = ctx;

  r.get('/guides/context', (_req, res) => {
    const scimUrl = deps.scimUrl();
    const body: GuideContext = { scimUrl, publicUrlConfigured: Boolean(deps.config.publicUrl), https: scimUrl.startsWith('https://'), connections: listConnections(ctx).map((c) => c.name) };
    res.json(body);
  });

  r.post('/guides/test-request', async (req, res) => {
    const { token } = parseBody(testBody, req);
    const base = deps.scimUrl();
    // Only ever this gateway's own URL: the console cannot be used to send a token elsewhere.
    const run = async () => [
      await check('Discovery: GET /ServiceProviderConfig', `${base}/ServiceProviderConfig`, token, () => 'the gateway answered its service provider configuration'),
      await check('List users: GET /Users?count=1', `${base}/Users?count=1`, token, (b) => (typeof b.totalResults === 'number' ? `ListResponse: ${b.totalResults} user${b.totalResults === 1 ? '' : 's'} in the connection` : undefined)),
    ];
    // The console's check is not the identity provider: it must not mark the connection "Connected".
    const checks = deps.tokens ? await deps.tokens.unrecorded(run) : await run();
    const record = readAccess(deps.config.dataDir).tokens.find((t) => t.hash === hashToken(token));
    const body: TestRequestOutcome = { ok: checks.every((c) => c.ok), baseUrl: base, checks, ...(record ? { connection: record.connection } : {}) };
    await ctx.record(req, { ...(record ? { connection: record.connection } : {}), action: 'guide.test-request', result: body.ok ? 'success' : 'failure', detail: checks.map((c) => `${c.name}: ${c.ok ? c.status : (c.status ?? '') + ' ' + (c.error ?? '')}`.trim()).join('; ').slice(0, 500) });
    res.json(body);
  });

  return r;
}
