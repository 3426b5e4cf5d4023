/** RFC 4514 DN handling and the connector's config resolution: pure functions, no server. */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deactivateSchema, dnsDomainOf, ldapConfigSchema, resolveConfig } from './config.js';
import { escapeDNValue, formatDN, isUnder, normalizeDN, parseDN, parseTemplate, renderTemplate, sameDN, withParent, DnSyntaxError, MissingPlaceholderError } from './dn.js';
import { attributeInMessage } from './errors.js';
import { samAccountNameFrom } from './index.js';

describe('parseDN', () => {
  it('splits RDNs and multi-valued RDNs, unescaping values', () => {
    expect(parseDN('cn=Doe\\, John+uid=jd,ou=people,dc=example,dc=org')).toEqual([
      [
        { type: 'cn', value: 'Doe, John' },
        { type: 'uid', value: 'jd' },
      ],
      [{ type: 'ou', value: 'people' }],
      [{ type: 'dc', value: 'example' }],
      [{ type: 'dc', value: 'org' }],
    ]);
  });

  it('decodes hex pairs as UTF-8 and keeps escaped edge spaces', () => {
    expect(parseDN('cn=J\\C3\\BCrgen\\2C Jr.')[0]).toEqual([{ type: 'cn', value: 'Jürgen, Jr.' }]);
    expect(parseDN('cn=\\ padded\\ ,dc=x')[0]).toEqual([{ type: 'cn', value: ' padded ' }]);
    expect(parseDN('cn = spaced , dc = x')).toEqual([[{ type: 'cn', value: 'spaced' }], [{ type: 'dc', value: 'x' }]]);
    expect(parseDN('cn=😀 emoji')[0]).toEqual([{ type: 'cn', value: '😀 emoji' }]);
    expect(parseDN('')).toEqual([]);
    expect(parseDN('cn=a=b,dc=x')[0]).toEqual([{ type: 'cn', value: 'a=b' }]);
  });

  it('refuses what is not a DN, saying where', () => {
    expect(() => parseDN('no-equals')).toThrow(DnSyntaxError);
    expect(() => parseDN('cn=a"b')).toThrow(/unescaped """/);
    expect(() => parseDN('cn=a\\qb')).toThrow(/bad escape/);
    expect(() => parseDN('cn=a,')).toThrow(/ends with a separator/);
    expect(() => parseDN('c n=a')).toThrow(/bad attribute type/);
  });
});

describe('formatDN / escapeDNValue', () => {
  it('escapes the RFC 4514 specials, a leading # or space, a trailing space, NUL', () => {
    expect(escapeDNValue('Doe, John +"<>;=')).toBe('Doe\\, John \\+\\"\\<\\>\\;\\=');
    expect(escapeDNValue('#1 ')).toBe('\\#1\\ ');
    expect(escapeDNValue(' lead')).toBe('\\ lead');
    expect(escapeDNValue('a\0b')).toBe('a\\00b');
    expect(escapeDNValue('mid # sign')).toBe('mid # sign');
  });

  it('writes a backslash as \\5C, so ldapts cannot split a new DN inside a value', () => {
    const dn = formatDN([[{ type: 'cn', value: 'ends with \\' }], [{ type: 'ou', value: 'people' }]]);
    expect(dn).toBe('cn=ends with \\5C,ou=people');
    // ldapts' modifyDN splits at the first comma not preceded by a backslash.
    expect(dn.slice(0, dn.search(/[^\\],/) + 1)).toBe('cn=ends with \\5C');
  });

  it('round-trips any value through format and parse', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), (value) => {
        const [[ava]] = parseDN(formatDN([[{ type: 'cn', value }]]));
        expect(ava).toEqual({ type: 'cn', value });
      }),
      { numRuns: 500 },
    );
  });
});

describe('normalizeDN, sameDN, isUnder, withParent', () => {
  it('compares case-insensitively, across escape styles and insignificant spaces', () => {
    expect(sameDN('CN=Doe\\, John,OU=People,DC=Example,DC=org', 'cn=doe\\2c john, ou=people, dc=example, dc=org')).toBe(true);
    expect(sameDN('cn=a+uid=b,dc=x', 'uid=b+cn=a,dc=x')).toBe(true);
    expect(sameDN('uid=ada,ou=people', 'uid=ada,ou=disabled')).toBe(false);
    expect(normalizeDN('UID=Ada,OU=People')).toBe('uid=ada,ou=people');
  });

  it('knows subtrees and moves an RDN under another parent', () => {
    expect(isUnder('uid=a,ou=disabled,dc=example,dc=org', 'OU=Disabled,DC=example,DC=org')).toBe(true);
    expect(isUnder('uid=a,ou=people,dc=example,dc=org', 'ou=disabled,dc=example,dc=org')).toBe(false);
    expect(isUnder('dc=org', 'dc=example,dc=org')).toBe(false);
    expect(withParent('cn=Doe\\, J,ou=people,dc=x', 'ou=disabled,dc=x')).toBe('cn=Doe\\, J,ou=disabled,dc=x');
  });
});

describe('DN templates', () => {
  it('substitutes attributes anywhere in a value and escapes them', () => {
    const t = parseTemplate('cn={givenName} {sn},ou=people,dc=example,dc=org');
    expect(t.placeholders).toEqual(['givenName', 'sn']);
    expect(t.rdnTypes).toEqual(['cn']);
    const values: Record<string, string> = { givenName: 'John', sn: 'Doe, Jr.' };
    expect(renderTemplate(t, (a) => values[a])).toBe('cn=John Doe\\, Jr.,ou=people,dc=example,dc=org');
  });

  it('an injection-shaped value stays inside its RDN', () => {
    const dn = renderTemplate(parseTemplate('uid={uid},ou=people,dc=example,dc=org'), () => 'x,ou=admins');
    expect(parseDN(dn)).toHaveLength(4);
    expect(parseDN(dn)[0]).toEqual([{ type: 'uid', value: 'x,ou=admins' }]);
  });

  it('names the attribute a template lacks', () => {
    const t = parseTemplate('uid={uid},ou=people');
    expect(() => renderTemplate(t, () => undefined)).toThrow(MissingPlaceholderError);
    expect(() => renderTemplate(t, () => '')).toThrow(/needs attribute "uid"/);
  });
});

describe('config resolution', () => {
  const parse = (c: unknown) => ldapConfigSchema.parse({ bindPassword: 'x', ...(c as object) });

  it('OpenLDAP defaults: inetOrgPerson, uid RDN, ppolicy lock, placeholder member, references kept by the connector', () => {
    const r = resolveConfig(parse({ url: 'ldap://dir:389', bindDN: 'cn=admin,dc=example,dc=org', users: { baseDN: 'ou=people,dc=example,dc=org' }, groups: { baseDN: 'ou=groups,dc=example,dc=org' } }));
    expect(r.users.template.source).toBe('uid={uid},ou=people,dc=example,dc=org');
    expect(r.users.objectClasses).toEqual(['top', 'person', 'organizationalPerson', 'inetOrgPerson']);
    expect(r.users.filter.toString()).toBe('(objectClass=inetOrgPerson)');
    expect(r.deactivate).toEqual({ method: 'pwdAccountLockedTime' });
    expect(r.groups).toMatchObject({ objectClasses: ['top', 'groupOfNames'], memberAttribute: 'member', emptyMember: 'cn=empty-membership-placeholder' });
    expect(r.updateMemberReferences).toBe(true);
    expect(r.connectMs).toBe(5_000);
  });

  it('Active Directory defaults: user class, CN RDN, sAMAccountName, userAccountControl, UPN suffix from the base', () => {
    const r = resolveConfig(
      parse({ url: ['ldaps://dc1:636', 'ldaps://dc2:636'], bindDN: 'svc-scim@corp.example.org', profile: 'activeDirectory', users: { baseDN: 'OU=Staff,DC=corp,DC=example,DC=org' }, groups: { baseDN: 'OU=Groups,DC=corp,DC=example,DC=org' } }),
    );
    expect(r.urls).toEqual(['ldaps://dc1:636', 'ldaps://dc2:636']);
    expect(r.users.template.source).toBe('CN={cn},OU=Staff,DC=corp,DC=example,DC=org');
    expect(r.users.userNameAttribute).toBe('sAMAccountName');
    expect(r.users.filter.toString()).toBe('(&(objectCategory=person)(objectClass=user))');
    expect(r.deactivate).toEqual({ method: 'userAccountControl' });
    expect(r.groups?.emptyMember).toBeUndefined();
    expect(r.updateMemberReferences).toBe(false);
    expect(r.upnSuffix).toBe('corp.example.org');
    expect(dnsDomainOf('OU=x,DC=a,DC=b')).toBe('a.b');
  });

  it("the README's example configurations are valid", () => {
    const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
    const blocks = [...readme.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!) as Record<string, unknown>);
    const instances = blocks.flatMap((b) =>
      b.connections ? Object.values(b.connections as Record<string, { connectors: Array<Record<string, unknown>> }>).flatMap((c) => c.connectors) : [b],
    );
    expect(instances.length).toBeGreaterThanOrEqual(2);
    const methods = [...readme.matchAll(/`(\{ "method": [^`]*\})`/g)].map((m) => JSON.parse(m[1]!) as unknown);
    expect(methods).toHaveLength(6);
    for (const m of methods) expect(deactivateSchema.safeParse(m).success, JSON.stringify(m)).toBe(true);
    for (const instance of instances) {
      expect(instance.type).toBe('ldap');
      const result = ldapConfigSchema.safeParse({ ...(instance.config as object), bindPassword: 'from-the-keychain' });
      expect(result.error?.issues ?? [], JSON.stringify(instance.config)).toEqual([]);
    }
  });

  it('refuses contradictions with the key named', () => {
    const base = { bindDN: 'cn=a,dc=x', users: { baseDN: 'dc=x' } };
    expect(ldapConfigSchema.safeParse({ ...base, url: 'ldaps://d:636', startTls: true }).error?.issues[0]?.path).toEqual(['startTls']);
    expect(ldapConfigSchema.safeParse({ ...base, url: 'ldap://d', deactivate: { method: 'userAccountControl' } }).error?.issues[0]?.path).toEqual(['deactivate', 'method']);
    expect(ldapConfigSchema.safeParse({ ...base, url: 'http://d' }).success).toBe(false);
    expect(ldapConfigSchema.safeParse({ ...base, url: 'ldap://d', users: { baseDN: 'not a dn' } }).success).toBe(false);
    expect(ldapConfigSchema.safeParse({ ...base, url: 'ldap://d', users: { baseDN: 'dc=x', searchFilter: '(broken' } }).success).toBe(false);
  });
});

describe('helpers', () => {
  it('derives a sAMAccountName AD accepts', () => {
    expect(samAccountNameFrom('ada.lovelace@example.org')).toBe('ada.lovelace');
    expect(samAccountNameFrom('a"b/c\\d[e]f:g;h|i=j,k+l*m?n<o>p')).toBe('a_b_c_d_e_f_g_h_i_j_');
    expect(samAccountNameFrom('x'.repeat(30))).toHaveLength(20);
  });

  it('finds the attribute an LDAP diagnostic talks about', () => {
    expect(attributeInMessage("object class 'inetOrgPerson' requires attribute 'sn'")).toBe('sn');
    expect(attributeInMessage("attribute 'uidNumber' not allowed")).toBe('uidNumber');
    expect(attributeInMessage('mail: value #0 invalid per syntax')).toBe('mail');
    expect(attributeInMessage('modify/add: member: value #0 already exists')).toBe('member');
    expect(attributeInMessage("0000202F: samldb: sAMAccountName contains invalid ':' character")).toBe('sAMAccountName');
    expect(attributeInMessage("samldb: userPrincipalName 'a@b' is already in use")).toBe('userPrincipalName');
  });
});
