/** Prometheus metrics on the admin listener, fed by real SCIM traffic and deliveries. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, user, waitFor, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ metricsToken: 'scrape-token-0123456789', connections: { default: { connectors: [{ id: 'demo-m', type: 'demo' }] } } });
});
afterAll(async () => gw.stop());

const scrape = (auth?: string) => fetch(`${gw.gateway.adminUrl}/metrics`, auth ? { headers: { Authorization: auth } } : {});

describe('/metrics', () => {
  it('counts SCIM requests by resource and status, deliveries per connector, and reports the outbox and connectors', async () => {
    const u = (await gw.client.post('/Users', user('metrics@example.com'))).body;
    await gw.client.get(`/Users/${u.id}`);
    await gw.client.get('/Users/does-not-exist');
    await gw.client.post('/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'] });
    await waitFor(async () => (await gw.gateway.store.outboxList()).length === 0, 3_000, 'the delivery');

    const res = await scrape('Bearer scrape-token-0123456789');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('scim_bridge_scim_requests_total{method="POST",resource="Users",status="201",connection="default"} 1');
    expect(text).toContain('scim_bridge_scim_requests_total{method="GET",resource="Users",status="404",connection="default"} 1');
    expect(text).toContain('scim_bridge_scim_requests_total{method="POST",resource="Users",status="400",connection="default"} 1');
    expect(text).toMatch(/scim_bridge_scim_request_duration_seconds_count\{method="POST",resource="Users"\} 2/);
    expect(text).toContain('scim_bridge_connector_deliveries_total{connector="demo-m",result="success"} 1');
    expect(text).toContain('scim_bridge_connector_up{connector="demo-m",connection="default"} 1');
    expect(text).toContain('scim_bridge_users 1');
    expect(text).toContain('scim_bridge_outbox_pending 0');
    expect(text).toMatch(/^scim_bridge_store_compactions_total \d+$/m);
    expect(text).toContain('scim_bridge_audit_records_lost_total 0');
    expect(text).toContain('scim_bridge_audit_records_left_out_total 0');
    expect(text).toContain('scim_bridge_audit_behind 0');
    expect(text).toContain('scim_bridge_process_resident_memory_bytes');
    expect(text).not.toContain(u.id); // ids never become labels
  });

  it('requires the metrics token when one is configured', async () => {
    expect((await scrape()).status).toBe(401);
    expect((await scrape('Bearer wrong-token-0123456789')).status).toBe(401);
  });
});
