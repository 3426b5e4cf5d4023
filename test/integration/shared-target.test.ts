/**
 * Two IdP tenants (connections) whose ldap connectors write to one real slapd. A tenant must not
 * take over an entry the other one manages by sending its externalId: not when the create is
 * checked at SCIM time, and not at delivery (a connector added after the user existed). The admin
 * sees that the connectors share a target, when saving and on the status page. Every check of the
 * directory searches slapd directly.
 */
import type { Client, Entry } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signInFirstAdmin, type ConsoleClient } from '../helpers/console.js';
import { PATCH_OP, startTestGateway, user, waitFor, type ScimClient, type TestGateway } from '../helpers/gateway.js';
import { startSlapd, type Slapd } from '../servers/slapd.js';

const ENV = 'SCIM_BRIDGE_SECRET_TEST_SHARED_LDAP';
let slapd: Slapd;
let gw: TestGateway;
let admin: Client;
let tenantA: ScimClient;
let tenantB: ScimClient;
let console_: ConsoleClient;

const ldapConfig = () => ({
  url: slapd.url,
  bindDN: slapd.adminDN,
  users: { baseDN: slapd.peopleDN, externalIdAttribute: 'carLicense' },
});

beforeAll(async () => {
  slapd = await startSlapd();
  process.env[ENV] = slapd.adminPassword;
  admin = await slapd.client();
  gw = await startTestGateway({
    connections: {
      'tenant-a': { connectors: [{ id: 'ldap-a', type: 'ldap', config: { ...ldapConfig(), bindPassword: { $env: ENV } } }] },
      'tenant-b': { connectors: [{ id: 'ldap-b', type: 'ldap', config: { ...ldapConfig(), bindPassword: { $env: ENV } } }] },
    },
  });
  tenantA = gw.clientFor('tenant-a');
  tenantB = gw.clientFor('tenant-b');
  console_ = await signInFirstAdmin(gw.gateway);
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await admin?.unbind().catch(() => undefined);
  await slapd?.close();
  delete process.env[ENV];
});

async function entry(uid: string): Promise<Entry | undefined> {
  const found = await admin.search(slapd.peopleDN, { scope: 'one', filter: `(uid=${uid})`, attributes: ['*'] });
  return found.searchEntries[0];
}

const drained = (connector: string) => async () => (await gw.gateway.store.outboxList({ connector, state: 'pending' })).length === 0;

describe('a connection cannot take over an entry another connection manages', () => {
  it('refuses a create that carries the externalId of the other tenant\'s entry, and the entry stays as it was', async () => {
    const ceo = await tenantA.post('/Users', user('ceo', { externalId: 'emp-0001', displayName: 'The CEO' }));
    expect(ceo.status).toBe(201);
    await waitFor(drained('ldap-a'), 10_000, 'the CEO in slapd');
    expect((await entry('ceo'))?.carLicense).toBe('emp-0001');

    const takeover = await tenantB.post('/Users', user('mallory', { externalId: 'emp-0001', displayName: 'Mallory' }));
    expect(takeover.status).toBe(409);
    expect(takeover.body).toMatchObject({ scimType: 'uniqueness' });
    expect(takeover.body.detail).toMatch(/connector "ldap-b".*managed by another connection/);
    // The other tenant's name and its entry's DN are not told to this tenant's IdP.
    expect(takeover.body.detail).not.toMatch(/tenant-a|uid=ceo/);
    expect((await tenantB.get(`/Users?filter=${encodeURIComponent('userName eq "mallory"')}`)).body.totalResults).toBe(0);
    expect(await gw.gateway.store.outboxList({ connector: 'ldap-b' })).toEqual([]);
    const kept = await entry('ceo');
    expect(kept).toMatchObject({ carLicense: 'emp-0001', displayName: 'The CEO' });
    expect(await entry('mallory')).toBeUndefined();
    // Tenant A still manages its CEO.
    expect((await tenantA.patch(`/Users/${ceo.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'Chief' }] })).status).toBe(200);
    await waitFor(async () => (await entry('ceo'))?.title === 'Chief', 10_000, 'tenant A\'s update');
  });

  it('dead-letters the takeover at delivery when the connector was added after the user existed, and warns the admin of the shared target', async () => {
    // Tenant C's user arrives before tenant C has a connector: no target to check it against yet.
    expect((await console_.put('/api/connections/tenant-c', { policies: {} })).status).toBe(201);
    const tenantC = gw.clientFor('tenant-c');
    const eve = await tenantC.post('/Users', user('eve', { externalId: 'emp-0001', displayName: 'Eve' }));
    expect(eve.status).toBe(201);

    // The admin adds an ldap connector on the same directory: the answer says whom it shares it with.
    const saved = await console_.put('/api/connections/tenant-c/connectors/ldap-c', { type: 'ldap', config: { ...ldapConfig(), bindPassword: slapd.adminPassword } });
    expect(saved.status).toBe(201);
    expect(saved.body.connector.state).toBe('running');
    expect(saved.body.warnings).toEqual([expect.stringMatching(/ldap-c.*same target.*ldap-a \(connection tenant-a\).*ldap-b \(connection tenant-b\)/)]);

    // The IdP's next change of Eve reaches the new connector, which finds the CEO by externalId.
    expect((await tenantC.patch(`/Users/${eve.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'Eve 2' }] })).status).toBe(200);
    await waitFor(async () => (await gw.gateway.store.outboxList({ connector: 'ldap-c', state: 'dead' })).length === 1, 15_000, 'the dead letter');
    const [dead] = await gw.gateway.store.outboxList({ connector: 'ldap-c', state: 'dead' });
    expect(dead.lastError).toMatch(/uid=ceo.*linked to a user of connection "tenant-a"/);
    expect(await gw.gateway.store.linkOf('ldap-c', eve.body.id)).toBeUndefined();
    expect(await entry('ceo')).toMatchObject({ carLicense: 'emp-0001', displayName: 'The CEO' });
    expect(await entry('eve')).toBeUndefined();

    // The status page lists the shared target with every connector on it.
    const status = await console_.get('/api/status');
    expect(status.body.sharedTargets).toEqual([
      {
        target: expect.stringMatching(/^ldap:\/\/127\.0\.0\.1:\d+\/dc=example,dc=org$/),
        connectors: [
          { id: 'ldap-a', connection: 'tenant-a' },
          { id: 'ldap-b', connection: 'tenant-b' },
          { id: 'ldap-c', connection: 'tenant-c' },
        ],
        linking: [],
        message: expect.stringMatching(/write to the same target.*Claim protection keeps each connection off the accounts another one manages/),
      },
    ]);
    const connectors = (await console_.get('/api/connectors')).body.connectors as Array<{ id: string; sharedTarget?: unknown }>;
    expect(connectors.find((c) => c.id === 'ldap-c')?.sharedTarget).toMatchObject({ with: [{ id: 'ldap-a', connection: 'tenant-a' }, { id: 'ldap-b', connection: 'tenant-b' }] });
  });
});
