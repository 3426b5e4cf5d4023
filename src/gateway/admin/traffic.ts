/**
 * Requests per minute and errors per connection over the last hour, for the status page's chart:
 * an in-memory ring of per-minute counters fed by the SCIM listener's onResponse hook. Nothing is
 * persisted (a restart starts a new hour), and nothing secret is kept: no tokens, no bodies.
 */
import type { LastRequest, TrafficPoint } from './api-types.js';

export const TRAFFIC_MINUTES = 60;

/** What the recorder needs from a SCIM response (scim/http.ts RequestOutcome). */
export interface ScimOutcome {
  method: string;
  path: string;
  status: number;
  connection?: string;
  tokenName?: string;
  detail?: string;
}

interface Slot {
  minute: number;
  requests: number;
  errors: number;
}

/** A lookup that finds nothing (GET of a deleted id) is normal traffic; every other 4xx/5xx is an error. */
export function isErrorOutcome(o: Pick<ScimOutcome, 'method' | 'status'>): boolean {
  return o.status >= 400 && !(o.status === 404 && o.method === 'GET');
}

class Ring {
  readonly slots: Slot[] = Array.from({ length: TRAFFIC_MINUTES }, () => ({ minute: -1, requests: 0, errors: 0 }));

  add(minute: number, error: boolean): void {
    const slot = this.slots[minute % TRAFFIC_MINUTES];
    if (slot.minute !== minute) {
      slot.minute = minute;
      slot.requests = 0;
      slot.errors = 0;
    }
    slot.requests++;
    if (error) slot.errors++;
  }

  series(now: number): TrafficPoint[] {
    const out: TrafficPoint[] = [];
    for (let m = now - TRAFFIC_MINUTES + 1; m <= now; m++) {
      const slot = this.slots[m % TRAFFIC_MINUTES];
      const live = slot.minute === m;
      out.push({ minute: new Date(m * 60_000).toISOString(), requests: live ? slot.requests : 0, errors: live ? slot.errors : 0 });
    }
    return out;
  }
}

export class TrafficRecorder {
  private readonly total = new Ring();
  private readonly byConnection = new Map<string, Ring>();
  private readonly last = new Map<string, LastRequest>();
  /** The last request refused for want of a valid token: no connection to file it under. */
  lastUnauthenticated?: LastRequest;

  constructor(private readonly now: () => number = Date.now) {}

  record(o: ScimOutcome): void {
    const t = this.now();
    const minute = Math.floor(t / 60_000);
    const error = isErrorOutcome(o);
    this.total.add(minute, error);
    const last: LastRequest = { at: new Date(t).toISOString(), method: o.method, path: o.path, status: o.status };
    if (o.detail && o.status >= 400) last.detail = o.detail.slice(0, 500);
    if (!o.connection) {
      this.lastUnauthenticated = last;
      return;
    }
    if (o.tokenName) last.tokenName = o.tokenName;
    let ring = this.byConnection.get(o.connection);
    if (!ring) this.byConnection.set(o.connection, (ring = new Ring()));
    ring.add(minute, error);
    this.last.set(o.connection, last);
  }

  /** The last hour, oldest minute first; all connections when none is named. */
  series(connection?: string): TrafficPoint[] {
    const minute = Math.floor(this.now() / 60_000);
    const ring = connection === undefined ? this.total : this.byConnection.get(connection);
    return (ring ?? new Ring()).series(minute);
  }

  lastRequest(connection: string): LastRequest | undefined {
    return this.last.get(connection);
  }
}
