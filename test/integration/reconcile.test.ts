/** Reconciliation against the demo connector: drift reported exactly, repaired through the outbox. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, user, waitFor, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ connections: { default: { connectors: [{ id: 'demo-r', type: 'demo' }] } } });
});
afterAll(async () => gw.stop());

const drained = () => waitFor(async () => (await gw.gateway.store.outboxList()).length === 0, 3_000, 'the outbox to drain');

describe('reconciliation', () => {
  it('reports missing, extra and different accounts, repairs what it manages, and leaves the rest alone', async () => {
    const c = gw.client;
    const ids: string[] = [];
    for (const name of ['keep', 'vanish', 'tampered']) ids.push((await c.post('/Users', user(`${name}@example.com`, { title: 'Engineer' }))).body.id);
    await drained();
    expect(await gw.gateway.reconcile('demo-r')).toMatchObject({ checked: 3, missing: [], extra: [], different: [] });

    // Someone changes the target behind the gateway's back.
    const host = gw.gateway.connectors.get('demo-r')!.host;
    const keyOf = (id: string) => gw.gateway.store.linkOf('demo-r', id) as Promise<string>;
    await host.apply({ kind: 'deleteUser', operationId: 'manual-1', key: await keyOf(ids[1]) });
    await host.apply({
      kind: 'updateUser',
      operationId: 'manual-2',
      key: await keyOf(ids[2]),
      user: { scimId: ids[2], userName: 'tampered@example.com', active: false, attributes: { title: 'Intern' } },
    });
    await host.apply({ kind: 'createUser', operationId: 'manual-3', user: { scimId: 'not-ours', userName: 'local-admin', active: true, attributes: {} } });

    const report = await gw.gateway.reconcile('demo-r');
    expect(report.missing).toEqual([{ scimId: ids[1], userName: 'vanish@example.com' }]);
    expect(report.different).toEqual([{ scimId: ids[2], key: await keyOf(ids[2]), attributes: ['active', 'title'] }]);
    expect(report.extra).toEqual([expect.objectContaining({ userName: 'local-admin' })]);
    expect(report.repaired).toBe(0);
    expect(gw.gateway.reconciliations.get('demo-r')).toEqual(report);

    const repair = await gw.gateway.reconcile('demo-r', true);
    expect(repair.repaired).toBe(2);
    await drained();
    const after = await gw.gateway.reconcile('demo-r');
    expect(after).toMatchObject({ missing: [], different: [] });
    expect(after.extra).toHaveLength(1); // never touched: the gateway does not manage it

    await waitFor(async () => (await gw.gateway.audit.query({ action: 'connector.reconcile', limit: 10 })).records.length === 4, 3_000, 'reconciliation audit records');
  });
});
