/**
 * The `ldap` connector: provisions users and groups into OpenLDAP or Active Directory over
 * ldapts. DNs come from templates (RFC 4514 escaped), searches use filter objects (values are
 * never spliced into filter strings), every write sends the desired state, and the change list
 * that preview() shows is the one that is sent.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { AndFilter, Attribute, Change, Client, EqualityFilter, type ClientOptions, type Entry, type Filter } from 'ldapts';
import {
  AlreadyExistsError,
  ConflictError,
  ConnectorError,
  NotFoundError,
  PermanentError,
  TransientError,
  defineConnector,
  type Connector,
  type ConnectorDefinition,
  type ConnectorLogger,
  type ConnectorManifest,
  type ConnectorOperation,
  type InitContext,
  type KeyResult,
  type OperationContext,
  type Preview,
  type PreviewRequest,
  type SecretReader,
  type TargetEntry,
  type TargetGroup,
  type TargetKey,
  type TargetUser,
  type TargetValue,
  type TestResult,
  type UserQuery,
} from '../sdk/index.js';
import { ldapConfigSchema, ldapTargetIdentity, PROFILE_MAPPING, resolveConfig, SHARED_MAPPING, type LdapConfig, type ResolvedConfig } from './config.js';
import { isUnder, MissingPlaceholderError, normalizeDN, parseDN, renderTemplate, sameDN, withParent } from './dn.js';
import { connectFailure, LDAP, operationFailure, resultCode, type ConnectStep, type ErrorContext } from './errors.js';

export { ldapConfigSchema, PROFILE_MAPPING, type LdapConfig } from './config.js';
export { escapeDNValue, formatDN, normalizeDN, parseDN, sameDN } from './dn.js';

/** pwdAccountLockedTime value that ppolicy reads as "locked until an administrator unlocks". */
export const PERMANENT_LOCK = '000001010000Z';
/** userAccountControl: ACCOUNTDISABLE (0x2) and NORMAL_ACCOUNT (0x200). */
const UAC_DISABLED = 0x2;
const UAC_NORMAL = 0x200;

/** Attributes the connector owns: a mapping cannot set them. */
const MANAGED = new Set(['objectclass', 'userpassword', 'unicodepwd', 'useraccountcontrol', 'pwdaccountlockedtime', 'distinguishedname', 'name', 'memberof', 'dn']);
/** Never returned by listUsers/findUser. */
const HIDDEN = new Set([...MANAGED, 'member']);

const manifest: ConnectorManifest<LdapConfig> = {
  type: 'ldap',
  displayName: 'LDAP / Active Directory',
  version: '1.0.0',
  description:
    'Provisions users and groups into OpenLDAP or Active Directory: DN templates, deactivation by userAccountControl, pwdAccountLockedTime, an attribute or a disabled OU, renames, groupOfNames/group membership, LDAPS/StartTLS.',
  configSchema: ldapConfigSchema,
  capabilities: {
    create: true,
    update: true,
    deactivate: true,
    reactivate: true,
    delete: true,
    groups: true,
    membership: true,
    read: true,
    lookup: true,
    dryRun: true,
    passwords: false,
  },
  // Attributes both profiles have; PROFILE_MAPPING lists each profile's additions (see README).
  defaultMapping: SHARED_MAPPING,
  targetIdentity: ldapTargetIdentity,
};

/** Builds ldapts clients; tests may wrap it. */
export type LdapClientFactory = (options: ClientOptions) => Client;

/** Dependencies the connector takes through its factory. */
export interface LdapConnectorDeps {
  createClient?: LdapClientFactory;
}

/** The `ldap` connector type. */
export function createLdapConnector(deps: LdapConnectorDeps = {}): ConnectorDefinition<LdapConfig> {
  const createClient = deps.createClient ?? ((o: ClientOptions) => new Client(o));
  return defineConnector(manifest, () => new LdapConnector(createClient));
}

/** Default mapping for a profile, in that directory's vocabulary. */
export function defaultMappingFor(profile: LdapConfig['profile']): Record<string, string> {
  return { ...PROFILE_MAPPING[profile] };
}

/** One attribute of an entry to write. `randomPassword` asks for a fresh unicodePwd at send time. */
interface LdapAttribute {
  type: string;
  values: string[];
  randomPassword?: boolean;
}

/** One change of a modify request. */
interface LdapChange {
  operation: 'add' | 'delete' | 'replace';
  type: string;
  values: string[];
}

/** A request as the directory receives it (and as preview() shows it). */
type LdapRequest =
  | { op: 'add'; dn: string; attributes: LdapAttribute[] }
  /** `membership`: a member change, re-planned from a fresh read when sent (groups change under us). */
  | { op: 'modify'; dn: string; changes: LdapChange[]; membership?: { add: string[]; remove: string[] } }
  | { op: 'modifyDN'; dn: string; newDN: string }
  | { op: 'delete'; dn: string };

/** Desired attribute values, keyed by lower-cased name; an empty list means "no value". */
type Attrs = Map<string, { type: string; values: string[] }>;

interface Session {
  client: Client;
  url: string;
  /** `closed` is set when the TLS socket closes: after StartTLS, ldapts does not notice that itself. */
  tls: { closed: boolean };
}

/** A planned user update: the requests, where the entry ends up, and which groups to fix. */
interface UserPlan {
  currentDN: string;
  newDN: string;
  requests: LdapRequest[];
}

function put(attrs: Attrs, type: string, values: string[]): void {
  attrs.set(type.toLowerCase(), { type, values });
}

function first(attrs: Attrs, type: string): string | undefined {
  return attrs.get(type.toLowerCase())?.values[0];
}

