/**
 * The ldap connector against a real slapd (OpenLDAP profile): the conformance kit once per
 * deactivate method (pwdAccountLockedTime over plain LDAP, moveToOU over LDAPS, an attribute over
 * StartTLS), then focused cases: escaping, group references after renames, placeholders, TLS
 * failures, error messages, paging and dry-run. Every check reads slapd directly.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { Client, EqualityFilter, type Entry } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runConnectorConformance } from '../sdk/conformance.js';
import { createConnectorHost, NotFoundError, PermanentError, TransientError, type ConnectorHost, type TargetUser } from '../sdk/index.js';
import { freePort, startSlapd, type Slapd } from '../../test/servers/slapd.js';
import { createLdapConnector, type LdapConfig } from './index.js';

let slapd: Slapd;
beforeAll(async () => {
  slapd = await startSlapd({ tls: true });
}, 60_000);
afterAll(async () => {
  await slapd?.close();
});

// ---- direct reads of slapd, independent of the connector -----------------------------------

async function withAdmin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const c = await slapd.client();
  try {
    return await fn(c);
  } finally {
    await c.unbind();
  }
}

async function readEntry(dn: string): Promise<Entry | undefined> {
  return withAdmin(async (c) => {
    try {
      return (await c.search(dn, { scope: 'base', attributes: ['*', 'pwdAccountLockedTime'] })).searchEntries[0];
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

function attrsOf(e: Entry): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(e)) {
    if (k === 'dn' || k === 'objectClass') continue;
    const list = strings(v);
    if (list.length) out[k] = list.length === 1 ? list[0]! : list;
  }
  return out;
}

const PLACEHOLDER = 'cn=empty-membership-placeholder';

async function members(groupDN: string): Promise<string[] | undefined> {
  const e = await readEntry(groupDN);
  return e && strings(e.member).filter((m) => m.toLowerCase() !== PLACEHOLDER);
}

async function countUid(uid: string): Promise<number> {
  return withAdmin(async (c) => (await c.search(slapd.suffix, { scope: 'sub', filter: new EqualityFilter({ attribute: 'uid', value: uid }), attributes: ['1.1'] })).searchEntries.length);
}

function baseConfig(overrides: Partial<LdapConfig> = {}): Record<string, unknown> {
  return {
    url: slapd.url,
    bindDN: slapd.adminDN,
    users: { baseDN: slapd.peopleDN },
    groups: { baseDN: slapd.groupsDN },
    ...overrides,
  };
}

function target(active: (e: Entry) => boolean) {
  return {
    async readUser(key: string) {
      const e = await readEntry(key);
      return e && { userName: strings(e.uid)[0] ?? '', active: active(e), attributes: attrsOf(e) };
    },
    async readGroup(key: string) {
      const e = await readEntry(key);
      return e && { displayName: strings(e.cn)[0] ?? '' };
    },
    readGroupMembers: members,
    countUsers: countUid,
    stop: () => slapd.stop(),
    start: () => slapd.start(),
    reset: () => slapd.reset(),
  };
}

const lowercase = (k: string): string => k.toLowerCase();

runConnectorConformance(
  'ldap (slapd, pwdAccountLockedTime, plain LDAP)',
  async () => ({
    definition: createLdapConnector(),
    config: baseConfig(),
    secrets: { bindPassword: slapd.adminPassword },
    wrongSecrets: { bindPassword: 'not-the-password' },
    hostLabel: slapd.url,
    normalizeKey: lowercase,
  }),
  target((e) => !strings(e.pwdAccountLockedTime).includes('000001010000Z')),
);

runConnectorConformance(
  'ldap (slapd, moveToOU, LDAPS with a CA file)',
  async () => ({
    definition: createLdapConnector(),
    config: baseConfig({ url: slapd.ldapsUrl!, tlsCaFile: slapd.certificates!.caFile, deactivate: { method: 'moveToOU', disabledBaseDN: slapd.disabledDN } }),
    secrets: { bindPassword: slapd.adminPassword },
    wrongSecrets: { bindPassword: 'not-the-password' },
    hostLabel: slapd.ldapsUrl!,
    normalizeKey: lowercase,
  }),
  target((e) => !e.dn.toLowerCase().endsWith(slapd.disabledDN.toLowerCase())),
);

runConnectorConformance(
  'ldap (slapd, employeeType attribute, StartTLS)',
  async () => ({
    definition: createLdapConnector(),
    config: baseConfig({ startTls: true, tlsCaFile: slapd.certificates!.caFile, deactivate: { method: 'attribute', attribute: 'employeeType', disabledValue: 'disabled' } }),
    secrets: { bindPassword: slapd.adminPassword },
    wrongSecrets: { bindPassword: 'not-the-password' },
    hostLabel: slapd.url,
    normalizeKey: lowercase,
  }),
  target((e) => !strings(e.employeeType).includes('disabled')),
);

// ---- focused cases --------------------------------------------------------------------------

let n = 0;
function person(userName: string, attributes: TargetUser['attributes'] = {}): TargetUser {
  const id = randomUUID();
  return { scimId: id, userName, active: true, attributes: { givenName: 'Test', sn: `Person${++n}`, ...attributes } };
}

async function hostFor(config: Record<string, unknown>, password = slapd.adminPassword): Promise<ConnectorHost<LdapConfig>> {
  return createConnectorHost(createLdapConnector(), { config, secrets: { bindPassword: password } });
}

let seq = 0;
const op = () => `op-${++seq}`;

describe('ldap connector on slapd: focused cases', () => {
  let host: ConnectorHost<LdapConfig>;
  beforeAll(async () => {
    await slapd.start(); // the kit stopped and started it
    host = await hostFor(baseConfig());
  });
  afterAll(async () => host?.dispose());

  it('escapes filter values (RFC 4515) and DN values (RFC 4514): an injection-shaped userName is one literal user', async () => {
    await slapd.reset();
    const other = await host.apply({ kind: 'createUser', operationId: op(), user: person('other.user') });
    const tricky = `o'brien*)(uid=*`;
    const created = await host.apply({ kind: 'createUser', operationId: op(), user: person(tricky) });
    const entry = await readEntry(created.key!);
    expect(strings(entry!.uid)).toEqual([tricky]);
    // A spliced filter would match every user; the escaped one matches exactly this one.
    expect((await host.findUser({ userName: tricky }))?.key.toLowerCase()).toBe(created.key!.toLowerCase());
    expect(await host.findUser({ userName: '*' })).toBeUndefined();
    expect(await host.findUser({ userName: `other.user)(uid=*` })).toBeUndefined();
    expect((await host.findUser({ userName: 'other.user' }))?.key.toLowerCase()).toBe(other.key!.toLowerCase());
    expect(await countUid(tricky)).toBe(1);
  });

  it('a cn full of DN specials stays one RDN value through create, rename and delete', async () => {
    await slapd.reset();
    const h = await hostFor(baseConfig({ users: { baseDN: slapd.peopleDN, dnTemplate: `cn={cn},${slapd.peopleDN}` } }));
    try {
      const cn = `Doe, John +"\\<>; =#x `;
      const user = person('john.doe', { cn });
      const created = await h.apply({ kind: 'createUser', operationId: op(), user });
      const entry = await readEntry(created.key!);
      expect(strings(entry!.cn)).toEqual([cn]);
      expect(strings(entry!.uid)).toEqual(['john.doe']);
      // Only one entry under people: the commas did not create extra RDNs.
      const all = await withAdmin(async (c) => (await c.search(slapd.peopleDN, { scope: 'one', attributes: ['1.1'] })).searchEntries);
      expect(all).toHaveLength(1);
      const renamed = await h.apply({ kind: 'updateUser', operationId: op(), key: created.key!, user: { ...user, attributes: { ...user.attributes, cn: `#Doe\\, Jane ` } } });
      expect(renamed.key).not.toBe(created.key);
      expect(strings((await readEntry(renamed.key!))!.cn)).toEqual([`#Doe\\, Jane `]);
      expect(await readEntry(created.key!)).toBeUndefined();
      await h.apply({ kind: 'deleteUser', operationId: op(), key: renamed.key! });
      expect(await readEntry(renamed.key!)).toBeUndefined();
    } finally {
      await h.dispose();
    }
  });

  it('a rename (userName is the RDN) moves the entry and rewrites group member values without refint', async () => {
    await slapd.reset();
    const a = person('rename.me');
    const created = await host.apply({ kind: 'createUser', operationId: op(), user: a });
    const group = await host.apply({ kind: 'upsertGroup', operationId: op(), group: { scimId: randomUUID(), displayName: 'Renamers', attributes: {} } });
    await host.apply({ kind: 'addMembers', operationId: op(), key: group.key!, memberKeys: [created.key!] });
    const renamed = await host.apply({ kind: 'updateUser', operationId: op(), key: created.key!, user: { ...a, userName: 'renamed.now' } });
    expect(renamed.key!.toLowerCase()).toBe(`uid=renamed.now,${slapd.peopleDN}`);
    expect(strings((await readEntry(renamed.key!))!.uid)).toEqual(['renamed.now']);
    expect(await readEntry(created.key!)).toBeUndefined();
    expect((await members(group.key!))!.map(lowercase)).toEqual([renamed.key!.toLowerCase()]);
    // A retry of the same rename (its result was lost) finds the entry at its new DN.
    const retried = await host.apply({ kind: 'updateUser', operationId: op(), key: created.key!, user: { ...a, userName: 'renamed.now' } });
    expect(retried.key!.toLowerCase()).toBe(renamed.key!.toLowerCase());
  });

  it('moveToOU: deactivate moves to the disabled OU and back, group members follow', async () => {
    await slapd.reset();
    const h = await hostFor(baseConfig({ deactivate: { method: 'moveToOU', disabledBaseDN: slapd.disabledDN } }));
    try {
      const u = person('mover');
      const created = await h.apply({ kind: 'createUser', operationId: op(), user: u });
      const g = await h.apply({ kind: 'upsertGroup', operationId: op(), group: { scimId: randomUUID(), displayName: 'Movers', attributes: {} } });
      await h.apply({ kind: 'addMembers', operationId: op(), key: g.key!, memberKeys: [created.key!] });
      const off = await h.apply({ kind: 'deactivateUser', operationId: op(), key: created.key!, user: { ...u, active: false } });
      expect(off.key!.toLowerCase()).toBe(`uid=mover,${slapd.disabledDN}`);
      expect(await readEntry(created.key!)).toBeUndefined();
      expect((await members(g.key!))!.map(lowercase)).toEqual([off.key!.toLowerCase()]);
      const listed = [];
      for await (const e of h.listUsers()) listed.push(e);
      expect(listed.map((e) => [e.key.toLowerCase(), e.user.active])).toEqual([[off.key!.toLowerCase(), false]]);
      const on = await h.apply({ kind: 'reactivateUser', operationId: op(), key: off.key!, user: u });
      expect(on.key!.toLowerCase()).toBe(created.key!.toLowerCase());
      expect((await members(g.key!))!.map(lowercase)).toEqual([created.key!.toLowerCase()]);
    } finally {
      await h.dispose();
    }
  });

  it('attribute method: employeeType=disabled, restored to the mapped value or the configured one on reactivate', async () => {
    await slapd.reset();
    const mapped = await hostFor(baseConfig({ deactivate: { method: 'attribute', attribute: 'employeeType', disabledValue: 'disabled' } }));
    const fixed = await hostFor(baseConfig({ deactivate: { method: 'attribute', attribute: 'employeeType', disabledValue: 'disabled', enabledValue: 'active' } }));
    try {
      const u = person('contractor', { employeeType: 'contractor' });
      const k = (await mapped.apply({ kind: 'createUser', operationId: op(), user: u })).key!;
      expect(strings((await readEntry(k))!.employeeType)).toEqual(['contractor']);
      await mapped.apply({ kind: 'deactivateUser', operationId: op(), key: k, user: { ...u, active: false } });
      expect(strings((await readEntry(k))!.employeeType)).toEqual(['disabled']);
      // An update while deactivated keeps it deactivated (the desired state includes active=false).
      await mapped.apply({ kind: 'updateUser', operationId: op(), key: k, user: { ...u, active: false, attributes: { ...u.attributes, title: 'Consultant' } } });
      expect(strings((await readEntry(k))!.employeeType)).toEqual(['disabled']);
      await mapped.apply({ kind: 'reactivateUser', operationId: op(), key: k, user: u });
      expect(strings((await readEntry(k))!.employeeType)).toEqual(['contractor']);

      const v = person('plain.staff');
      const k2 = (await fixed.apply({ kind: 'createUser', operationId: op(), user: v })).key!;
      expect(strings((await readEntry(k2))!.employeeType)).toEqual(['active']);
      await fixed.apply({ kind: 'deactivateUser', operationId: op(), key: k2, user: { ...v, active: false } });
      expect(strings((await readEntry(k2))!.employeeType)).toEqual(['disabled']);
      await fixed.apply({ kind: 'reactivateUser', operationId: op(), key: k2, user: v });
      expect(strings((await readEntry(k2))!.employeeType)).toEqual(['active']);
    } finally {
      await mapped.dispose();
      await fixed.dispose();
    }
  });

  it('pwdAccountLockedTime: set to 000001010000Z on deactivate, removed on reactivate; a created-inactive user starts locked', async () => {
    await slapd.reset();
    const u = person('locked.out');
    const k = (await host.apply({ kind: 'createUser', operationId: op(), user: { ...u, active: false } })).key!;
    expect(strings((await readEntry(k))!.pwdAccountLockedTime)).toEqual(['000001010000Z']);
    await host.apply({ kind: 'reactivateUser', operationId: op(), key: k, user: u });
    expect(strings((await readEntry(k))!.pwdAccountLockedTime)).toEqual([]);
    await host.apply({ kind: 'reactivateUser', operationId: op(), key: k, user: u });
  });

  it('groupOfNames: an empty group holds the placeholder, which leaves with the first member and returns with the last', async () => {
    await slapd.reset();
    const g = await host.apply({ kind: 'upsertGroup', operationId: op(), group: { scimId: randomUUID(), displayName: 'Empty at first', attributes: {} } });
    expect(strings((await readEntry(g.key!))!.member)).toEqual([PLACEHOLDER]);
    const a = (await host.apply({ kind: 'createUser', operationId: op(), user: person('member.a') })).key!;
    await host.apply({ kind: 'addMembers', operationId: op(), key: g.key!, memberKeys: [a] });
    expect(strings((await readEntry(g.key!))!.member).map(lowercase)).toEqual([a.toLowerCase()]);
    await host.apply({ kind: 'removeMembers', operationId: op(), key: g.key!, memberKeys: [a] });
    expect(strings((await readEntry(g.key!))!.member)).toEqual([PLACEHOLDER]);
    // Deleting a member takes it out of its groups (no refint overlay here).
    await host.apply({ kind: 'addMembers', operationId: op(), key: g.key!, memberKeys: [a] });
    await host.apply({ kind: 'deleteUser', operationId: op(), key: a });
    expect(strings((await readEntry(g.key!))!.member)).toEqual([PLACEHOLDER]);
    // Renaming the group (displayName is its cn) moves it.
    const renamed = await host.apply({ kind: 'upsertGroup', operationId: op(), key: g.key!, group: { scimId: randomUUID(), displayName: 'Renamed group', attributes: {} } });
    expect(renamed.key!.toLowerCase()).toBe(`cn=renamed group,${slapd.groupsDN}`);
    expect(await readEntry(g.key!)).toBeUndefined();
  });

  it('dry-run shows the exact modifyDN/modify/group change list and writes nothing', async () => {
    await slapd.reset();
    const u = person('dry.run');
    const k = (await host.apply({ kind: 'createUser', operationId: op(), user: u })).key!;
    const g = (await host.apply({ kind: 'upsertGroup', operationId: op(), group: { scimId: randomUUID(), displayName: 'Dry', attributes: {} } })).key!;
    await host.apply({ kind: 'addMembers', operationId: op(), key: g, memberKeys: [k] });
    const before = await readEntry(k);
    const plan = await host.dryRun({ kind: 'updateUser', operationId: op(), key: k, user: { ...u, userName: 'dry.run2', attributes: { ...u.attributes, title: 'Planner' } } });
    expect(plan.detailed).toBe(true);
    expect(plan.requests.map((r) => r.description)).toEqual([
      `LDAP modifyDN ${k} -> uid=dry.run2,${slapd.peopleDN}`,
      `LDAP modify uid=dry.run2,${slapd.peopleDN}`,
      `LDAP modify ${g}`,
    ]);
    expect(plan.requests[1]!.detail).toMatchObject({ changes: [{ operation: 'replace', type: 'title', values: ['Planner'] }] });
    expect(await readEntry(k)).toEqual(before);
    const create = await host.dryRun({ kind: 'createUser', operationId: op(), user: person('not.created') });
    expect(create.requests[0]!.description).toBe(`LDAP add uid=not.created,${slapd.peopleDN}`);
    expect(await countUid('not.created')).toBe(0);
  });

  it('listUsers pages through the directory (RFC 2696) and returns every user once', async () => {
    await slapd.reset();
    const h = await hostFor({ ...baseConfig(), pageSize: 7 });
    const pages = vi.spyOn(Client.prototype, 'searchPaginated');
    try {
      const keys = new Set<string>();
      for (let i = 0; i < 23; i++) keys.add((await h.apply({ kind: 'createUser', operationId: op(), user: person(`paged.${i}`) })).key!.toLowerCase());
      const listed: string[] = [];
      for await (const e of h.listUsers()) listed.push(e.key.toLowerCase());
      expect(listed.sort()).toEqual([...keys].sort());
      expect(pages).toHaveBeenCalledWith(slapd.peopleDN, expect.objectContaining({ paged: { pageSize: 7 } }));
    } finally {
      pages.mockRestore();
      await h.dispose();
    }
  });

  it('findUser by externalId uses the configured attribute; without one it finds nothing', async () => {
    await slapd.reset();
    const h = await hostFor(baseConfig({ users: { baseDN: slapd.peopleDN, externalIdAttribute: 'employeeNumber' } }));
    try {
      const u = { ...person('with.external'), externalId: 'ext-*)(42' };
      const k = (await h.apply({ kind: 'createUser', operationId: op(), user: u })).key!;
      expect(strings((await readEntry(k))!.employeeNumber)).toEqual(['ext-*)(42']);
      expect((await h.findUser({ externalId: 'ext-*)(42' }))?.user).toMatchObject({ userName: 'with.external', externalId: 'ext-*)(42', active: true });
      expect(await h.findUser({ externalId: 'ext-*' })).toBeUndefined();
      expect(await host.findUser({ externalId: 'ext-*)(42' })).toBeUndefined();
    } finally {
      await h.dispose();
    }
  });

  it('updating a user that is gone is NotFoundError; deleting a gone user or group succeeds', async () => {
    await slapd.reset();
    const missing = `uid=nobody,${slapd.peopleDN}`;
    await expect(host.apply({ kind: 'updateUser', operationId: op(), key: missing, user: person('nobody') })).rejects.toBeInstanceOf(NotFoundError);
    expect((await host.apply({ kind: 'deleteUser', operationId: op(), key: missing })).outcome).toBe('already-absent');
    expect((await host.apply({ kind: 'deleteGroup', operationId: op(), key: `cn=nothing,${slapd.groupsDN}` })).outcome).toBe('already-absent');
  });

  it('refusals are PermanentErrors naming the attribute', async () => {
    await slapd.reset();
    const notAllowed = await host.apply({ kind: 'createUser', operationId: op(), user: person('no.posix', { uidNumber: '1000' }) }).catch((e: unknown) => e);
    expect(notAllowed).toBeInstanceOf(PermanentError);
    expect((notAllowed as Error).message).toMatch(/objectClassViolation.*uidNumber/);
    const unknown = await host.apply({ kind: 'createUser', operationId: op(), user: person('no.dept', { department: 'Sales' }) }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(PermanentError);
    expect((unknown as Error).message).toMatch(/department/);
    const syntax = await host.apply({ kind: 'createUser', operationId: op(), user: person('bad.mail', { mail: 'ümlaut@example.org' }) }).catch((e: unknown) => e);
    expect(syntax).toBeInstanceOf(PermanentError);
    expect((syntax as Error).message).toMatch(/invalidAttributeSyntax.*mail/);
    expect((syntax as Error).message).not.toContain(slapd.adminPassword);
  });

  it('a wrong password is a PermanentError naming the bind DN and the host, never the password', async () => {
    const wrong = await hostFor(baseConfig(), 'Wr0ng-Passw0rd!');
    try {
      const err = await wrong.apply({ kind: 'createUser', operationId: op(), user: person('never') }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentError);
      expect((err as PermanentError).code).toBe('ldap_invalid_credentials');
      expect((err as Error).message).toBe(`cannot bind to ${slapd.url} as ${slapd.adminDN}: invalid credentials (check bindDN and the bind password)`);
      const t = await wrong.test();
      expect(t).toMatchObject({ ok: false, message: `cannot bind to ${slapd.url} as ${slapd.adminDN}: invalid credentials (check bindDN and the bind password)` });
      expect(JSON.stringify(t)).not.toContain('Wr0ng-Passw0rd!');
    } finally {
      await wrong.dispose();
    }
  });

  it('test() says what it bound to and which bases it found, or which base is missing', async () => {
    const ok = await host.test();
    expect(ok).toMatchObject({ ok: true, message: `bound to ${slapd.url} as ${slapd.adminDN}; base ${slapd.peopleDN} found; groups base ${slapd.groupsDN} found` });
    const h = await hostFor(baseConfig({ users: { baseDN: `ou=nowhere,${slapd.suffix}` } }));
    try {
      expect(await h.test()).toMatchObject({ ok: false, message: `bound to ${slapd.url} as ${slapd.adminDN}, but base ou=nowhere,${slapd.suffix} does not exist (or ${slapd.adminDN} cannot read it)` });
    } finally {
      await h.dispose();
    }
  });

  it('several URLs: an unreachable first one falls through to the next', async () => {
    const dead = `ldap://127.0.0.1:${await freePort()}`;
    const h = await hostFor(baseConfig({ url: [dead, slapd.url] }));
    try {
      expect((await h.test()).message).toContain(`bound to ${slapd.url}`);
    } finally {
      await h.dispose();
    }
  });
});

describe('ldap connector on slapd: TLS', () => {
  beforeAll(async () => slapd.start());

  it('LDAPS and StartTLS verify the server against tlsCaFile', async () => {
    for (const config of [
      baseConfig({ url: slapd.ldapsUrl!, tlsCaFile: slapd.certificates!.caFile }),
      baseConfig({ startTls: true, tlsCaFile: slapd.certificates!.caFile }),
    ]) {
      const h = await hostFor(config);
      try {
        const t = await h.test();
        expect(t.ok, t.message).toBe(true);
        expect(t.details?.tls).toBe(config.startTls ? 'StartTLS' : 'LDAPS');
      } finally {
        await h.dispose();
      }
    }
  });

  it('a wrong CA, or none, fails test() with a message that says to fix tlsCaFile', async () => {
    const cases = [
      { config: baseConfig({ url: slapd.ldapsUrl!, tlsCaFile: slapd.certificates!.otherCaFile }), expect: `the CA in tlsCaFile ${slapd.certificates!.otherCaFile} did not issue it` },
      { config: baseConfig({ startTls: true, tlsCaFile: slapd.certificates!.otherCaFile }), expect: `the CA in tlsCaFile ${slapd.certificates!.otherCaFile} did not issue it` },
      { config: baseConfig({ url: slapd.ldapsUrl! }), expect: 'set tlsCaFile to the PEM file of the CA' },
      { config: baseConfig({ url: slapd.ldapsUrl!, tlsCaFile: '/nonexistent/ca.pem' }), expect: 'tlsCaFile /nonexistent/ca.pem cannot be read (ENOENT)' },
    ];
    for (const c of cases) {
      const h = await hostFor(c.config);
      try {
        const t = await h.test();
        expect(t.ok).toBe(false);
        expect(t.message).toContain(c.expect);
        expect(t.message).toContain(String(c.config.url));
        // An operation fails the same way, as a PermanentError: retrying will not fix a certificate.
        const err = await h.apply({ kind: 'createUser', operationId: op(), user: person('tls.user') }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(PermanentError);
      } finally {
        await h.dispose();
      }
    }
  });

  it('ldaps:// to the plain port says so (a reset stays retryable: it can also be the network)', async () => {
    const h = await hostFor(baseConfig({ url: slapd.url.replace('ldap:', 'ldaps:'), tlsCaFile: slapd.certificates!.caFile }));
    try {
      const t = await h.test();
      expect(t.ok).toBe(false);
      expect(t.message).toContain(`cannot connect to ${slapd.url.replace('ldap:', 'ldaps:')}`);
      expect(t.message).toContain('is this port plain LDAP?');
    } finally {
      await h.dispose();
    }
  });

  it('rejectUnauthorized: false connects without a CA (lab use)', async () => {
    const h = await hostFor(baseConfig({ url: slapd.ldapsUrl!, rejectUnauthorized: false }));
    try {
      expect((await h.test()).ok).toBe(true);
    } finally {
      await h.dispose();
    }
  });
});

describe('ldap connector: a server that accepts but never answers', () => {
  let silent: Server;
  let port: number;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    port = await freePort();
    silent = createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => silent.listen(port, '127.0.0.1', () => r()));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  });

  it('times out as a TransientError, and test() names the URL and the wait', async () => {
    const url = `ldap://127.0.0.1:${port}`;
    const h = await hostFor({ url, bindDN: 'cn=admin,dc=example,dc=org', users: { baseDN: 'ou=people,dc=example,dc=org' }, timeouts: { connectMs: 300, operationMs: 300 } });
    try {
      const started = Date.now();
      const err = await h.apply({ kind: 'createUser', operationId: op(), user: person('slow') }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransientError);
      expect(Date.now() - started).toBeLessThan(3_000);
      const t = await h.test();
      expect(t.ok).toBe(false);
      expect(t.message).toContain(url);
    } finally {
      await h.dispose();
    }
  });
});
