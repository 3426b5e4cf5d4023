/**
 * A delivery ledger: a tiny HTTP target for the `rest` connector that records every call it gets
 * (which operation id, which gateway instance, what was sent), for tests that count deliveries
 * (exactly once, order per resource) while the gateway's database or its instances fail.
 *
 * The gateway's rest connector is configured with `ledgerConnector(ledger.url, instance)`: users
 * live under `/users`, the key of a user is its SCIM id, every call carries the operation id and
 * the instance name in headers. `delayMs` holds each answer (deliveries stay in flight longer).
 * It listens on 127.0.0.1 on a free port.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LedgerCall {
  operationId: string;
  instance: string;
  method: string;
  path: string;
  /** The user's SCIM id (the key). */
  scimId: string;
  title: string | null;
  active: boolean | null;
  at: number;
}

export interface DeliveryLedger {
  readonly url: string;
  readonly calls: LedgerCall[];
  /** Holds every answer this long (default 0). */
  delayMs: number;
  /** Calls per operation id. */
  byOperation(): Map<string, LedgerCall[]>;
  /** Operation ids that arrived more than once. */
  duplicates(): LedgerCall[][];
  close(): Promise<void>;
}

export async function startDeliveryLedger(): Promise<DeliveryLedger> {
  const calls: LedgerCall[] = [];
  const ledger = {
    delayMs: 0,
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const parsed = body ? (JSON.parse(body) as { scimId?: string; title?: string | null; active?: boolean }) : {};
    const path = (req.url ?? '/').split('?')[0];
    const scimId = parsed.scimId ?? decodeURIComponent(path.split('/')[2] ?? '');
    calls.push({
      operationId: String(req.headers['x-operation-id'] ?? ''),
      instance: String(req.headers['x-instance'] ?? ''),
      method: req.method ?? '',
      path,
      scimId,
      title: typeof parsed.title === 'string' ? parsed.title : null,
      active: typeof parsed.active === 'boolean' ? parsed.active : null,
      at: Date.now(),
    });
    if (ledger.delayMs > 0) await new Promise((r) => setTimeout(r, ledger.delayMs));
    res.writeHead(req.method === 'POST' && path === '/users' ? 201 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: scimId }));
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      res.writeHead(400).end();
    });
  });
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(ledger, {
    url: `http://127.0.0.1:${port}`,
    calls,
    byOperation() {
      const map = new Map<string, LedgerCall[]>();
      for (const c of calls) map.set(c.operationId, [...(map.get(c.operationId) ?? []), c]);
      return map;
    },
    duplicates() {
      return [...this.byOperation().values()].filter((list) => list.length > 1);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

/** A `rest` connector definition (for a connection's `connectors` list) that writes into the ledger. */
export function ledgerConnector(url: string, instance: string, id = 'ledger'): Record<string, unknown> {
  const user = { scimId: '{{scimId}}', userName: '{{userName}}', title: '{{attributes.title}}', active: '{{active}}' };
  return {
    id,
    type: 'rest',
    config: {
      baseUrl: url,
      headers: { 'X-Operation-Id': '{{operationId}}', 'X-Instance': instance },
      timeoutMs: 20_000,
      operations: {
        createUser: { method: 'POST', url: '/users', body: user, key: { from: 'body', path: '/id' } },
        updateUser: { method: 'PUT', url: '/users/{{key}}', body: user },
        deactivateUser: { method: 'PUT', url: '/users/{{key}}', body: user },
        reactivateUser: { method: 'PUT', url: '/users/{{key}}', body: user },
        deleteUser: { method: 'DELETE', url: '/users/{{key}}' },
      },
    },
    mapping: { title: 'title' },
  };
}