/** A mapped value as LDAP strings: booleans are TRUE/FALSE (RFC 4517 Boolean), empty means none. */
function toValues(v: TargetValue): string[] {
  if (v === null) return [];
  if (Array.isArray(v)) return v.filter((s) => s !== '');
  if (typeof v === 'boolean') return [v ? 'TRUE' : 'FALSE'];
  const s = String(v);
  return s === '' ? [] : [s];
}

/** Values of an attribute in a search entry, whatever the case of its name; binary values dropped. */
function valuesOf(entry: Entry, type: string): string[] {
  const lc = type.toLowerCase();
  for (const [name, v] of Object.entries(entry)) {
    if (name.toLowerCase() !== lc || name === 'dn') continue;
    const list = Array.isArray(v) ? v : [v];
    return list.filter((x): x is string => typeof x === 'string');
  }
  return [];
}

function sameValues(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  const sa = [...a].sort();
  const sb = [...b].sort();
  return sa.every((x, i) => x === sb[i]);
}

/** sAMAccountName from a userName: the part before "@", without the characters AD refuses, 20 at most. */
export function samAccountNameFrom(userName: string): string {
  const local = userName.includes('@') ? userName.slice(0, userName.lastIndexOf('@')) : userName;
  return local.replace(/["/\\[\]:;|=,+*?<>@]/g, '_').slice(0, 20);
}

/** A random password that meets AD's complexity rules (upper, lower, digit, symbol; 36 characters). */
function randomAdPassword(): string {
  return `Aa1!${randomBytes(24).toString('base64url')}`;
}

function describe(req: LdapRequest): PreviewRequest {
  switch (req.op) {
    case 'add':
      return {
        description: `LDAP add ${req.dn}`,
        detail: { dn: req.dn, attributes: Object.fromEntries(req.attributes.map((a) => [a.type, a.randomPassword ? ['(a random password, generated when sent)'] : a.values])) },
      };
    case 'modify':
      return { description: `LDAP modify ${req.dn}`, detail: { dn: req.dn, changes: req.changes } };
    case 'modifyDN':
      return { description: `LDAP modifyDN ${req.dn} -> ${req.newDN}`, detail: { dn: req.dn, newDN: req.newDN } };
    case 'delete':
      return { description: `LDAP delete ${req.dn}`, detail: { dn: req.dn } };
  }
}

function attributesOf(req: LdapRequest): string[] {
  if (req.op === 'add') return req.attributes.map((a) => a.type);
  if (req.op === 'modify') return req.changes.map((c) => c.type);
  return [];
}

class LdapConnector implements Connector<LdapConfig> {
  private cfg!: ResolvedConfig;
  private secrets!: SecretReader;
  private logger!: ConnectorLogger;
  private sessionPromise: Promise<Session> | undefined;
  private caPem: Promise<string> | undefined;

  constructor(private readonly createClient: LdapClientFactory) {}

  async init(ctx: InitContext<LdapConfig>): Promise<void> {
    // Offline: the directory may be down while the gateway starts; test() reports problems.
    this.cfg = resolveConfig(ctx.config);
    this.secrets = ctx.secrets;
    this.logger = ctx.logger;
  }

  async dispose(): Promise<void> {
    const s = this.sessionPromise;
    this.sessionPromise = undefined;
    const session = await s?.catch(() => undefined);
    await session?.client.unbind().catch(() => undefined);
  }

  // ---- sessions ---------------------------------------------------------------------------

  private tlsOptions(host: string, ca: string | undefined): ConnectionOptions {
    const o: ConnectionOptions = { rejectUnauthorized: this.cfg.rejectUnauthorized, host };
    // SNI must be a host name (RFC 6066); certificate checks still use `host`.
    if (!isIP(host)) o.servername = host;
    if (ca !== undefined) o.ca = ca;
    return o;
  }

  private readCa(): Promise<string> | undefined {
    if (!this.cfg.tlsCaFile) return undefined;
    // Read once per instance; a failed read is retried on the next connect.
    this.caPem ??= readFile(this.cfg.tlsCaFile, 'utf8').catch((err: unknown) => {
      this.caPem = undefined;
      throw err;
    });
    return this.caPem;
  }

  private errorContext(url: string, extra: Partial<ErrorContext> = {}): ErrorContext {
    const ctx: ErrorContext = { url, bindDN: this.cfg.bindDN, connectMs: this.cfg.connectMs, ...extra };
    if (this.cfg.tlsCaFile) ctx.tlsCaFile = this.cfg.tlsCaFile;
    return ctx;
  }

  /** Opens and binds one connection, trying each URL in turn while they cannot be reached. */
  private async connect(): Promise<Session> {
    const password = await this.secrets.get('bindPassword');
    if (!password) throw new PermanentError('the bind password is not set (bindPassword is kept in the OS keychain; set it in the console)', { code: 'invalid_config' });
    const failures: ConnectorError[] = [];
    for (const url of this.cfg.urls) {
      let step: ConnectStep = 'connect';
      let client: Client | undefined;
      try {
        const ca = await this.readCa();
        const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
        const secure = url.toLowerCase().startsWith('ldaps:');
        const tls = { closed: false };
        // Watch the TLS socket ourselves: ldapts keeps listening on the plain one after StartTLS,
        // so a server restart would leave a session that looks bound and times out on every call.
        const createSecureConnection = ((...args: Parameters<typeof tlsConnect>): TLSSocket => {
          const socket = (tlsConnect as (...a: unknown[]) => TLSSocket)(...args);
          socket.once('close', () => {
            tls.closed = true;
          });
          return socket;
        }) as typeof tlsConnect;
        const options: ClientOptions = { url, connectTimeout: this.cfg.connectMs, timeout: this.cfg.operationMs, createSecureConnection };
        // ldapts makes any connection with tlsOptions a TLS one: give them only to ldaps://.
        if (secure) options.tlsOptions = this.tlsOptions(host, ca);
        client = this.createClient(options);
        const opened = client;
        await withDeadline(
          (async () => {
            if (this.cfg.startTls) {
              step = 'startTls';
              await opened.startTLS(this.tlsOptions(host, ca));
            }
            step = 'bind';
            await opened.bind(this.cfg.bindDN, password);
          })(),
          this.cfg.connectMs + this.cfg.operationMs,
        );
        return { client, url, tls };
      } catch (err) {
        await client?.unbind().catch(() => undefined);
        const mapped = err instanceof ConnectorError ? err : connectFailure(err, this.errorContext(url, { step }));
        failures.push(mapped);
        // Only an unreachable server sends us to the next URL; a refusal would repeat there.
        if (!mapped.retryable) throw mapped;
      }
    }
    // Every URL was unreachable (a refusal would have been thrown above).
    if (failures.length === 1) throw failures[0]!;
    throw new TransientError(failures.map((f) => f.message).join('; '), { code: 'target_unreachable', cause: failures[failures.length - 1] });
  }

  /** The shared, bound session; reopened when the server closed it. */
  private async session(): Promise<Session> {
    const current = this.sessionPromise;
    if (current) {
      const s = await current.catch(() => undefined);
      if (s?.client.isBound && !s.tls.closed) return s;
      if (this.sessionPromise === current) {
        this.sessionPromise = undefined;
        void s?.client.unbind().catch(() => undefined);
      } else if (this.sessionPromise) {
        return this.session();
      }
    }
    const next = this.connect();
    this.sessionPromise = next;
    next.catch(() => {
      if (this.sessionPromise === next) this.sessionPromise = undefined;
    });
    return next;
  }

  /** Runs `fn` on the session; maps anything unclassified and drops a session that broke. */
  private async withSession<T>(fn: (s: Session) => Promise<T>): Promise<T> {
    const s = await this.session();
    try {
      return await fn(s);
    } catch (err) {
      const mapped = err instanceof ConnectorError ? err : operationFailure(err, this.errorContext(s.url));
      if (mapped.retryable && this.sessionPromise) {
        const stale = this.sessionPromise;
        this.sessionPromise = undefined;
        void stale.then((x) => x.client.unbind()).catch(() => undefined);
      }
      throw mapped;
    }
  }

  // ---- requests -----------------------------------------------------------------------------

  /** Sends one request; errors come back raw for the caller to interpret. */
  private async send(s: Session, req: LdapRequest): Promise<void> {
    switch (req.op) {
      case 'add':
        await s.client.add(
          req.dn,
          req.attributes.map((a) =>
            a.randomPassword
              ? // unicodePwd: the quoted password in UTF-16LE (MS-ADTS 3.1.1.3.1.5.1).
                new Attribute({ type: a.type, values: [Buffer.from(`"${randomAdPassword()}"`, 'utf16le')] })
              : new Attribute({ type: a.type, values: a.values }),
          ),
        );
        return;
      case 'modify':
        await s.client.modify(
          req.dn,
          req.changes.map((c) => new Change({ operation: c.operation, modification: new Attribute({ type: c.type, values: c.values }) })),
        );
        return;
      case 'modifyDN':
        await s.client.modifyDN(req.dn, req.newDN);
        return;
      case 'delete':
        await s.client.del(req.dn);
        return;
    }
  }

  /** Sends one request and maps its errors, naming the request and its attributes. */
  private async exec(s: Session, req: LdapRequest): Promise<void> {
    try {
      await this.send(s, req);
    } catch (err) {
      throw operationFailure(err, this.errorContext(s.url, { action: describe(req).description, attributes: attributesOf(req) }));
    }
  }

  private async readEntry(s: Session, dn: string, attributes: string[]): Promise<Entry | undefined> {
    try {
      const { searchEntries } = await s.client.search(dn, { scope: 'base', attributes, filter: '(objectClass=*)' });
      return searchEntries[0];
    } catch (err) {
      if (resultCode(err) === LDAP.noSuchObject) return undefined;
      throw operationFailure(err, this.errorContext(s.url, { action: `LDAP read ${dn}` }));
    }
  }

  /** The DN as the directory spells it: the key we hand the gateway must match what listUsers returns. */
  private async serverDN(s: Session, dn: string): Promise<string> {
    return (await this.readEntry(s, dn, ['1.1']))?.dn ?? dn;
  }

  private async search(s: Session, base: string, filter: Filter, attributes: string[], sizeLimit = 0): Promise<Entry[]> {
    try {
      const { searchEntries } = await s.client.search(base, { scope: 'sub', filter, attributes, sizeLimit });
      return searchEntries;
    } catch (err) {
      if (resultCode(err) === LDAP.noSuchObject) return [];
      throw operationFailure(err, this.errorContext(s.url, { action: `LDAP search ${base} for ${filter.toString()}` }));
    }
  }

  // ---- users --------------------------------------------------------------------------------

  private get userReadAttributes(): string[] {
    const extra = this.cfg.deactivate.method === 'pwdAccountLockedTime' ? ['pwdAccountLockedTime'] : [];
    return ['*', ...extra];
  }

  /** Bases that hold users: the users base, and the disabled OU when it lies outside it. */
  private userBases(): string[] {
    const d = this.cfg.deactivate;
    const bases = [this.cfg.users.baseDN];
    if (d.method === 'moveToOU' && !isUnder(d.disabledBaseDN, this.cfg.users.baseDN)) bases.push(d.disabledBaseDN);
    return bases;
  }

  /** The attributes and DN the user should have (the desired state). */
  private desiredUser(user: TargetUser): { attrs: Attrs; dn: string } {
    const c = this.cfg;
    const d = c.deactivate;
    const attrs: Attrs = new Map();
    const skipped: string[] = [];
    for (const [type, v] of Object.entries(user.attributes)) {
      if (MANAGED.has(type.toLowerCase())) {
        skipped.push(type);
        continue;
      }
      if (d.method === 'attribute' && type.toLowerCase() === d.attribute.toLowerCase()) continue; // set below
      put(attrs, type, toValues(v));
    }
    if (skipped.length) this.logger.debug('ldap: mapped attributes the connector manages were ignored', { attributes: skipped });
    put(attrs, c.users.userNameAttribute, [user.userName]);
    if (c.users.externalIdAttribute && user.externalId) put(attrs, c.users.externalIdAttribute, [user.externalId]);
    if (c.profile === 'activeDirectory') {
      if (!first(attrs, 'userPrincipalName')) put(attrs, 'userPrincipalName', [user.userName.includes('@') ? user.userName : `${user.userName}@${c.upnSuffix}`]);
      if (!first(attrs, 'sAMAccountName')) put(attrs, 'sAMAccountName', [samAccountNameFrom(user.userName)]);
    }
    if (!first(attrs, 'cn')) {
      const full = [first(attrs, 'givenName'), first(attrs, 'sn')].filter(Boolean).join(' ');
      put(attrs, 'cn', [first(attrs, 'displayName') ?? (full || user.userName)]);
    }
    // person requires sn; without a family name the userName stands in.
    if (c.profile === 'openldap' && !first(attrs, 'sn') && c.users.objectClasses.some((o) => /^(person|organizationalPerson|inetOrgPerson)$/i.test(o))) {
      put(attrs, 'sn', [user.userName]);
    }
    if (d.method === 'attribute') {
      const mapped = Object.entries(user.attributes).find(([t]) => t.toLowerCase() === d.attribute.toLowerCase());
      const enabled = mapped ? toValues(mapped[1]) : d.enabledValue ? [d.enabledValue] : [];
      put(attrs, d.attribute, user.active ? enabled : [d.disabledValue]);
    }
    if (d.method === 'pwdAccountLockedTime') put(attrs, 'pwdAccountLockedTime', user.active ? [] : [PERMANENT_LOCK]);
    let dn: string;
    try {
      dn = renderTemplate(c.users.template, (name) => first(attrs, name));
    } catch (err) {
      if (err instanceof MissingPlaceholderError) throw new PermanentError(`user "${user.userName}": ${err.message}`, { code: 'ldap_dn_template' });
      throw err;
    }
    if (d.method === 'moveToOU' && !user.active) dn = withParent(dn, d.disabledBaseDN);
    return { attrs, dn };
  }

  private uacFor(active: boolean, current: number | undefined): number | undefined {
    if (this.cfg.profile !== 'activeDirectory') return undefined;
    if (current === undefined) {
      // AD enables no account without a password: without the random one it starts disabled.
      const enabled = this.cfg.randomPassword && (active || this.cfg.deactivate.method !== 'userAccountControl');
      return enabled ? UAC_NORMAL : UAC_NORMAL | UAC_DISABLED;
    }
    if (this.cfg.deactivate.method !== 'userAccountControl') return undefined;
    return active ? current & ~UAC_DISABLED : current | UAC_DISABLED;
  }

  private get encrypted(): boolean {
    return this.cfg.startTls || this.cfg.urls.every((u) => u.toLowerCase().startsWith('ldaps:'));
  }

  private planCreate(user: TargetUser): { dn: string; add: Extract<LdapRequest, { op: 'add' }> } {
    const { attrs, dn } = this.desiredUser(user);
    const attributes: LdapAttribute[] = [{ type: 'objectClass', values: this.cfg.users.objectClasses }];
    for (const { type, values } of attrs.values()) if (values.length) attributes.push({ type, values });
    const uac = this.uacFor(user.active, undefined);
    if (uac !== undefined) attributes.push({ type: 'userAccountControl', values: [String(uac)] });
    if (this.cfg.profile === 'activeDirectory' && this.cfg.randomPassword) attributes.push({ type: 'unicodePwd', values: [], randomPassword: true });
    return { dn, add: { op: 'add', dn, attributes } };
  }

  /** Whether an entry holds this user (its userName attribute matches). */
  private holdsUser(entry: Entry, userName: string): boolean {
    return valuesOf(entry, this.cfg.users.userNameAttribute).some((v) => v.toLowerCase() === userName.toLowerCase());
  }

  private userFilter(attr: string, value: string): Filter {
    return new AndFilter({ filters: [this.cfg.users.filter, new EqualityFilter({ attribute: attr, value })] });
  }

  private async findByUserName(s: Session, userName: string): Promise<Entry | undefined> {
    for (const base of this.userBases()) {
      const [hit] = await this.search(s, base, this.userFilter(this.cfg.users.userNameAttribute, userName), this.userReadAttributes, 2);
      if (hit) return hit;
    }
    return undefined;
  }

  async createUser(user: TargetUser): Promise<KeyResult> {
    const { dn, add } = this.planCreate(user);
    return this.withSession(async (s) => {
      try {
        await this.send(s, add);
      } catch (err) {
        const rc = resultCode(err);
        // A retry of a create that went through, or a user someone else already has at that DN.
        if (rc === LDAP.entryAlreadyExists) {
          const existing = await this.readEntry(s, dn, [this.cfg.users.userNameAttribute]);
          if (existing && !this.holdsUser(existing, user.userName)) {
            throw new ConflictError(`cannot create "${user.userName}": ${existing.dn} already exists and belongs to someone else; make the DN template unique (e.g. use the userName attribute)`);
          }
          throw new AlreadyExistsError(`${dn} already exists`, existing?.dn ?? dn);
        }
        // AD takes unicodePwd only over TLS (MS-ADTS 3.1.1.3.1.5): say how to fix it, not just "unwilling".
        const refusedPassword = rc === LDAP.unwillingToPerform || rc === LDAP.confidentialityRequired || rc === LDAP.strongAuthRequired;
        if (refusedPassword && this.cfg.profile === 'activeDirectory' && this.cfg.randomPassword && !this.encrypted) {
          throw new PermanentError(
            `${describe(add).description} refused: Active Directory sets a password (unicodePwd) only over an encrypted connection; use ldaps:// or startTls: true (or set activeDirectory.randomPassword: false to create accounts without a password, which AD keeps disabled)`,
            { code: 'ldap_tls_required', cause: err },
          );
        }
        // AD refuses a second account with the same sAMAccountName/userPrincipalName anywhere in the domain.
        if (rc === LDAP.constraintViolation && /already in use/i.test(String((err as Error).message))) {
          const existing = await this.findByUserName(s, user.userName);
          if (existing) throw new AlreadyExistsError(`"${user.userName}" already exists at ${existing.dn}`, existing.dn);
        }
        throw operationFailure(err, this.errorContext(s.url, { action: describe(add).description, attributes: attributesOf(add) }));
      }
      return { key: await this.serverDN(s, dn) };
    });
  }

  /**
   * Finds the entry an update applies to: at its key, or (a retry after a rename or move that went
   * through) at the DN the user should have now.
   */
  private async locate(s: Session, key: TargetKey, user: TargetUser, desiredDN: string): Promise<Entry> {
    const attrs = [...this.userReadAttributes, ...(this.cfg.profile === 'activeDirectory' ? ['userAccountControl'] : [])];
    const atKey = await this.readEntry(s, key, attrs);
    if (atKey) return atKey;
    if (!sameDN(desiredDN, key)) {
      const moved = await this.readEntry(s, desiredDN, attrs);
      if (moved && this.holdsUser(moved, user.userName)) return moved;
    }
    throw new NotFoundError(`no entry ${key} for user "${user.userName}" in ${s.url}`);
  }

  private async planUser(s: Session, key: TargetKey, user: TargetUser): Promise<UserPlan> {
    const { attrs, dn: desiredDN } = this.desiredUser(user);
    const current = await this.locate(s, key, user, desiredDN);
    const requests: LdapRequest[] = [];
    const renamed = !sameDN(current.dn, desiredDN);
    if (renamed) requests.push({ op: 'modifyDN', dn: current.dn, newDN: desiredDN });
    const target = renamed ? desiredDN : current.dn;
    // The RDN's attribute lives in the DN: AD refuses to modify it, and modifyDN already set it.
    const rdnTypes = new Set(parseDN(desiredDN)[0]!.map((a) => a.type.toLowerCase()));
    const changes: LdapChange[] = [];
    for (const [lc, { type, values }] of attrs) {
      if (rdnTypes.has(lc)) continue;
      const now = valuesOf(current, type);
      if (sameValues(now, values)) continue;
      if (values.length === 0) {
        if (now.length > 0) changes.push({ operation: 'delete', type, values: [] });
      } else {
        changes.push({ operation: 'replace', type, values });
      }
    }
    const uacNow = valuesOf(current, 'userAccountControl')[0];
    const uac = this.uacFor(user.active, uacNow === undefined ? undefined : Number(uacNow));
    if (uac !== undefined && String(uac) !== uacNow) changes.push({ operation: 'replace', type: 'userAccountControl', values: [String(uac)] });
    if (changes.length) requests.push({ op: 'modify', dn: target, changes });
    if (this.cfg.updateMemberReferences && this.cfg.groups) {
      const old = [key, current.dn].filter((dn, i, all) => !sameDN(dn, desiredDN) && all.findIndex((x) => sameDN(x, dn)) === i);
      for (const oldDN of old) requests.push(...(await this.planReferenceRewrite(s, oldDN, desiredDN)));
    }
    return { currentDN: current.dn, newDN: target, requests };
  }

  private async applyUser(key: TargetKey, user: TargetUser): Promise<KeyResult> {
    return this.withSession(async (s) => {
      const plan = await this.planUser(s, key, user);
      for (const req of plan.requests) {
        if (req.op === 'modify' && req.membership) {
          await this.applyMembers(s, req.dn, req.membership.add, req.membership.remove, true);
          continue;
        }
        try {
          await this.send(s, req);
        } catch (err) {
          if (req.op === 'modifyDN' && resultCode(err) === LDAP.entryAlreadyExists) {
            throw new ConflictError(`cannot move ${req.dn} to ${req.newDN}: another entry is already there (userName "${user.userName}")`);
          }
          throw operationFailure(err, this.errorContext(s.url, { action: describe(req).description, attributes: attributesOf(req) }));
        }
      }
      return { key: plan.newDN === plan.currentDN ? plan.currentDN : await this.serverDN(s, plan.newDN) };
    });
  }

  async updateUser(key: TargetKey, user: TargetUser): Promise<KeyResult> {
    return this.applyUser(key, user);
  }

  async deactivateUser(key: TargetKey, user: TargetUser): Promise<KeyResult> {
    return this.applyUser(key, { ...user, active: false });
  }

  async reactivateUser(key: TargetKey, user: TargetUser): Promise<KeyResult> {
    return this.applyUser(key, { ...user, active: true });
  }

  private async planDelete(s: Session, key: TargetKey): Promise<LdapRequest[]> {
    const requests: LdapRequest[] = [];
    if (this.cfg.updateMemberReferences && this.cfg.groups) {
      for (const group of await this.groupsReferencing(s, key)) {
        const req = await this.planMembers(s, group, [], [key]);
        if (req) requests.push(req);
      }
    }
    requests.push({ op: 'delete', dn: key });
    return requests;
  }

  async deleteUser(key: TargetKey): Promise<void> {
    await this.withSession(async (s) => {
      // Groups first: a retry after the entry is gone would no longer know to clean them.
      for (const req of await this.planDelete(s, key)) {
        if (req.op === 'modify' && req.membership) await this.applyMembers(s, req.dn, req.membership.add, req.membership.remove, true);
        else await this.exec(s, req);
      }
    });
  }

  private toTargetEntry(e: Entry): TargetEntry {
    const c = this.cfg;
    const attributes: Record<string, TargetValue> = {};
    for (const [name, v] of Object.entries(e)) {
      if (name === 'dn' || HIDDEN.has(name.toLowerCase())) continue;
      const list = (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
      if (list.length === 0) continue;
      attributes[name] = list.length === 1 ? list[0]! : list;
    }
    const user: Partial<TargetUser> = { userName: valuesOf(e, c.users.userNameAttribute)[0] ?? '', active: this.isActive(e), attributes };
    const ext = c.users.externalIdAttribute ? valuesOf(e, c.users.externalIdAttribute)[0] : undefined;
    if (ext) user.externalId = ext;
    return { key: e.dn, user };
  }

  private isActive(e: Entry): boolean {
    const d = this.cfg.deactivate;
    switch (d.method) {
      case 'userAccountControl':
        return (Number(valuesOf(e, 'userAccountControl')[0] ?? UAC_NORMAL) & UAC_DISABLED) === 0;
      case 'pwdAccountLockedTime':
        // Only the administrative lock: a lockout after failed binds is not a deactivation.
        return !valuesOf(e, 'pwdAccountLockedTime').includes(PERMANENT_LOCK);
      case 'attribute':
        return !valuesOf(e, d.attribute).some((v) => v.toLowerCase() === d.disabledValue.toLowerCase());
      case 'moveToOU':
        return !isUnder(e.dn, d.disabledBaseDN);
    }
  }

  async *listUsers(): AsyncIterable<TargetEntry> {
    try {
      yield* this.listUsersFrom(await this.session());
    } catch (err) {
      if (err instanceof ConnectorError && err.retryable) this.sessionPromise = undefined;
      throw err;
    }
  }

  private async *listUsersFrom(s: Session): AsyncIterable<TargetEntry> {
    const seen = new Set<string>();
    const attributes = [...this.userReadAttributes, ...(this.cfg.profile === 'activeDirectory' ? ['userAccountControl'] : [])];
    for (const base of this.userBases()) {
      // RFC 2696 paged results: memory stays bounded by one page however large the directory.
      const pages = s.client.searchPaginated(base, { scope: 'sub', filter: this.cfg.users.filter, attributes, paged: { pageSize: this.cfg.pageSize } });
      for (;;) {
        let page: IteratorResult<{ searchEntries: Entry[] }>;
        try {
          page = await pages.next();
        } catch (err) {
          if (resultCode(err) === LDAP.noSuchObject && base !== this.cfg.users.baseDN) break;
          throw operationFailure(err, this.errorContext(s.url, { action: `LDAP paged search ${base}` }));
        }
        if (page.done) break;
        for (const e of page.value.searchEntries) {
          const id = normalizeDN(e.dn);
          if (seen.has(id)) continue;
          seen.add(id);
          yield this.toTargetEntry(e);
        }
      }
    }
  }

  async findUser(query: UserQuery): Promise<TargetEntry | undefined> {
    const c = this.cfg;
    let attr: string;
    let value: string;
    if ('userName' in query) {
      attr = c.users.userNameAttribute;
      value = query.userName;
    } else {
      if (!c.users.externalIdAttribute) return undefined; // nowhere to look: see users.externalIdAttribute
      attr = c.users.externalIdAttribute;
      value = query.externalId;
    }
    return this.withSession(async (s) => {
      const attributes = [...this.userReadAttributes, ...(c.profile === 'activeDirectory' ? ['userAccountControl'] : [])];
      for (const base of this.userBases()) {
        const [hit] = await this.search(s, base, this.userFilter(attr, value), attributes, 2);
        if (hit) return this.toTargetEntry(hit);
      }
      return undefined;
    });
  }

  // ---- groups -------------------------------------------------------------------------------

  private groupsConfig(): NonNullable<ResolvedConfig['groups']> {
    if (!this.cfg.groups) throw new PermanentError('groups are not configured for this LDAP connector: set groups.baseDN', { code: 'ldap_groups_not_configured' });
    return this.cfg.groups;
  }

  private desiredGroup(group: TargetGroup): { attrs: Attrs; dn: string } {
    const g = this.groupsConfig();
    const attrs: Attrs = new Map();
    for (const [type, v] of Object.entries(group.attributes)) {
      const lc = type.toLowerCase();
      if (MANAGED.has(lc) || lc === g.memberAttribute.toLowerCase()) continue;
      put(attrs, type, toValues(v));
    }
    if (!first(attrs, 'cn')) put(attrs, 'cn', [group.displayName]);
    if (this.cfg.profile === 'activeDirectory' && !first(attrs, 'sAMAccountName')) {
      put(attrs, 'sAMAccountName', [group.displayName.replace(/["/\\[\]:;|=,+*?<>]/g, '_').slice(0, 64)]);
    }
    try {
      return { attrs, dn: renderTemplate(g.template, (name) => first(attrs, name)) };
    } catch (err) {
      if (err instanceof MissingPlaceholderError) throw new PermanentError(`group "${group.displayName}": ${err.message}`, { code: 'ldap_dn_template' });
      throw err;
    }
  }

  /** All values of the member attribute, following AD's ranged retrieval (member;range=0-1499). */
  private async readMembers(s: Session, groupDN: string): Promise<string[] | undefined> {
    const attr = this.groupsConfig().memberAttribute;
    let entry = await this.readEntry(s, groupDN, [attr]);
    if (!entry) return undefined;
    const members = valuesOf(entry, attr);
    for (let guard = 0; guard < 10_000; guard++) {
      const rangedKey = Object.keys(entry).find((k) => k.toLowerCase().startsWith(`${attr.toLowerCase()};range=`));
      if (!rangedKey) break;
      members.push(...valuesOf(entry, rangedKey));
      const end = rangedKey.split('-').pop();
      if (end === '*' || end === undefined) break;
      const next: Entry | undefined = await this.readEntry(s, groupDN, [`${attr};range=${Number(end) + 1}-*`]);
      if (!next) break;
      entry = next;
    }
    return members;
  }

  /** The modify that adds and removes members, keeping groupOfNames' placeholder right; undefined if nothing to do. */
  private async planMembers(s: Session, groupDN: string, add: string[], remove: string[]): Promise<LdapRequest | undefined> {
    const g = this.groupsConfig();
    const present = await this.readMembers(s, groupDN);
    if (present === undefined) throw new NotFoundError(`no group ${groupDN} in ${s.url}`);
    const norm = new Map(present.map((v) => [normalizeDN(v), v]));
    const placeholder = g.emptyMember ? normalizeDN(g.emptyMember) : undefined;
    const toAdd: string[] = [];
    for (const dn of add) {
      const n = normalizeDN(dn);
      if (norm.has(n) || toAdd.some((x) => normalizeDN(x) === n)) continue;
      toAdd.push(dn);
    }
    const toRemove = [...new Set(remove.map(normalizeDN))].filter((n) => norm.has(n) && n !== placeholder).map((n) => norm.get(n)!);
    const after = new Set([...norm.keys(), ...toAdd.map(normalizeDN)]);
    for (const r of toRemove) after.delete(normalizeDN(r));
    const changes: LdapChange[] = [];
    const attr = g.memberAttribute;
    if (placeholder) {
      const realLeft = [...after].filter((n) => n !== placeholder).length;
      if (realLeft === 0 && !norm.has(placeholder)) changes.push({ operation: 'add', type: attr, values: [g.emptyMember!] });
      if (realLeft > 0 && norm.has(placeholder)) toRemove.push(norm.get(placeholder)!);
    }
    if (toAdd.length) changes.push({ operation: 'add', type: attr, values: toAdd });
    if (toRemove.length) changes.push({ operation: 'delete', type: attr, values: toRemove });
    // One modify is atomic and schema-checked as a whole: groupOfNames is never seen without a member.
    return changes.length ? { op: 'modify', dn: groupDN, changes, membership: { add, remove } } : undefined;
  }

  private async groupsReferencing(s: Session, dn: string): Promise<string[]> {
    const g = this.groupsConfig();
    const hits = await this.search(s, g.baseDN, new EqualityFilter({ attribute: g.memberAttribute, value: dn }), ['1.1']);
    return hits.map((h) => h.dn);
  }

  /** OpenLDAP without refint keeps stale member DNs after a rename: rewrite them. */
  private async planReferenceRewrite(s: Session, oldDN: string, newDN: string): Promise<LdapRequest[]> {
    const out: LdapRequest[] = [];
    for (const group of await this.groupsReferencing(s, oldDN)) {
      const req = await this.planMembers(s, group, [newDN], [oldDN]);
      if (req) out.push(req);
    }
    return out;
  }

  private async planGroup(s: Session, group: TargetGroup, key: TargetKey | undefined): Promise<{ requests: LdapRequest[]; dn: string; exists: boolean }> {
    const g = this.groupsConfig();
    const { attrs, dn } = this.desiredGroup(group);
    const current = key ? await this.readEntry(s, key, ['*']) : undefined;
    if (!current) {
      const attributes: LdapAttribute[] = [{ type: 'objectClass', values: g.objectClasses }];
      for (const { type, values } of attrs.values()) if (values.length) attributes.push({ type, values });
      if (g.emptyMember) attributes.push({ type: g.memberAttribute, values: [g.emptyMember] });
      return { requests: [{ op: 'add', dn, attributes }], dn, exists: false };
    }
    const requests: LdapRequest[] = [];
    const renamed = !sameDN(current.dn, dn);
    if (renamed) requests.push({ op: 'modifyDN', dn: current.dn, newDN: dn });
    const rdnTypes = new Set(parseDN(dn)[0]!.map((a) => a.type.toLowerCase()));
    const changes: LdapChange[] = [];
    for (const [lc, { type, values }] of attrs) {
      if (rdnTypes.has(lc)) continue;
      const now = valuesOf(current, type);
      if (sameValues(now, values)) continue;
      if (values.length === 0) {
        if (now.length) changes.push({ operation: 'delete', type, values: [] });
      } else changes.push({ operation: 'replace', type, values });
    }
    if (changes.length) requests.push({ op: 'modify', dn: renamed ? dn : current.dn, changes });
    if (renamed && this.cfg.updateMemberReferences) requests.push(...(await this.planReferenceRewrite(s, current.dn, dn)));
    return { requests, dn: renamed ? dn : current.dn, exists: true };
  }

  async upsertGroup(group: TargetGroup, key: TargetKey | undefined): Promise<KeyResult> {
    return this.withSession(async (s) => {
      let plan = await this.planGroup(s, group, key);
      if (!plan.exists) {
        try {
          await this.send(s, plan.requests[0]!);
          return { key: await this.serverDN(s, plan.dn) };
        } catch (err) {
          if (resultCode(err) !== LDAP.entryAlreadyExists) {
            const req = plan.requests[0]!;
            throw operationFailure(err, this.errorContext(s.url, { action: describe(req).description, attributes: attributesOf(req) }));
          }
          // Already there (a retry, or the IdP's group of that name): bring it to the desired state.
          plan = await this.planGroup(s, group, plan.dn);
        }
      }
      for (const req of plan.requests) {
        if (req.op === 'modify' && req.membership) {
          await this.applyMembers(s, req.dn, req.membership.add, req.membership.remove, true);
          continue;
        }
        try {
          await this.send(s, req);
        } catch (err) {
          const rc = resultCode(err);
          if (req.op === 'modifyDN' && rc === LDAP.entryAlreadyExists) throw new ConflictError(`cannot rename group ${req.dn} to ${req.newDN}: another entry is already there`);
          throw operationFailure(err, this.errorContext(s.url, { action: describe(req).description, attributes: attributesOf(req) }));
        }
      }
      return { key: plan.requests.some((r) => r.op === 'modifyDN') ? await this.serverDN(s, plan.dn) : plan.dn };
    });
  }

  async deleteGroup(key: TargetKey): Promise<void> {
    this.groupsConfig();
    await this.withSession((s) => this.exec(s, { op: 'delete', dn: key }));
  }

  /**
   * Reads the group, sends the one modify that gets its members right, and starts over when the
   * group changed in between (the gateway's queue for the group and a user's rename or delete may
   * touch it at the same time). `tolerateGone`: a group deleted meanwhile needs no fixing.
   */
  private async applyMembers(s: Session, groupDN: string, add: string[], remove: string[], tolerateGone = false): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let req: LdapRequest | undefined;
      try {
        req = await this.planMembers(s, groupDN, add, remove);
      } catch (err) {
        if (tolerateGone && err instanceof NotFoundError) return;
        throw err;
      }
      if (!req) return;
      try {
        await this.send(s, req);
        return;
      } catch (err) {
        const rc = resultCode(err);
        // Samba answers entryAlreadyExists where RFC 4511 says attributeOrValueExists.
        const raced = rc === LDAP.attributeOrValueExists || rc === LDAP.noSuchAttribute || rc === LDAP.entryAlreadyExists;
        if (raced && attempt < 3) continue;
        if (rc === LDAP.noSuchObject && add.length) {
          throw new PermanentError(`cannot add to ${groupDN}: a member DN does not exist in the directory (${(err as Error).message})`, { code: 'ldap_no_such_member', cause: err });
        }
        throw operationFailure(err, this.errorContext(s.url, { action: describe(req).description, attributes: attributesOf(req) }));
      }
    }
  }

  private async changeMembers(groupKey: TargetKey, add: TargetKey[], remove: TargetKey[]): Promise<void> {
    await this.withSession((s) => this.applyMembers(s, groupKey, add, remove));
  }

  async addMembers(groupKey: TargetKey, memberKeys: TargetKey[]): Promise<void> {
    await this.changeMembers(groupKey, memberKeys, []);
  }

  async removeMembers(groupKey: TargetKey, memberKeys: TargetKey[]): Promise<void> {
    await this.changeMembers(groupKey, [], memberKeys);
  }

  // ---- test and preview -----------------------------------------------------------------------

  async test(): Promise<TestResult> {
    const c = this.cfg;
    let s: Session;
    try {
      s = await this.connect();
    } catch (err) {
      return { ok: false, message: err instanceof Error ? err.message : String(err) };
    }
    try {
      const tls = s.url.toLowerCase().startsWith('ldaps:') ? 'LDAPS' : c.startTls ? 'StartTLS' : 'no TLS';
      const bases: Array<[string, string]> = [['base', c.users.baseDN]];
      if (c.groups) bases.push(['groups base', c.groups.baseDN]);
      if (c.deactivate.method === 'moveToOU') bases.push(['disabled OU', c.deactivate.disabledBaseDN]);
      const found: string[] = [];
      for (const [label, dn] of bases) {
        const entry = await this.readEntry(s, dn, ['1.1']);
        if (!entry) return { ok: false, message: `bound to ${s.url} as ${c.bindDN}, but ${label} ${dn} does not exist (or ${c.bindDN} cannot read it)` };
        found.push(`${label} ${dn} found`);
      }
      return { ok: true, message: `bound to ${s.url} as ${c.bindDN}; ${found.join('; ')}`, details: { url: s.url, tls, profile: c.profile } };
    } catch (err) {
      return { ok: false, message: err instanceof Error ? err.message : String(err) };
    } finally {
      await s.client.unbind().catch(() => undefined);
    }
  }

  async preview(op: ConnectorOperation, _ctx: OperationContext): Promise<Preview> {
    const plan = async (): Promise<LdapRequest[]> => {
      switch (op.kind) {
        case 'createUser':
          return [this.planCreate(op.user).add];
        case 'updateUser':
        case 'deactivateUser':
        case 'reactivateUser': {
          const active = op.kind === 'updateUser' ? op.user.active : op.kind === 'reactivateUser';
          return this.withSession(async (s) => (await this.planUser(s, op.key, { ...op.user, active })).requests);
        }
        case 'deleteUser':
          return this.withSession((s) => this.planDelete(s, op.key));
        case 'upsertGroup':
          return this.withSession(async (s) => (await this.planGroup(s, op.group, op.key)).requests);
        case 'deleteGroup':
          return [{ op: 'delete', dn: op.key }];
        case 'addMembers':
        case 'removeMembers': {
          const [add, remove] = op.kind === 'addMembers' ? [op.memberKeys, []] : [[], op.memberKeys];
          return this.withSession(async (s) => {
            const req = await this.planMembers(s, op.key, add, remove);
            return req ? [req] : [];
          });
        }
      }
    };
    const requests = (await plan()).map(describe);
    return { summary: requests.length ? `${requests.length} LDAP request(s) to ${this.cfg.urls[0]}` : 'nothing to change', requests: requests.length ? requests : [{ description: 'no change: the directory already matches' }] };
  }
}

/** Rejects with a timeout error (ldapts has none around the TLS handshake). */
async function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('Connection timeout')), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
