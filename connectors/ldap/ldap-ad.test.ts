/**
 * The ldap connector's activeDirectory profile against a real Samba AD domain controller,
 * provisioned once for this file. The conformance kit runs over LDAPS (verified with the run's
 * CA); focused cases check userAccountControl's disabled bit, the derived naming attributes, AD's
 * own member links, and plain LDAP. Skipped, with the reason, only when samba is not installed or
 * AD's fixed LDAP ports are taken on this machine.
 */
import { randomUUID } from 'node:crypto';
import { Attribute, Change, Client, EqualityFilter, type Entry } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConnectorConformance } from '../sdk/conformance.js';
import { createConnectorHost, PermanentError, type ConnectorHost, type TargetUser } from '../sdk/index.js';
import { sambaUnavailable, startSambaAD, type SambaAD } from '../../test/servers/samba-ad.js';
import { createLdapConnector, type LdapConfig } from './index.js';

const unavailable = await sambaUnavailable();
if (unavailable) console.warn(`Active Directory suite skipped: ${unavailable}`);

let ad: SambaAD;

async function withAdmin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const c = await ad.client();
  try {
    return await fn(c);
  } finally {
    await c.unbind();
  }
}

async function readEntry(dn: string): Promise<Entry | undefined> {
  return withAdmin(async (c) => {
    try {
      return (await c.search(dn, { scope: 'base', attributes: ['*'] })).searchEntries[0];
    } catch (err) {
      if ((err as { code?: number }).code === 32) return undefined;
      throw err;
    }
  });
}

function strings(v: Entry[string] | undefined): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
}

const uac = (e: Entry): number => Number(strings(e.userAccountControl)[0]);
const lowercase = (k: string): string => k.toLowerCase();

function adConfig(overrides: Partial<LdapConfig> = {}): Record<string, unknown> {
  return {
    url: ad.ldapsUrl,
    tlsCaFile: ad.certificates.caFile,
    bindDN: ad.adminDN,
    profile: 'activeDirectory',
    users: { baseDN: ad.usersDN },
    groups: { baseDN: ad.groupsDN },
    ...overrides,
  };
}

