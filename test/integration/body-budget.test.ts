/**
 * Load test: request bodies in flight are bounded. Many slow 1 MiB bodies from raw sockets, spread
 * over several tokens, against a real `scim-bridge serve` process: beyond the global body budget
 * they get 503 with Retry-After, beyond a token's concurrency cap 429 with Retry-After, the bytes
 * held never exceed the budget (the gateway's own gauge, and its RSS), and once the slow senders
 * are gone normal requests get through. Bounded: a fixed number of sockets, every one closed by the
 * test, every wait with a limit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/gateway/auth/index.js';
import { startServe, stopChild } from '../helpers/cli.js';
import { ScimClient, user, waitFor } from '../helpers/gateway.js';

const MiB = 1024 * 1024;
const BUDGET = 8 * MiB;
const PER_TOKEN = 4;
const TOKENS = 5;
const SLOW_BODIES = 150;

let dir: string;
let serve: Awaited<ReturnType<typeof startServe>>;
let tokens: string[];
let adminUrl: string;
const sockets = new Set<Socket>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'scim-bridge-body-budget-'));
  tokens = Array.from({ length: TOKENS + 1 }, (_, i) => createToken(dir, { name: `IdP ${i}` }).token);
  serve = await startServe(['--data-dir', dir, '--port', '0', '--admin-port', '0', '--host', '127.0.0.1'], {
    SCIM_BRIDGE_LIMITS_BODY_BUDGET_BYTES: String(BUDGET),
    SCIM_BRIDGE_CONCURRENCY_PER_TOKEN: String(PER_TOKEN),
  });
  adminUrl = /Admin console:\s+(\S+)/.exec(serve.output())![1];
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  if (serve) await stopChild(serve.child);
  rmSync(dir, { recursive: true, force: true });
});

/** One gauge or counter value from the gateway's /metrics (0 when absent). */
async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : Number.NaN;
}

interface SlowPost {
  /** Resolves once `sendBytes` are handed to the kernel, or the gateway answered first. */
  sent: Promise<void>;
  /** The gateway's answer before the body was complete: its status and Retry-After. */
  answer?: { status: number; retryAfter?: string };
  /** The gateway closed the connection (after refusing) before its answer could be read. */
  closed: boolean;
}

/**
 * POSTs a body of `declared` bytes (Content-Length, or chunked when `declared` is undefined) and
 * sends only `sendBytes` of it, as a slow or stalled client would. The socket stays open until the
 * test closes it.
 */
function slowPost(token: string, declared: number | undefined, sendBytes: number): SlowPost {
  const url = new URL(serve.scimUrl);
  const socket = connect(Number(url.port), url.hostname);
  sockets.add(socket);
  const post: SlowPost = { sent: Promise.resolve(), closed: false };
  let text = '';
  post.sent = new Promise((resolve) => {
    socket.on('error', () => {
      post.closed = true;
      resolve();
    });
    socket.on('data', (d) => {
      text += d.toString('latin1');
      const head = text.indexOf('\r\n\r\n');
      if (head === -1 || post.answer) return;
      const retryAfter = /\r\nretry-after: *(\S+)/i.exec(text.slice(0, head))?.[1];
      post.answer = { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]), ...(retryAfter ? { retryAfter } : {}) };
      resolve();
    });
    socket.write(
      `POST /scim/v2/Users HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/scim+json\r\n` +
        (declared === undefined ? 'Transfer-Encoding: chunked\r\n' : `Content-Length: ${declared}\r\n`) +
        '\r\n',
    );
    const chunk = Buffer.alloc(64 * 1024, 0x20); // whitespace: the body never completes anyway
    let sent = 0;
    const pump = () => {
      while (!post.answer && !post.closed && sent < sendBytes) {
        const part = chunk.subarray(0, Math.min(chunk.length, sendBytes - sent));
        sent += part.length;
        const framed = declared === undefined ? Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]) : part;
        if (!socket.write(framed)) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.write('', () => resolve());
    };
    socket.once('connect', pump);
  });
  return post;
}

/**
 * Sends the posts and waits until the gateway has dealt with each: answered it, or holds it
 * (counted in its requests-in-flight gauge). Returns the held ones and the refused ones.
 */
async function settle(posts: SlowPost[]): Promise<{ held: number; refused: SlowPost[] }> {
  await Promise.all(posts.map((p) => p.sent));
  let held = 0;
  await waitFor(
    async () => {
      held = await metric('scim_bridge_scim_requests_in_flight');
      return held + posts.filter((p) => p.answer || p.closed).length === posts.length;
    },
    10_000,
    'the gateway to answer or hold every slow request',
  );
  return { held, refused: posts.filter((p) => p.answer || p.closed) };
}

