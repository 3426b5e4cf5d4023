/**
 * Delivers outbox entries to connectors: immediately after a commit, per resource in commit
 * order, several resources at once; retries transient failures with exponential backoff and
 * jitter; dead-letters after `maxAttempts` or on a permanent failure. Every outcome is committed
 * to the store, so a restart resumes exactly where delivery stood. Each entry is claimed from the
 * store (never handed to two deliveries at once) and stays claimed until its outcome is committed;
 * when the store cannot take the outcome (the database is away, the disk is full) the worker
 * keeps the claim and records it again until it can, so a store outage never repeats a delivery.
 * Only a crash between the connector's success and the commit repeats the operation, which is safe
 * because connector operations are idempotent and carry the same operation id (DESIGN.md).
 */
import { ScimError } from '../scim/index.js';
import type { OutboxChange, OutboxEntry, Store } from '../store/index.js';

/** One connector instance as the worker sees it. */
export interface DeliveryTarget {
  /**
   * Applies one operation. `key` is the target key linked to the resource (undefined before the
   * first successful create). Returns the key to link (a create's DN or row id), null to forget it
   * (after a delete), or undefined to leave the link as it is.
   */
  deliver(entry: OutboxEntry, key: string | undefined): Promise<{ key?: string | null }>;
}

/** How a failure is to be treated: the connector SDK's TransientError / PermanentError. */
export interface FailureClass {
  transient: boolean;
  /**
   * false: the gateway itself could not carry the attempt out (its own store was unavailable: a
   * database away, a full disk); the entry is retried without using up an attempt, and is never
   * dead-lettered for it.
   */
  countsAsAttempt?: boolean;
  /** A target's Retry-After, honoured when longer than the backoff. */
  retryAfterMs?: number;
  /** Safe to store and show: secrets already removed. */
  message: string;
}

export interface OutboxWorkerOptions {
  store: Store;
  /** The delivery target for a connector instance id, or undefined if it is not configured. */
  target(connector: string): DeliveryTarget | undefined;
  classify(err: unknown): FailureClass;
  logger: { info(o: object, msg?: string): void; warn(o: object, msg?: string): void; error(o: object, msg?: string): void };
  /** Attempts before an entry is dead-lettered (default 10). */
  maxAttempts?: number;
  /** First retry delay (default 1 s), doubled per attempt up to maxDelayMs (default 10 min). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Entries delivered at once (different resources; default 4). */
  concurrency?: number;
  /** How often due entries are looked for when nothing kicks the worker (default 500 ms). */
  pollMs?: number;
  now?: () => number;
  random?: () => number;
  /** Extra changes committed with each delivery outcome (its audit record). */
  recordFor?: (entry: OutboxEntry, outcome: { ok: boolean; dead?: boolean; error?: string }) => OutboxChange | undefined;
  /** First wait before recording an outcome the store refused again (default 250 ms, doubling up to 5 s). */
  outcomeRetryMs?: number;
}

export interface OutboxWorker {
  start(): void;
  /** Stops taking entries and waits for deliveries in flight. */
  stop(): Promise<void>;
  /** Looks for due entries now (called after each commit that added some). */
  kick(): void;
  /** Puts a dead (or waiting) entry back in the queue, due now, with its attempts reset. */
  retry(id: string): Promise<void>;
  /** Drops an entry without delivering it. */
  discard(id: string): Promise<void>;
  /** Resolves when nothing is due or in flight (tests, shutdown). */
  idle(): Promise<void>;
}

/** Delay before attempt `attempts + 1`: base * 2^attempts, capped, with ±20% jitter. */
export function backoffMs(attempts: number, baseMs: number, maxMs: number, random: () => number): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.min(attempts, 30));
  return Math.round(raw * (0.8 + 0.4 * random()));
}

