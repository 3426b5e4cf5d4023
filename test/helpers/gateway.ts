/** Starts a real gateway in-process on port 0 with a fresh data dir, and a tiny SCIM client. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll } from 'vitest';
import { loadConfig } from '../../src/gateway/config.js';
import { startGateway, type Gateway, type StartOptions } from '../../src/gateway/server.js';
import { createConnection, createToken } from '../../src/gateway/auth/index.js';
import { startPostgres, type PostgresServer } from '../servers/postgres.js';

/**
 * SCIM_BRIDGE_TEST_STORE=postgres runs every gateway of a test file on PostgreSQL: one server per
 * test file (started on first use, stopped after the file), a fresh database per gateway.
 */
export const TEST_STORE: 'lowdb' | 'postgres' = process.env.SCIM_BRIDGE_TEST_STORE === 'postgres' ? 'postgres' : 'lowdb';
let sharedPostgres: Promise<PostgresServer> | undefined;
let databases = 0;
if (TEST_STORE === 'postgres') {
  afterAll(async () => {
    const server = sharedPostgres;
    sharedPostgres = undefined;
    await (await server?.catch(() => undefined))?.close();
  });
}

/** Config keys that put a test gateway on a fresh PostgreSQL database (empty with the lowdb store). */
export async function testStoreConfig(): Promise<Record<string, unknown>> {
  if (TEST_STORE !== 'postgres') return {};
  sharedPostgres ??= startPostgres();
  const server = await sharedPostgres;
  return { store: 'postgres', databaseUrl: await server.createDatabase(`gw_${process.pid}_${++databases}`) };
}

export interface TestGateway {
  gateway: Gateway;
  dataDir: string;
  base: string;
  token: string;
  client: ScimClient;
  /** A client for another connection (private users and groups). */
  clientFor(connection: string): ScimClient;
  stop(): Promise<void>;
}

export interface ScimReply {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export class ScimClient {
  constructor(readonly base: string, readonly token: string | undefined) {}

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ScimReply> {
    const h: Record<string, string> = { ...headers };
    if (this.token && h.Authorization === undefined) h.Authorization = `Bearer ${this.token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      if (h['Content-Type'] === undefined) h['Content-Type'] = 'application/scim+json';
    }
    const res = await fetch(this.base + path, { method, headers: h, body: payload });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  }
  get(path: string, headers?: Record<string, string>) {
    return this.request('GET', path, undefined, headers);
  }
  post(path: string, body: unknown, headers?: Record<string, string>) {
    return this.request('POST', path, body, headers);
  }
  put(path: string, body: unknown, headers?: Record<string, string>) {
    return this.request('PUT', path, body, headers);
  }
  patch(path: string, body: unknown, headers?: Record<string, string>) {
    return this.request('PATCH', path, body, headers);
  }
  delete(path: string, headers?: Record<string, string>) {
    return this.request('DELETE', path, undefined, headers);
  }
}

export async function startTestGateway(overrides: Record<string, unknown> = {}, options: StartOptions = {}): Promise<TestGateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'scim-bridge-test-'));
  // Tests hammer one token harder than an IdP would: its rate limit and concurrency cap are off unless a test sets them.
  const config = loadConfig({
    env: {},
    flags: { dataDir, port: 0, adminPort: 0, host: '127.0.0.1', logLevel: 'silent', rateLimitPerToken: 0, concurrencyPerToken: 0, secretsBackend: 'file', ...(await testStoreConfig()), ...overrides },
  });
  const gateway = await startGateway(config, { logger: pino({ level: 'silent' }), ...options });
  const { token } = createToken(dataDir, { name: 'test' });
  const base = gateway.scimUrl;
  return {
    gateway,
    dataDir,
    base,
    token,
    client: new ScimClient(base, token),
    clientFor(connection: string) {
      try {
        createConnection(dataDir, connection);
      } catch {
        /* exists */
      }
      return new ScimClient(base, createToken(dataDir, { name: connection, connection }).token);
    },
    async stop() {
      await gateway.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` returns true, or fails after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** One request of `keepRequesting`: when it was sent (performance.now()) and its status. */
export interface SentRequest {
  sentAt: number;
  status: number;
}

/**
 * Sends GET `path` with `client` back to back, `concurrency` at a time, until `stop()`: what an
 * IdP's steady traffic looks like around an admin's action (a revoke, a rotate).
 */
export function keepRequesting(client: ScimClient, path = '/Users?count=1', concurrency = 4): { sent: SentRequest[]; stop(): Promise<void> } {
  const sent: SentRequest[] = [];
  let running = true;
  const workers = Array.from({ length: concurrency }, async () => {
    while (running) {
      const sentAt = performance.now();
      const { status } = await client.get(path);
      sent.push({ sentAt, status });
    }
  });
  return {
    sent,
    async stop() {
      running = false;
      await Promise.all(workers);
    },
  };
}

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

export function user(userName: string, extra: Record<string, unknown> = {}) {
  return { schemas: [USER_SCHEMA], userName, active: true, ...extra };
}
