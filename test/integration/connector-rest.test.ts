/**
 * SCIM in, record in the legacy HR API out: a real gateway with a `rest` connector whose
 * password comes from the environment ({"$env": ...}), checked by reading the API's own data.
 * Also: a 429 with Retry-After reaches the outbox's schedule.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { legacyApiConfig } from '../../connectors/rest/legacy-api.fixture.js';
import { GROUP_SCHEMA, PATCH_OP, startTestGateway, user, waitFor, type TestGateway } from '../helpers/gateway.js';
import { startLegacyApi, type LegacyAccount, type LegacyApi } from '../servers/legacy-api.js';

const PASSWORD_ENV = 'SCIM_BRIDGE_SECRET_TEST_LEGACY_API_PASSWORD';
const PASSWORD = 'e2e-Legacy-Pa55!';

let api: LegacyApi;
let gw: TestGateway;

beforeAll(async () => {
  api = await startLegacyApi({ auth: { kind: 'basic', username: 'svc-scim', password: PASSWORD } });
  process.env[PASSWORD_ENV] = PASSWORD;
  gw = await startTestGateway({
    connections: {
      default: {
        policies: { deleteMode: 'hard' },
        connectors: [
          {
            id: 'rest-1',
            type: 'rest',
            config: legacyApiConfig(api.url, { type: 'basic', username: 'svc-scim', password: { $env: PASSWORD_ENV } }),
            // The fixture's templates use the attribute names mail, givenName and sn.
            mapping: { mail: 'emails[type eq "work"].value', sn: 'name.familyName' },
          },
        ],
      },
    },
  });
});
afterAll(async () => {
  await gw?.stop();
  await api?.close();
  delete process.env[PASSWORD_ENV];
});

const byLogin = (login: string): LegacyAccount | undefined => [...api.accounts.values()].find((a) => a.login === login);
const outboxEmpty = async () => (await gw.gateway.store.outboxList()).length === 0;

describe('rest connector end to end (legacy HR API)', () => {
  it('the connector started with its password from the environment', async () => {
    const instance = gw.gateway.connectors.get('rest-1');
    expect(instance, 'connector rest-1 should be running').toBeDefined();
    expect((await instance!.host.test()).ok).toBe(true);
  });

  it('create, update, deactivate, group membership and delete reach the API', async () => {
    const c = gw.client;
    const created = await c.post(
      '/Users',
      user('grace.hopper@example.com', { externalId: 'okta-00u1', name: { givenName: 'Grace', familyName: 'Hopper' }, emails: [{ value: 'grace@example.com', type: 'work', primary: true }] }),
    );
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    await waitFor(() => byLogin('grace.hopper@example.com') !== undefined, 5_000, 'the account in the API');
    expect(byLogin('grace.hopper@example.com')).toMatchObject({ email: 'grace@example.com', first_name: 'Grace', last_name: 'Hopper', external_ref: 'okta-00u1', status: 'active' });
    const accountId = byLogin('grace.hopper@example.com')!.id;
    // The key (the API's numeric id, as text) is linked once the outcome is committed.
    await waitFor(async () => (await gw.gateway.store.linkOf('rest-1', id)) === String(accountId), 5_000, 'the link to the account id');

    await c.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'name.familyName', value: 'Murray Hopper' }] });
    await waitFor(() => api.readAccount(accountId)?.last_name === 'Murray Hopper', 5_000, 'the update in the API');

    await c.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] });
    await waitFor(() => api.readAccount(accountId)?.status === 'disabled', 5_000, 'the deactivation in the API');
    // The deactivation went through the API's action endpoint.
    expect(api.requests.some((r) => r.method === 'POST' && r.path === `/api/v1/accounts/${accountId}/disable`)).toBe(true);

    const group = await c.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Compilers', members: [{ value: id }] });
    expect(group.status).toBe(201);
    await waitFor(() => [...api.teams.values()].some((t) => t.name === 'Compilers' && t.members.has(accountId)), 5_000, 'the team with its member');
    const teamId = [...api.teams.values()].find((t) => t.name === 'Compilers')!.id;
    await waitFor(async () => (await gw.gateway.store.linkOf('rest-1', group.body.id)) === teamId, 5_000, 'the link to the team id');

    expect((await c.delete(`/Users/${id}`)).status).toBe(204);
    await waitFor(() => api.readAccount(accountId) === undefined, 5_000, 'the account deleted from the API');
    await waitFor(outboxEmpty, 5_000, 'an empty outbox');
    expect(api.teams.get(teamId)!.members.size).toBe(0);
    expect((await c.delete(`/Groups/${group.body.id}`)).status).toBe(204);
    await waitFor(() => !api.teams.has(teamId), 5_000, 'the team deleted');
    expect(await gw.gateway.store.outboxList({ state: 'dead' })).toEqual([]);
  });

  it('a 429 with Retry-After schedules the retry no sooner than the API asked', async () => {
    api.setFault({ status: 429, retryAfter: '120', path: /^\/api\/v1\/accounts$/ });
    try {
      const before = Date.now();
      const created = await gw.client.post('/Users', user('rate.limited@example.com'));
      expect(created.status).toBe(201);
      let entry: Awaited<ReturnType<typeof gw.gateway.store.outboxList>>[number] | undefined;
      await waitFor(
        async () => {
          entry = (await gw.gateway.store.outboxList()).find((e) => e.resourceId === created.body.id && e.attempts >= 1);
          return entry !== undefined;
        },
        5_000,
        'a failed first attempt',
      );
      expect(entry!.state).toBe('pending');
      expect(entry!.lastError).toContain('HTTP 429');
      expect(Date.parse(entry!.nextAttemptAt) - before).toBeGreaterThanOrEqual(119_000);
      expect(entry!.lastError).not.toContain(PASSWORD);
    } finally {
      api.setFault(undefined);
    }
  });
});