export function createOutboxWorker(opts: OutboxWorkerOptions): OutboxWorker {
  const { store, logger } = opts;
  const maxAttempts = opts.maxAttempts ?? 10;
  const baseDelayMs = opts.baseDelayMs ?? 1_000;
  const maxDelayMs = opts.maxDelayMs ?? 600_000;
  const concurrency = opts.concurrency ?? 4;
  const pollMs = opts.pollMs ?? 500;
  const now = opts.now ?? Date.now;
  const random = opts.random ?? Math.random;

  const inFlight = new Map<string, Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let pumping = false;
  let again = false;
  const idleWaiters: Array<() => void> = [];

  const outcomeRetryMs = opts.outcomeRetryMs ?? 250;

  /**
   * Commits a delivery's outcome, again and again while the store refuses it (the entry stays
   * claimed meanwhile, so nobody delivers it a second time). Before each new try it looks whether
   * the last one landed after all (a lost answer to COMMIT), so nothing is recorded twice.
   * Returns false if the worker stopped first: the claim is then handed back (at-least-once).
   */
  async function recordOutcome(entry: OutboxEntry, changes: Parameters<Store['commit']>[0]['changes'], landed: (now: OutboxEntry | undefined) => boolean): Promise<boolean> {
    let wait = outcomeRetryMs;
    for (let attempt = 1; ; attempt++) {
      try {
        if (attempt > 1) {
          if (landed(await store.outboxGet(entry.id))) {
            await store.outboxRelease([entry.id]);
            return true;
          }
        }
        await store.commit({ changes });
        return true;
      } catch (err) {
        if (attempt === 1) logger.error({ err, outboxId: entry.id, connector: entry.connector }, 'could not record a delivery outcome; retrying until the store takes it');
      }
      if (!running) {
        await store.outboxRelease([entry.id]).catch(() => undefined);
        return false;
      }
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 5_000);
    }
  }

  async function settle(entry: OutboxEntry, failure: FailureClass): Promise<void> {
    const counted = failure.countsAsAttempt !== false;
    const attempts = counted ? entry.attempts + 1 : entry.attempts;
    const dead = counted && (!failure.transient || attempts >= maxAttempts);
    const delay = counted ? Math.max(backoffMs(entry.attempts, baseDelayMs, maxDelayMs, random), failure.retryAfterMs ?? 0) : backoffMs(0, baseDelayMs, maxDelayMs, random);
    const nextAttemptAt = new Date(now() + (dead ? 0 : delay)).toISOString();
    const lastError = failure.message.slice(0, 2000);
    // An attempt the gateway could not make is not a delivery outcome: no audit record.
    const record = counted ? opts.recordFor?.(entry, { ok: false, dead, error: lastError }) : undefined;
    const changes: Parameters<Store['commit']>[0]['changes'] = [
      { op: 'outbox.update', id: entry.id, attempts, nextAttemptAt, state: dead ? 'dead' : 'pending', lastError, release: true },
      ...(record ? [record] : []),
    ];
    // landed: gone (discarded meanwhile), its attempts moved on (ours, or the console's retry), or our own update
    const landed = (cur: OutboxEntry | undefined) => cur === undefined || cur.attempts !== entry.attempts || cur.nextAttemptAt === nextAttemptAt;
    if (!(await recordOutcome(entry, changes, landed))) return;
    const log = { connector: entry.connector, connection: entry.connection, operation: entry.kind, resourceId: entry.resourceId, outboxId: entry.id, attempts, error: lastError };
    if (dead) logger.error(log, failure.transient ? 'connector operation dead-lettered after the last retry' : 'connector refused the operation: dead-lettered');
    else if (!counted) logger.warn({ ...log, retryInMs: delay }, "the gateway's store was unavailable during a delivery; retried without using an attempt");
    else logger.warn({ ...log, retryInMs: delay }, 'connector operation failed; will retry');
  }

  /** The store's own unavailability (ScimError 503), raised by the worker's reads or the target's. */
  const storeUnavailable = (err: unknown): FailureClass | undefined =>
    err instanceof ScimError && err.status === 503 ? { transient: true, countsAsAttempt: false, message: `the gateway's store was unavailable: ${err.detail}` } : undefined;

  async function deliverOne(entry: OutboxEntry): Promise<void> {
    const target = opts.target(entry.connector);
    let result: { key?: string | null };
    try {
      if (!target) {
        await settle(entry, { transient: false, message: `connector "${entry.connector}" is not configured on this gateway; configure it, then retry the entry, or discard it` });
        return;
      }
      const key = await store.linkOf(entry.connector, entry.resourceId);
      result = await target.deliver(entry, key);
    } catch (err) {
      await settle(entry, storeUnavailable(err) ?? opts.classify(err));
      return;
    }
    const changes: Parameters<Store['commit']>[0]['changes'] = [{ op: 'outbox.remove', id: entry.id }];
    if (result.key !== undefined) changes.push({ op: 'link', connector: entry.connector, resourceId: entry.resourceId, key: result.key });
    const record = opts.recordFor?.(entry, { ok: true });
    if (record) changes.push(record);
    // landed: the entry is gone
    await recordOutcome(entry, changes, (cur) => cur === undefined);
  }

  async function pump(): Promise<void> {
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    let claimedLast = false;
    try {
      do {
        again = false;
        if (!running) break;
        const free = concurrency - inFlight.size;
        if (free <= 0) break;
        // Claimed: the store returns none of what is in flight, here or in another instance.
        const due = await store.outboxDue(new Date(now()).toISOString(), free);
        claimedLast = due.length > 0;
        for (const entry of due) {
          if (inFlight.has(entry.id)) {
            logger.error({ outboxId: entry.id }, 'outbox: the store handed out an entry that is being delivered; skipped');
            continue;
          }
          const p = deliverOne(entry)
            .catch((err: unknown) => logger.error({ err, outboxId: entry.id }, 'outbox: a delivery failed unexpectedly'))
            .finally(() => {
              inFlight.delete(entry.id);
              void pump();
            });
          inFlight.set(entry.id, p);
        }
      } while (again);
    } catch (err) {
      logger.error({ err }, 'outbox: could not read due entries');
    } finally {
      pumping = false;
    }
    // Idle: the last look found nothing to claim and nothing is in flight.
    if (inFlight.size === 0 && !claimedLast) for (const w of idleWaiters.splice(0)) w();
  }

  return {
    start() {
      if (running) return;
      running = true;
      timer = setInterval(() => void pump(), pollMs);
      timer.unref();
      void pump();
    },
    async stop() {
      running = false;
      if (timer) clearInterval(timer);
      await Promise.allSettled([...inFlight.values()]);
    },
    kick() {
      void pump();
    },
    async retry(id) {
      const entry = await store.outboxGet(id);
      if (!entry) throw new Error(`No outbox entry ${id}.`);
      await store.commit({ changes: [{ op: 'outbox.update', id, attempts: 0, nextAttemptAt: new Date(now()).toISOString(), state: 'pending' }] });
      void pump();
    },
    async discard(id) {
      const entry = await store.outboxGet(id);
      if (!entry) throw new Error(`No outbox entry ${id}.`);
      await store.commit({ changes: [{ op: 'outbox.remove', id }] });
      void pump();
    },
    idle() {
      return new Promise((resolve) => {
        idleWaiters.push(resolve);
        void pump();
      });
    },
  };
}
