/** SCIM request in, change visible in a connector: the whole path through the outbox, over HTTP. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP_SCHEMA, PATCH_OP, startTestGateway, user, waitFor, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({
    connections: {
      default: {
        connectors: [{ id: 'demo-1', type: 'demo', mapping: { mail: { path: 'userName', transform: 'lowercase' }, source: { const: 'scim-bridge' } } }],
      },
      hard: { policies: { deleteMode: 'hard' }, connectors: [{ id: 'demo-hard', type: 'demo' }] },
    },
  });
});
afterAll(async () => gw.stop());

async function targetUsers() {
  const out: Array<{ key: string; user: any }> = [];
  for await (const e of gw.gateway.connectors.get('demo-1')!.host.listUsers()) out.push(e as { key: string; user: any });
  return out;
}
async function outboxEmpty() {
  return (await gw.gateway.store.outboxList()).length === 0;
}

describe('provisioning end to end (demo connector)', () => {
  it('creates, updates, deactivates, reactivates and deletes in the target, with the mapping applied', async () => {
    const c = gw.client;
    const u = (await c.post('/Users', user('Ada.Lovelace@Example.com', { name: { givenName: 'Ada', familyName: 'Lovelace' }, emails: [{ value: 'ada@example.com', type: 'work', primary: true }] }))).body;
    await waitFor(async () => (await targetUsers()).length === 1, 3_000, 'the user in the target');
    let [entry] = await targetUsers();
    expect(entry.user).toMatchObject({ userName: 'Ada.Lovelace@Example.com', active: true });
    expect(entry.user.attributes).toMatchObject({ givenName: 'Ada', familyName: 'Lovelace', email: 'ada@example.com', mail: 'ada.lovelace@example.com', source: 'scim-bridge', role: 'member' });

    await c.patch(`/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] });
    await waitFor(async () => (await targetUsers())[0]?.user.active === false, 3_000, 'deactivation in the target');
    await c.patch(`/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: true, title: 'Countess' } }] });
    await waitFor(async () => (await targetUsers())[0]?.user.active === true, 3_000, 'reactivation in the target');
    [entry] = await targetUsers();
    expect(await gw.gateway.store.linkOf('demo-1', u.id)).toBe(entry.key);

    // The default delete is soft: the account stays in the target, deactivated; SCIM answers 404.
    await c.delete(`/Users/${u.id}`);
    await waitFor(outboxEmpty, 3_000, 'an empty outbox');
    expect((await targetUsers()).map((e) => e.user.active)).toEqual([false]);
    expect((await c.get(`/Users/${u.id}`)).status).toBe(404);
  });

  it('an attribute removed in the IdP is cleared in the target (sent as null)', async () => {
    const c = gw.client;
    const u = (await c.post('/Users', user('cleared@example.com', { title: 'Engineer' }))).body;
    const find = async () => (await targetUsers()).find((e) => e.user.userName === 'cleared@example.com');
    await waitFor(async () => (await find())?.user.attributes.title === 'Engineer', 3_000, 'the title in the target');
    await c.patch(`/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'title' }] });
    await waitFor(async () => (await find())?.user.attributes.title === null, 3_000, 'the title cleared in the target');
  });

  it('a connector added after users and groups exist picks them up on their next change', async () => {
    const late = gw.clientFor('late');
    const u = (await late.post('/Users', user('before-connector@example.com'))).body;
    const g = (await late.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Early Group' })).body;
    await gw.gateway.connections.upsert('late', { connectors: [{ id: 'demo-late', type: 'demo' }] });
    const host = () => gw.gateway.connectors.get('demo-late')!.host;
    await late.patch(`/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'Now provisioned' }] });
    await late.patch(`/Groups/${g.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: u.id }] }] });
    await waitFor(outboxEmpty, 5_000, 'the late deliveries');
    const users: any[] = [];
    for await (const e of host().listUsers()) users.push(e);
    expect(users.map((e) => [e.user.userName, e.user.attributes.title])).toEqual([['before-connector@example.com', 'Now provisioned']]);
    expect(await gw.gateway.store.linkOf('demo-late', g.id)).toBeTruthy();
    expect(await gw.gateway.store.outboxList({ state: 'dead' })).toEqual([]);
  });

  it('deleting a user takes it out of its groups in the target too', async () => {
    const c = gw.client;
    const u = (await c.post('/Users', user('member-leaving@example.com'))).body;
    const g = (await c.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Leavers', members: [{ value: u.id }] })).body;
    await waitFor(outboxEmpty, 3_000, 'the group with its member');
    expect((await c.delete(`/Users/${u.id}`)).status).toBe(204);
    await waitFor(outboxEmpty, 3_000, 'the delete');
    await waitFor(async () => (await gw.gateway.audit.query({ action: 'connector.removeMembers', resourceId: g.id, limit: 5 })).records.length === 1, 3_000, 'the removal in the audit log');
    const [removal] = (await gw.gateway.audit.query({ action: 'connector.removeMembers', resourceId: g.id, limit: 5 })).records;
    expect(removal).toMatchObject({ result: 'success', actor: { kind: 'connector', id: 'demo-1' } });
    expect(await gw.gateway.store.outboxList({ state: 'dead' })).toEqual([]);
  });

  it('with deleteMode hard, DELETE removes the account from the target', async () => {
    const hard = gw.clientFor('hard');
    const u = (await hard.post('/Users', user('gone@example.com'))).body;
    const target = async () => {
      const out: unknown[] = [];
      for await (const e of gw.gateway.connectors.get('demo-hard')!.host.listUsers()) out.push(e);
      return out.length;
    };
    await waitFor(async () => (await target()) === 1, 3_000, 'the user in the target');
    expect((await hard.delete(`/Users/${u.id}`)).status).toBe(204);
    await waitFor(async () => (await target()) === 0, 3_000, 'deletion in the target');
    expect(await gw.gateway.store.deleted('hard', 'User')).toEqual([]);
  });

  it('groups and membership reach the target without dead letters, whatever the delivery order', async () => {
    const c = gw.client;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await c.post('/Users', user(`member${i}@example.com`))).body.id);
    const g = (await c.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Engineers', members: ids.map((value) => ({ value })) })).body;
    await c.patch(`/Groups/${g.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'members', value: [{ value: ids[0] }] }] });
    await waitFor(outboxEmpty, 5_000, 'the outbox to drain');
    expect(await gw.gateway.store.outboxList({ state: 'dead' })).toEqual([]);
    expect(await gw.gateway.store.linkOf('demo-1', g.id)).toBeTruthy();
    const ready = await (await fetch(`${gw.gateway.adminUrl}/readyz`)).json();
    expect(ready.outbox).toEqual({ pending: 0, dead: 0 });
  });
});
