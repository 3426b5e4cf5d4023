/**
 * SCIM in, entry in slapd out: a real gateway with the built-in `ldap` connector (bind password
 * from the environment through `{"$env": ...}`), fed over HTTP, checked by searching slapd
 * directly. Create, rename by userName (uid is the RDN), deactivate by active:false, a group with
 * members, a member removed, and a hard delete that also leaves the group.
 */
import { Client, type Entry } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP_SCHEMA, PATCH_OP, startTestGateway, user, waitFor, type TestGateway } from '../helpers/gateway.js';
import { startSlapd, type Slapd } from '../servers/slapd.js';

const ENV = 'SCIM_BRIDGE_SECRET_TEST_LDAP_BIND_PASSWORD';
let slapd: Slapd;
let gw: TestGateway;
let admin: Client;

beforeAll(async () => {
  slapd = await startSlapd();
  process.env[ENV] = slapd.adminPassword;
  admin = await slapd.client();
  gw = await startTestGateway({
    connections: {
      default: {
        policies: { deleteMode: 'hard' },
        connectors: [
          {
            id: 'ldap-1',
            type: 'ldap',
            config: {
              url: slapd.url,
              bindDN: slapd.adminDN,
              bindPassword: { $env: ENV },
              users: { baseDN: slapd.peopleDN },
              groups: { baseDN: slapd.groupsDN },
            },
            mapping: { employeeType: { const: 'scim' } },
          },
        ],
      },
    },
  });
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await admin?.unbind().catch(() => undefined);
  await slapd?.close();
  delete process.env[ENV];
});

async function entry(dn: string): Promise<Entry | undefined> {
  try {
    return (await admin.search(dn, { scope: 'base', attributes: ['*', 'pwdAccountLockedTime'] })).searchEntries[0];
  } catch (err) {
    if ((err as { code?: number }).code === 32) return undefined;
    throw err;
  }
}

function values(e: Entry | undefined, attr: string): string[] {
  const v = e?.[attr];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

const people = (uid: string) => `uid=${uid},${slapd.peopleDN}`;

async function outboxSettled(): Promise<void> {
  await waitFor(async () => (await gw.gateway.store.outboxList()).length === 0, 10_000, 'the outbox to drain');
  expect(await gw.gateway.store.outboxList({ state: 'dead' })).toEqual([]);
}

describe('SCIM -> ldap connector -> slapd', () => {
  it('creates, renames, deactivates, groups and deletes, each visible in the directory', async () => {
    const c = gw.client;
    const created = await c.post(
      '/Users',
      user('ada.lovelace', {
        externalId: 'okta-00u1',
        name: { givenName: 'Ada', familyName: 'Lovelace' },
        emails: [{ value: 'ada@example.org', type: 'work', primary: true }],
        title: 'Analyst',
      }),
    );
    expect(created.status).toBe(201);
    const ada = created.body.id as string;
    await waitFor(async () => (await entry(people('ada.lovelace'))) !== undefined, 10_000, 'ada in slapd');
    const e = await entry(people('ada.lovelace'));
    expect(values(e, 'cn')).toEqual(['Ada Lovelace']);
    expect(values(e, 'sn')).toEqual(['Lovelace']);
    expect(values(e, 'givenName')).toEqual(['Ada']);
    expect(values(e, 'mail')).toEqual(['ada@example.org']);
    expect(values(e, 'title')).toEqual(['Analyst']);
    expect(values(e, 'employeeType')).toEqual(['scim']);
    expect(values(e, 'objectClass')).toContain('inetOrgPerson');
    // The entry is visible in slapd a moment before the gateway records the link: wait for the delivery.
    await outboxSettled();
    expect((await gw.gateway.store.linkOf('ldap-1', ada))?.toLowerCase()).toBe(people('ada.lovelace'));

    // userName is the RDN (uid): a PATCH of userName renames the entry and re-links the key.
    await c.patch(`/Users/${ada}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'userName', value: 'ada.byron' }] });
    await waitFor(async () => (await entry(people('ada.byron'))) !== undefined, 10_000, 'the renamed entry');
    expect(await entry(people('ada.lovelace'))).toBeUndefined();
    await outboxSettled();
    expect((await gw.gateway.store.linkOf('ldap-1', ada))?.toLowerCase()).toBe(people('ada.byron'));

    const bob = (await c.post('/Users', user('bob', { name: { givenName: 'Bob', familyName: 'Builder' } }))).body.id as string;
    const group = await c.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Engineers', members: [{ value: ada }, { value: bob }] });
    expect(group.status).toBe(201);
    const groupDN = `cn=Engineers,${slapd.groupsDN}`;
    await waitFor(async () => values(await entry(groupDN), 'member').length === 2, 10_000, 'the group with two members');
    expect(values(await entry(groupDN), 'member').map((m) => m.toLowerCase()).sort()).toEqual([people('ada.byron'), people('bob')]);

    await c.patch(`/Groups/${group.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${bob}"]` }] });
    await waitFor(async () => values(await entry(groupDN), 'member').length === 1, 10_000, 'bob out of the group');
    expect(values(await entry(groupDN), 'member').map((m) => m.toLowerCase())).toEqual([people('ada.byron')]);

    // Entra sends active as a string: the gateway normalises it; ppolicy locks the account.
    await c.patch(`/Users/${ada}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] });
    await waitFor(async () => values(await entry(people('ada.byron')), 'pwdAccountLockedTime').length === 1, 10_000, 'the lock');
    expect(values(await entry(people('ada.byron')), 'pwdAccountLockedTime')).toEqual(['000001010000Z']);
    await c.patch(`/Users/${ada}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: true }] });
    await waitFor(async () => values(await entry(people('ada.byron')), 'pwdAccountLockedTime').length === 0, 10_000, 'the unlock');

    // Hard delete: the entry goes, and the group keeps groupOfNames' placeholder member.
    expect((await c.delete(`/Users/${ada}`)).status).toBe(204);
    await waitFor(async () => (await entry(people('ada.byron'))) === undefined, 10_000, 'the deletion');
    await outboxSettled();
    expect(values(await entry(groupDN), 'member')).toEqual(['cn=empty-membership-placeholder']);
    expect(await entry(people('bob'))).toBeDefined();

    // Reconciliation reads the directory with a paged search: keys and values match the store.
    const report = await gw.gateway.reconcile('ldap-1');
    expect(report).toMatchObject({ checked: 1, missing: [], extra: [], different: [] });
  });
});