describe.skipIf(Boolean(unavailable))(`Active Directory profile against Samba AD${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  beforeAll(async () => {
    const started = await startSambaAD();
    if ('skip' in started) throw new Error(`Samba AD became unavailable after the check: ${started.skip}`);
    ad = started;
  }, 120_000);
  afterAll(async () => {
    await ad?.close();
  }, 30_000);

  runConnectorConformance(
    'ldap (Samba AD, userAccountControl, LDAPS)',
    async () => ({
      definition: createLdapConnector(),
      config: adConfig(),
      secrets: { bindPassword: ad.adminPassword },
      wrongSecrets: { bindPassword: 'Not-the-passw0rd' },
      hostLabel: ad.ldapsUrl,
      normalizeKey: lowercase,
      // sAMAccountName holds at most 20 characters, and the kit's rename appends one.
      sampleUser: (n) => {
        const id = randomUUID();
        return { scimId: id, externalId: `ext-${id}`, userName: `k${n}.${id.slice(0, 8)}`, active: true, attributes: { givenName: 'Ada', sn: `Lovelace${n}`, mail: `k${n}.${id.slice(0, 8)}@example.org` } };
      },
    }),
    {
      async readUser(key) {
        const e = await readEntry(key);
        if (!e) return undefined;
        const attributes: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(e)) {
          const list = strings(v);
          if (k !== 'dn' && list.length) attributes[k] = list.length === 1 ? list[0]! : list;
        }
        return { userName: strings(e.sAMAccountName)[0] ?? '', active: (uac(e) & 2) === 0, attributes };
      },
      async readGroup(key) {
        const e = await readEntry(key);
        return e && { displayName: strings(e.cn)[0] ?? '' };
      },
      async readGroupMembers(key) {
        const e = await readEntry(key);
        return e && strings(e.member);
      },
      async countUsers(userName) {
        return withAdmin(async (c) => (await c.search(ad.baseDN, { scope: 'sub', filter: new EqualityFilter({ attribute: 'sAMAccountName', value: userName }), attributes: ['1.1'] })).searchEntries.length);
      },
      stop: () => ad.stop(),
      start: () => ad.start(),
      reset: () => ad.reset(),
    },
  );

  describe('focused cases', () => {
    let host: ConnectorHost<LdapConfig>;
    let n = 0;
    const op = () => `ad-op-${++n}`;
    const person = (userName: string, attributes: TargetUser['attributes'] = {}): TargetUser => ({
      scimId: randomUUID(),
      userName,
      active: true,
      attributes: { givenName: 'Grace', sn: `Hopper${++n}`, ...attributes },
    });
    beforeAll(async () => {
      await ad.start();
      host = await createConnectorHost(createLdapConnector(), { config: adConfig(), secrets: { bindPassword: ad.adminPassword } });
    });
    afterAll(async () => host?.dispose());

    it('userAccountControl: 512 when active, 514 when deactivated, other bits kept', async () => {
      await ad.reset();
      const u = person('grace.h');
      const k = (await host.apply({ kind: 'createUser', operationId: op(), user: u })).key!;
      const e = (await readEntry(k))!;
      expect(uac(e)).toBe(512);
      expect(strings(e.sAMAccountName)).toEqual(['grace.h']);
      expect(strings(e.userPrincipalName)).toEqual(['grace.h@scimtest.local']);
      expect(strings(e.cn)).toEqual([`Grace ${u.attributes.sn}`]);
      // A password was set (AD enables no account without one): pwdLastSet is not 0.
      expect(strings(e.pwdLastSet)[0]).not.toBe('0');
      await host.apply({ kind: 'deactivateUser', operationId: op(), key: k, user: { ...u, active: false } });
      expect(uac((await readEntry(k))!)).toBe(514);
      // DONT_EXPIRE_PASSWORD (0x10000), set by an AD admin, survives deactivate and reactivate.
      await withAdmin((c) => c.modify(k, new Change({ operation: 'replace', modification: new Attribute({ type: 'userAccountControl', values: [String(0x10000 | 514)] }) })));
      await host.apply({ kind: 'reactivateUser', operationId: op(), key: k, user: u });
      expect(uac((await readEntry(k))!)).toBe(0x10000 | 512);
      await host.apply({ kind: 'deactivateUser', operationId: op(), key: k, user: { ...u, active: false } });
      expect(uac((await readEntry(k))!)).toBe(0x10000 | 514);
      const listed = [];
      for await (const entry of host.listUsers()) listed.push(entry);
      expect(listed.map((x) => [x.key.toLowerCase(), x.user.userName, x.user.active])).toEqual([[k.toLowerCase(), 'grace.h', false]]);
    });

    it('a user created inactive starts disabled (514)', async () => {
      await ad.reset();
      const k = (await host.apply({ kind: 'createUser', operationId: op(), user: { ...person('born.off'), active: false } })).key!;
      expect(uac((await readEntry(k))!)).toBe(514);
    });

    it('userNameAttribute userPrincipalName: the email-shaped userName is the UPN, sAMAccountName its local part', async () => {
      await ad.reset();
      const h = await createConnectorHost(createLdapConnector(), {
        config: adConfig({ users: { baseDN: ad.usersDN, userNameAttribute: 'userPrincipalName' } }),
        secrets: { bindPassword: ad.adminPassword },
      });
      try {
        const u = person('ada.lovelace-with-a-long-name@example.org');
        const k = (await h.apply({ kind: 'createUser', operationId: op(), user: u })).key!;
        const e = (await readEntry(k))!;
        expect(strings(e.userPrincipalName)).toEqual(['ada.lovelace-with-a-long-name@example.org']);
        expect(strings(e.sAMAccountName)).toEqual(['ada.lovelace-with-a-']);
        expect((await h.findUser({ userName: 'ada.lovelace-with-a-long-name@example.org' }))?.key.toLowerCase()).toBe(k.toLowerCase());
        expect(await h.findUser({ userName: '*@example.org' })).toBeUndefined();
      } finally {
        await h.dispose();
      }
    });

    it('groups are AD groups with member DNs; a renamed member (CN from displayName) stays linked by AD itself', async () => {
      await ad.reset();
      const u = person('linked.user', { displayName: 'Linked User' });
      const k = (await host.apply({ kind: 'createUser', operationId: op(), user: u })).key!;
      expect(k.toLowerCase()).toBe(`cn=linked user,${ad.usersDN}`.toLowerCase());
      const g = (await host.apply({ kind: 'upsertGroup', operationId: op(), group: { scimId: randomUUID(), displayName: 'Engineers', attributes: {} } })).key!;
      const ge = (await readEntry(g))!;
      expect(strings(ge.objectClass)).toContain('group');
      expect(strings(ge.sAMAccountName)).toEqual(['Engineers']);
      await host.apply({ kind: 'addMembers', operationId: op(), key: g, memberKeys: [k] });
      await host.apply({ kind: 'addMembers', operationId: op(), key: g, memberKeys: [k] });
      const renamed = (await host.apply({ kind: 'updateUser', operationId: op(), key: k, user: { ...u, attributes: { ...u.attributes, displayName: 'Linked User Renamed' } } })).key!;
      expect(renamed.toLowerCase()).toBe(`cn=linked user renamed,${ad.usersDN}`.toLowerCase());
      expect(strings((await readEntry(g))!.member).map(lowercase)).toEqual([renamed.toLowerCase()]);
      await host.apply({ kind: 'removeMembers', operationId: op(), key: g, memberKeys: [renamed] });
      await host.apply({ kind: 'removeMembers', operationId: op(), key: g, memberKeys: [renamed] });
      expect(strings((await readEntry(g))!.member)).toEqual([]);
    });

    it('two users whose CN would collide: the second is a ConflictError, not an update of the first', async () => {
      await ad.reset();
      await host.apply({ kind: 'createUser', operationId: op(), user: person('first.same', { displayName: 'Same Name' }) });
      const err = await host.apply({ kind: 'createUser', operationId: op(), user: person('second.same', { displayName: 'Same Name' }) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentError);
      expect((err as PermanentError).code).toBe('conflict');
      expect((err as Error).message).toContain('belongs to someone else');
    });

    it('plain ldap:// works against this Samba (strong auth off); test() says no TLS', async () => {
      await ad.reset();
      const h = await createConnectorHost(createLdapConnector(), { config: { ...adConfig({ url: ad.url }), tlsCaFile: undefined }, secrets: { bindPassword: ad.adminPassword } });
      try {
        const t = await h.test();
        expect(t).toMatchObject({ ok: true, details: { tls: 'no TLS' } });
        const k = (await h.apply({ kind: 'createUser', operationId: op(), user: person('plain.ldap') })).key!;
        expect(uac((await readEntry(k))!)).toBe(512);
      } finally {
        await h.dispose();
      }
    });

    it('randomPassword: false creates accounts without a password, disabled (514), as AD requires', async () => {
      await ad.reset();
      const h = await createConnectorHost(createLdapConnector(), { config: adConfig({ activeDirectory: { randomPassword: false } }), secrets: { bindPassword: ad.adminPassword } });
      try {
        const k = (await h.apply({ kind: 'createUser', operationId: op(), user: person('no.password') })).key!;
        const e = (await readEntry(k))!;
        expect(uac(e)).toBe(514);
        expect(strings(e.pwdLastSet)).toEqual(['0']);
      } finally {
        await h.dispose();
      }
    });

    it('a wrong password names the bind DN and the URL', async () => {
      const h = await createConnectorHost(createLdapConnector(), { config: adConfig(), secrets: { bindPassword: 'Wr0ng-Passw0rd!' } });
      try {
        expect(await h.test()).toEqual({ ok: false, message: `cannot bind to ${ad.ldapsUrl} as ${ad.adminDN}: invalid credentials (check bindDN and the bind password)` });
      } finally {
        await h.dispose();
      }
    });
  });
});