const closeAll = () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
};

describe('request bodies in flight', () => {
  it("caps one token's concurrent requests: the burst beyond it gets 429 with Retry-After", async () => {
    const { held, refused } = await settle(Array.from({ length: 10 }, () => slowPost(tokens[0], 1024, 1000)));
    expect(held).toBe(PER_TOKEN);
    expect(refused.map((p) => p.answer?.status)).toEqual(Array(10 - PER_TOKEN).fill(429));
    expect(refused.every((p) => Number(p.answer?.retryAfter) >= 1)).toBe(true);
    // Another token is not held up by this one's requests.
    expect((await new ScimClient(serve.scimUrl, tokens[1]).get('/Users?count=1')).status).toBe(200);
    closeAll();
    await waitFor(async () => (await metric('scim_bridge_scim_requests_in_flight')) === 0, 5_000, 'the burst to be released');
  });

  it('holds no more body bytes than the budget under 150 slow 1 MiB bodies, and lets normal requests through afterwards', async () => {
    const rssBefore = await metric('scim_bridge_process_resident_memory_bytes');
    let peakBodyBytes = 0;
    const sampler = setInterval(() => {
      void metric('scim_bridge_request_body_bytes_in_flight').then(
        (n) => (peakBodyBytes = Math.max(peakBodyBytes, n)),
        () => undefined,
      );
    }, 50);
    let held: number;
    let refused: SlowPost[];
    try {
      // Each sends 90% of its body and stalls: without a budget, each would pin ~0.9 MiB.
      ({ held, refused } = await settle(Array.from({ length: SLOW_BODIES }, (_, i) => slowPost(tokens[i % TOKENS], MiB, Math.floor(0.9 * MiB)))));
    } finally {
      clearInterval(sampler);
    }
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThanOrEqual(BUDGET / MiB);
    expect(refused).toHaveLength(SLOW_BODIES - held);
    const answered = refused.filter((p) => p.answer);
    // Refused before its body was read, the connection is closed; now and then that outruns the answer.
    expect(answered.length).toBeGreaterThan(refused.length * 0.9);
    expect(new Set(answered.map((p) => p.answer!.status))).toEqual(new Set([503]));
    expect(answered.every((p) => Number(p.answer!.retryAfter) >= 1)).toBe(true);

    const bodyBytes = await metric('scim_bridge_request_body_bytes_in_flight');
    expect(bodyBytes).toBeLessThanOrEqual(BUDGET);
    expect(peakBodyBytes).toBeLessThanOrEqual(BUDGET);
    const rssDuring = await metric('scim_bridge_process_resident_memory_bytes');
    console.log(`body budget ${BUDGET / MiB} MiB: ${held} slow bodies held, ${refused.length} refused (${answered.length} answers read); body bytes in flight ${(bodyBytes / MiB).toFixed(1)} MiB (peak sampled ${(peakBodyBytes / MiB).toFixed(1)} MiB); RSS ${(rssBefore / MiB).toFixed(0)} -> ${(rssDuring / MiB).toFixed(0)} MiB`);
    // 150 bodies at 0.9 MiB would be 135 MiB; the budget plus the sockets' own buffers is far less.
    expect(rssDuring - rssBefore).toBeLessThan(BUDGET + 40 * MiB);

    // While the budget is spent: a body-less request still works, a body waits for room.
    const other = new ScimClient(serve.scimUrl, tokens[TOKENS]);
    expect((await other.get('/Users?count=1')).status).toBe(200);
    const full = await other.post('/Users', user('waits@example.com'));
    expect(full.status).toBe(503);
    expect(full.body.detail).toMatch(/request bodies/);
    expect(Number(full.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // A chunked body (no Content-Length) is counted as it arrives, and refused as well.
    const chunked = slowPost(tokens[TOKENS], undefined, 256 * 1024);
    await waitFor(() => chunked.answer !== undefined || chunked.closed, 5_000, 'the chunked body to be refused');
    expect(chunked.answer?.status).toBe(503);

    closeAll();
    await waitFor(async () => (await metric('scim_bridge_request_body_bytes_in_flight')) === 0, 5_000, 'the held bodies to be released');
    expect((await other.post('/Users', user('after@example.com'))).status).toBe(201);
    for (const t of tokens.slice(0, TOKENS)) expect((await new ScimClient(serve.scimUrl, t).get('/Users?count=1')).status).toBe(200);
  });
});
