/** Every SCIM mutation and connector outcome is in the audit log, scoped to the token; the chain verifies. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { PATCH_OP, startTestGateway, user, waitFor, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ connections: { default: { connectors: [{ id: 'demo-audit', type: 'demo' }] } } });
});
afterAll(async () => gw.stop());

describe('audit of SCIM changes', () => {
  it('records who changed what, with before/after, refusals and connector outcomes; secrets never appear', async () => {
    const c = gw.client;
    const u = (await c.post('/Users', user('audited@example.com', { password: 'Hunter2-secret', title: 'Engineer' }))).body;
    await c.patch(`/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'Lead' }] });
    await c.patch(`/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] });
    expect((await c.post('/Users', user('audited@example.com'))).status).toBe(409);
    await c.delete(`/Users/${u.id}`);
    await waitFor(async () => (await gw.gateway.store.outboxList()).length === 0, 3_000, 'deliveries');

    const tokenId = JSON.parse(runCli(['token', 'list', '--json', '--data-dir', gw.dataDir]).stdout)[0].id;
    // Each record is journaled with its change (one commit) and projected into audit.jsonl right after.
    await waitFor(async () => (await gw.gateway.audit.query({ tokenId, limit: 100 })).records.length === 5, 3_000, 'the audit projection');
    await waitFor(async () => (await gw.gateway.audit.query({ actorKind: 'connector', limit: 100 })).records.length === 4, 3_000, 'the delivery records');
    const page = await gw.gateway.audit.query({ tokenId, limit: 100 });
    // Changes are recorded in commit order (storeSeq); a refusal, which commits nothing, is
    // recorded when it happens and may sit among them.
    const changes = page.records.filter((r) => r.storeSeq !== undefined).reverse();
    expect(changes.map((r) => r.action)).toEqual(['user.create', 'user.update', 'user.deactivate', 'user.delete.soft']);
    expect(changes.map((r) => r.storeSeq)).toEqual([...changes.map((r) => r.storeSeq)].sort((a, b) => a! - b!));
    expect(page.records.filter((r) => r.action === 'scim.post')).toHaveLength(1);
    const update = page.records.find((r) => r.action === 'user.update')!;
    expect(update).toMatchObject({ actor: { kind: 'scim-token', id: tokenId, name: 'test' }, connection: 'default', resource: { type: 'User', id: u.id, display: 'audited@example.com' }, result: 'success' });
    expect(update.changes).toEqual([{ attribute: 'title', before: 'Engineer', after: 'Lead' }]);
    expect(page.records.find((r) => r.action === 'scim.post')).toMatchObject({ result: 'failure', detail: expect.stringMatching(/^409: userName/) });

    const deliveries = await gw.gateway.audit.query({ actorKind: 'connector', limit: 100 });
    expect(deliveries.records.map((r) => r.action).reverse()).toEqual(['connector.createUser', 'connector.updateUser', 'connector.deactivateUser', 'connector.deactivateUser']);

    const file = readFileSync(join(gw.dataDir, 'audit.jsonl'), 'utf8');
    expect(file).not.toContain('Hunter2-secret');
    expect(file).not.toContain(gw.token);
  });

  it('audit verify passes on the file the gateway wrote, and export gives CSV', async () => {
    const verify = runCli(['audit', 'verify', '--data-dir', gw.dataDir]);
    expect(verify.status, verify.stderr + verify.stdout).toBe(0);
    expect(verify.stdout).toMatch(/OK: \d+ records, chain intact/);
    const csv = runCli(['audit', 'export', '--format', 'csv', '--data-dir', gw.dataDir]);
    expect(csv.stdout.split('\n')[0]).toMatch(/seq/);
    expect(csv.stdout).toContain('user.deactivate');
  });
});
