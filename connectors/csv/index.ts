/**
 * The `csv` connector: keeps a CSV file that a legacy batch job imports. Every write reads the
 * file, changes the rows and rewrites it atomically under a lock, so the batch job always reads
 * a complete file. Columns, their order, the delimiter, the deactivated flag's words and an
 * optional groups file are configured; quoting follows RFC 4180 (csv-parse / csv-stringify).
 */
import { isAbsolute, dirname } from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { z } from 'zod';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  PermanentError,
  defineConnector,
  type Connector,
  type ConnectorCapabilities,
  type ConnectorDefinition,
  type ConnectorManifest,
  type ConnectorOperation,
  type InitContext,
  type KeyResult,
  type Preview,
  type TargetEntry,
  type TargetGroup,
  type TargetIdentity,
  type TargetKey,
  type TargetUser,
  type TargetValue,
  type TestResult,
  type UserQuery,
} from '../sdk/index.js';
import { fsError, probeWritable, readText, serialised, withLockFile, writeAtomic } from './file.js';

const absolutePath = z.string().refine(isAbsolute, 'must be an absolute path');
const headerName = z.string().min(1).refine((h) => !/[\r\n]/.test(h), 'a column header cannot contain a line break');

/** One column of the users file, in file order. */
const columnSchema = z.union([
  /** Shorthand: a target attribute, with the attribute's name as header. */
  z.string().min(1),
  /** The user's key, userName, externalId or SCIM id. */
  z.object({ header: headerName, field: z.enum(['key', 'userName', 'externalId', 'scimId']) }).strict(),
  /** A target attribute under another header. */
  z.object({ header: headerName, attribute: z.string().min(1) }).strict(),
  /** The deactivated flag: the words written for an active and an inactive user. */
  z.object({ header: headerName, flag: z.object({ active: z.string(), inactive: z.string() }).strict() }).strict(),
]);

const membersSchema = z.discriminatedUnion('style', [
  /** Members in a column of the groups file, as a delimited list of user keys. */
  z.object({ style: z.literal('column'), column: headerName.default('members'), separator: z.string().min(1).default(';') }).strict(),
  /** A membership file with one row per (group, member). */
  z.object({ style: z.literal('file'), path: absolutePath, groupColumn: headerName.default('group'), memberColumn: headerName.default('member') }).strict(),
]);

const groupsSchema = z
  .object({
    path: absolutePath,
    /** The group key: the SCIM id (stable) or the display name (a rename changes it). */
    keyFrom: z.enum(['scimId', 'displayName']).default('scimId'),
    keyColumn: headerName.default('id'),
    nameColumn: headerName.default('name'),
    members: membersSchema.default({ style: 'column', column: 'members', separator: ';' }),
  })
  .strict();

/** The `csv` connector's configuration. */
export const csvConfigSchema = z
  .object({
    /** The users file; created on the first write. Its directory must exist. */
    path: absolutePath,
    delimiter: z
      .string()
      .length(1)
      .refine((d) => !/["\r\n]/.test(d), 'the delimiter cannot be a quote or a line break')
      .default(','),
    /** RFC 4180 says CRLF; many Unix batch jobs expect LF. */
    lineEnding: z.enum(['crlf', 'lf']).default('crlf'),
    header: z.boolean().default(true),
    /** A UTF-8 byte order mark, for files that Excel opens. Read either way. */
    bom: z.boolean().default(false),
    /** Quote every cell, not only those that need it. */
    quoteAll: z.boolean().default(false),
    /**
     * Formula-injection protection (on unless turned off): a cell starting with = + - @ (or tab /
     * CR) is written with a leading ' and read back without it. Values come from the IdP, and
     * someone eventually opens the file in a spreadsheet; turn it off only for a file that
     * nothing but a batch job reads.
     */
    excelSafe: z.boolean().default(true),
    /** Where the key comes from; with userName (the default) a rename changes the key. */
    keyFrom: z.union([z.enum(['userName', 'scimId', 'externalId']), z.object({ attribute: z.string().min(1) }).strict()]).default('userName'),
    columns: z
      .array(columnSchema)
      .min(1)
      .default([{ header: 'userName', field: 'key' }, 'givenName', 'familyName', 'email', { header: 'active', flag: { active: 'true', inactive: 'false' } }]),
    /** Joins the values of a multi-valued attribute in one cell. */
    multiValueSeparator: z.string().min(1).default(';'),
    groups: groupsSchema.optional(),
    /** How long a write waits for another gateway instance's lock. */
    lockTimeoutMs: z.number().int().positive().default(10_000),
    /** A lock file older than this is taken over (its holder died on another host). */
    staleLockMs: z.number().int().positive().default(60_000),
  })
  .strict()
  .superRefine((c, ctx) => {
    const cols = c.columns.map(normaliseColumn);
    const headers = cols.map((col) => col.header);
    const dup = headers.find((h, i) => headers.indexOf(h) !== i);
    if (dup) ctx.addIssue({ code: 'custom', path: ['columns'], message: `column "${dup}" appears twice` });
    const count = (kind: string) => cols.filter((col) => col.kind === kind).length;
    if (count('key') !== 1) ctx.addIssue({ code: 'custom', path: ['columns'], message: 'exactly one column must be { "field": "key" }' });
    if (count('flag') !== 1) ctx.addIssue({ code: 'custom', path: ['columns'], message: 'exactly one column must be the deactivated flag { "flag": { "active": ..., "inactive": ... } }' });
    if (c.keyFrom !== 'userName' && count('userName') !== 1) {
      ctx.addIssue({ code: 'custom', path: ['columns'], message: 'with keyFrom other than userName, one column must be { "field": "userName" }' });
    }
    const flag = cols.find((col) => col.kind === 'flag');
    if (flag?.kind === 'flag' && flag.active === flag.inactive) ctx.addIssue({ code: 'custom', path: ['columns'], message: 'the flag words for active and inactive must differ' });
  });

/** The parsed configuration. */
export type CsvConfig = z.infer<typeof csvConfigSchema>;

type Column =
  | { kind: 'key' | 'userName' | 'externalId' | 'scimId'; header: string }
  | { kind: 'attribute'; header: string; attribute: string }
  | { kind: 'flag'; header: string; active: string; inactive: string };

function normaliseColumn(c: z.infer<typeof columnSchema>): Column {
  if (typeof c === 'string') return { kind: 'attribute', header: c, attribute: c };
  if ('field' in c) return { kind: c.field, header: c.header };
  if ('attribute' in c) return { kind: 'attribute', header: c.header, attribute: c.attribute };
  return { kind: 'flag', header: c.header, active: c.flag.active, inactive: c.flag.inactive };
}

/** A CSV table read from disk: header names and rows as header -> cell. */
interface Table {
  header: string[];
  rows: Array<Record<string, string>>;
}

/** Starts of a cell that a spreadsheet runs as a formula (OWASP "CSV injection"). */
const FORMULA_START = /^'*[=+\-@\t\r]/;

/** Escapes one cell for spreadsheets; reversible: a value that looks escaped gets one more quote. */
function excelEscape(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

function excelUnescape(value: string): string {
  return value.startsWith("'") && FORMULA_START.test(value.slice(1)) ? value.slice(1) : value;
}

/** The CSV dialect shared by every file of an instance. */
class Dialect {
  constructor(private readonly config: CsvConfig) {}

  parse(text: string, path: string, expected: string[]): Table {
    let records: string[][];
    try {
      records = parse(text, { delimiter: this.config.delimiter, bom: true, skip_empty_lines: true, relax_column_count: false }) as string[][];
    } catch (err) {
      throw new PermanentError(`${path} is not valid CSV: ${(err as Error).message}`, { code: 'bad_file' });
    }
    let header = expected;
    if (this.config.header && records.length) {
      header = records.shift()!;
      const unknown = header.filter((h) => !expected.includes(h));
      if (unknown.length) {
        // Rewriting would drop those columns' data: refuse rather than lose what another tool wrote.
        throw new PermanentError(`${path} has column(s) ${unknown.map((h) => `"${h}"`).join(', ')} that are not configured (columns: ${expected.join(', ')}); add them to the configuration or remove them from the file`, {
          code: 'unknown_columns',
        });
      }
    } else if (!this.config.header && records.length && records[0].length !== expected.length) {
      throw new PermanentError(`${path} has ${records[0].length} columns per row; ${expected.length} are configured (${expected.join(', ')})`, { code: 'bad_file' });
    }
    const unescape = this.config.excelSafe ? excelUnescape : (v: string) => v;
    const rows = records.map((r) => {
      const row: Record<string, string> = {};
      header.forEach((h, i) => (row[h] = unescape(r[i] ?? '')));
      return row;
    });
    return { header, rows };
  }

  stringify(header: string[], rows: Array<Record<string, string>>): string {
    const escape = this.config.excelSafe ? excelEscape : (v: string) => v;
    const records = rows.map((row) => header.map((h) => escape(row[h] ?? '')));
    if (this.config.header) records.unshift(header);
    if (!records.length) return this.config.bom ? '\ufeff' : '';
    return stringify(records, {
      delimiter: this.config.delimiter,
      record_delimiter: this.config.lineEnding === 'crlf' ? 'windows' : 'unix',
      quoted: this.config.quoteAll,
      bom: this.config.bom,
      eof: true,
    });
  }
}

/** The capabilities every instance has; groups follow the `groups` setting. */
const BASE_CAPABILITIES: ConnectorCapabilities = {
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
};

/** The `csv` manifest. */
export const csvManifest: ConnectorManifest<CsvConfig> = {
  type: 'csv',
  displayName: 'CSV file (batch import)',
  version: '1.0.0',
  description: 'Keeps a CSV file (and optionally a groups file) that a legacy batch job imports; atomic rewrites, a deactivated flag column, RFC 4180 quoting.',
  configSchema: csvConfigSchema,
  capabilities: BASE_CAPABILITIES,
  defaultMapping: {
    givenName: 'name.givenName',
    familyName: 'name.familyName',
    displayName: 'displayName',
    email: 'emails[primary eq true].value',
    title: 'title',
    employeeNumber: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber',
    department: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department',
  },
  // The file the batch job reads; the connector has no secrets.
  targetIdentity: (c): TargetIdentity => ({ target: `file://${c.path}` }),
};

function cell(value: TargetValue | undefined, separator: string): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.join(separator);
  return String(value);
}

class CsvConnector implements Connector<CsvConfig> {
  private config!: CsvConfig;
  private columns: Column[] = [];
  private dialect!: Dialect;

  constructor(private readonly capabilities: ConnectorCapabilities) {}

  async init(ctx: InitContext<CsvConfig>): Promise<void> {
    this.config = ctx.config;
    this.columns = this.config.columns.map(normaliseColumn);
    this.dialect = new Dialect(this.config);
    Object.assign(this.capabilities, { groups: Boolean(this.config.groups), membership: Boolean(this.config.groups) } satisfies ConnectorCapabilities);
  }

  async dispose(): Promise<void> {}

  private get headers(): string[] {
    return this.columns.map((c) => c.header);
  }

  private column(kind: Column['kind']): Column | undefined {
    return this.columns.find((c) => c.kind === kind);
  }

  // --- keys and rows ----------------------------------------------------------------------

  private keyOf(user: TargetUser): TargetKey {
    const from = this.config.keyFrom;
    const value = typeof from === 'object' ? user.attributes[from.attribute] : from === 'userName' ? user.userName : from === 'scimId' ? user.scimId : user.externalId;
    const key = cell(value, this.config.multiValueSeparator);
    if (!key) throw new PermanentError(`user "${user.userName}" has no ${typeof from === 'object' ? `attribute ${from.attribute}` : from} for the key column`, { code: 'no_key' });
    return key;
  }

  private rowOf(user: TargetUser, key: TargetKey): Record<string, string> {
    const row: Record<string, string> = {};
    for (const c of this.columns) {
      switch (c.kind) {
        case 'key':
          row[c.header] = key;
          break;
        case 'userName':
          row[c.header] = user.userName;
          break;
        case 'externalId':
          row[c.header] = user.externalId ?? '';
          break;
        case 'scimId':
          row[c.header] = user.scimId;
          break;
        case 'attribute':
          row[c.header] = cell(user.attributes[c.attribute], this.config.multiValueSeparator);
          break;
        case 'flag':
          row[c.header] = user.active ? c.active : c.inactive;
          break;
      }
    }
    return row;
  }

  private entryOf(row: Record<string, string>): TargetEntry {
    const key = row[this.column('key')!.header];
    const userNameCol = this.column('userName');
    const externalCol = this.column('externalId');
    const flag = this.column('flag') as Extract<Column, { kind: 'flag' }>;
    const attributes: Record<string, TargetValue> = {};
    for (const c of this.columns) if (c.kind === 'attribute') attributes[c.attribute] = row[c.header] === '' ? null : (row[c.header] ?? null);
    const externalId = externalCol ? row[externalCol.header] : undefined;
    return {
      key,
      user: {
        userName: userNameCol ? row[userNameCol.header] : key,
        // Anything but the inactive word counts as active, as a batch job reading the flag would.
        active: row[flag.header] !== flag.inactive,
        ...(externalId ? { externalId } : {}),
        attributes,
      },
    };
  }

  private async readUsers(): Promise<Table> {
    const text = await readText(this.config.path);
    return text === undefined ? { header: this.headers, rows: [] } : this.dialect.parse(text, this.config.path, this.headers);
  }

  private async writeUsers(rows: Array<Record<string, string>>): Promise<void> {
    await writeAtomic(this.config.path, this.dialect.stringify(this.headers, rows));
  }

  private findRow(table: Table, key: TargetKey): number {
    const header = this.column('key')!.header;
    return table.rows.findIndex((r) => r[header] === key);
  }

  /** Read-modify-write under the in-process queue and the lock file; fs errors mapped. */
  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return serialised(this.config.path, async () => {
      try {
        return await withLockFile(this.config.path, { timeoutMs: this.config.lockTimeoutMs, staleMs: this.config.staleLockMs }, fn);
      } catch (err) {
        throw await fsError(err, this.config.path, 'update');
      }
    });
  }

  // --- users ------------------------------------------------------------------------------

  async createUser(user: TargetUser): Promise<KeyResult> {
    const key = this.keyOf(user);
    return this.exclusive(async () => {
      const table = await this.readUsers();
      const at = this.findRow(table, key);
      if (at >= 0) {
        const scimCol = this.column('scimId');
        const theirs = scimCol ? table.rows[at][scimCol.header] : '';
        if (theirs && theirs !== user.scimId) throw new ConflictError(`${this.config.path}: key "${key}" belongs to another user (SCIM id ${theirs})`);
        // The same key derived from the same user: a retry; the host turns it into an update.
        throw new AlreadyExistsError(`${this.config.path}: a row with key "${key}" exists`, key);
      }
      table.rows.push(this.rowOf(user, key));
      await this.writeUsers(table.rows);
      return { key };
    });
  }

  private async write(key: TargetKey, user: TargetUser): Promise<KeyResult> {
    const next = this.keyOf(user);
    return this.exclusive(async () => {
      const table = await this.readUsers();
      const at = this.findRow(table, key);
      if (at < 0) throw new NotFoundError(`${this.config.path}: no row with key "${key}"`);
      if (next !== key && this.findRow(table, next) >= 0) throw new ConflictError(`${this.config.path}: cannot change key "${key}" to "${next}": that key is taken`);
      table.rows[at] = this.rowOf(user, next);
      await this.writeUsers(table.rows);
      if (next !== key && this.config.groups) await this.renameMember(key, next);
      return { key: next };
    });
  }

  async updateUser(key: TargetKey, user: TargetUser): Promise<KeyResult> {
    return this.write(key, user);
  }

  async deactivateUser(key: TargetKey, user: TargetUser): Promise<KeyResult> {
    return this.write(key, { ...user, active: false });
  }

  async reactivateUser(key: TargetKey, user: TargetUser): Promise<KeyResult> {
    return this.write(key, { ...user, active: true });
  }

  async deleteUser(key: TargetKey): Promise<void> {
    await this.exclusive(async () => {
      const table = await this.readUsers();
      const at = this.findRow(table, key);
      if (at < 0) throw new NotFoundError(`${this.config.path}: no row with key "${key}"`);
      table.rows.splice(at, 1);
      await this.writeUsers(table.rows);
      // A deleted user leaves its groups, as a directory's referential integrity would do.
      if (this.config.groups) await this.renameMember(key, undefined);
    });
  }

  async *listUsers(): AsyncIterable<TargetEntry> {
    // Reads need no lock: the file is only ever replaced whole, by rename.
    const table = await this.readUsers();
    for (const row of table.rows) yield this.entryOf(row);
  }

  async findUser(query: UserQuery): Promise<TargetEntry | undefined> {
    // A file without an externalId column cannot be searched by it: nothing is found that way,
    // and the gateway goes on to look the userName up.
    if ('externalId' in query && !this.column('externalId')) return undefined;
    const table = await this.readUsers();
    for (const row of table.rows) {
      const entry = this.entryOf(row);
      if ('userName' in query ? entry.user.userName?.toLowerCase() === query.userName.toLowerCase() : entry.user.externalId === query.externalId) return entry;
    }
    return undefined;
  }

  // --- groups -----------------------------------------------------------------------------

  private get groups(): NonNullable<CsvConfig['groups']> {
    if (!this.config.groups) throw new PermanentError('groups are not configured (set "groups")', { code: 'not_configured' });
    return this.config.groups;
  }

  private groupHeaders(): string[] {
    const g = this.groups;
    const headers = [g.keyColumn];
    if (g.nameColumn !== g.keyColumn) headers.push(g.nameColumn);
    if (g.members.style === 'column') headers.push(g.members.column);
    return headers;
  }

  private async readGroups(): Promise<Table> {
    const text = await readText(this.groups.path);
    return text === undefined ? { header: this.groupHeaders(), rows: [] } : this.dialect.parse(text, this.groups.path, this.groupHeaders());
  }

  private async readMembership(): Promise<Table | undefined> {
    const m = this.groups.members;
    if (m.style !== 'file') return undefined;
    const header = [m.groupColumn, m.memberColumn];
    const text = await readText(m.path);
    return text === undefined ? { header, rows: [] } : this.dialect.parse(text, m.path, header);
  }

  /** Members of a group row (column style) or of the membership file. */
  private membersOf(groups: Table, membership: Table | undefined, key: TargetKey): TargetKey[] {
    const g = this.groups;
    if (g.members.style === 'file') {
      const m = g.members;
      return membership!.rows.filter((r) => r[m.groupColumn] === key).map((r) => r[m.memberColumn]);
    }
    const row = groups.rows.find((r) => r[g.keyColumn] === key);
    const text = row?.[g.members.column] ?? '';
    return text ? text.split(g.members.separator) : [];
  }

  /** Rewrites the group files with the changed tables; membership first, so no group lists a member twice. */
  private async saveGroups(groups: Table | undefined, membership: Table | undefined): Promise<void> {
    const g = this.groups;
    if (membership && g.members.style === 'file') await writeAtomic(g.members.path, this.dialect.stringify([g.members.groupColumn, g.members.memberColumn], membership.rows));
    if (groups) await writeAtomic(g.path, this.dialect.stringify(this.groupHeaders(), groups.rows));
  }

  private setMembers(groups: Table, membership: Table | undefined, key: TargetKey, members: TargetKey[]): void {
    const g = this.groups;
    const unique = [...new Set(members)];
    if (g.members.style === 'file') {
      const m = g.members;
      membership!.rows = membership!.rows.filter((r) => r[m.groupColumn] !== key).concat(unique.map((member) => ({ [m.groupColumn]: key, [m.memberColumn]: member })));
      return;
    }
    const sep = g.members.separator;
    const bad = unique.find((k) => k.includes(sep));
    if (bad) throw new PermanentError(`member key "${bad}" contains the members separator "${sep}"; choose another separator or a membership file`, { code: 'bad_key' });
    const row = groups.rows.find((r) => r[g.keyColumn] === key);
    if (row) row[g.members.column] = unique.join(sep);
  }

  /** A user's key changed (rename) or went away (delete): follow it in every group. */
  private async renameMember(from: TargetKey, to: TargetKey | undefined): Promise<void> {
    const groups = await this.readGroups();
    const membership = await this.readMembership();
    let changed = false;
    for (const row of groups.rows) {
      const key = row[this.groups.keyColumn];
      const members = this.membersOf(groups, membership, key);
      if (!members.includes(from)) continue;
      this.setMembers(groups, membership, key, members.flatMap((m) => (m === from ? (to === undefined ? [] : [to]) : [m])));
      changed = true;
    }
    if (changed) await this.saveGroups(groups, membership);
  }

  private groupKeyOf(group: TargetGroup): TargetKey {
    return this.groups.keyFrom === 'scimId' ? group.scimId : group.displayName;
  }

  async upsertGroup(group: TargetGroup, key: TargetKey | undefined): Promise<KeyResult> {
    const g = this.groups;
    const next = this.groupKeyOf(group);
    return this.exclusive(async () => {
      const groups = await this.readGroups();
      const membership = await this.readMembership();
      const current = groups.rows.find((r) => r[g.keyColumn] === (key ?? next));
      const taken = next !== (key ?? next) && groups.rows.some((r) => r[g.keyColumn] === next);
      if (taken) throw new ConflictError(`${g.path}: cannot change group key "${key}" to "${next}": that key is taken`);
      if (!current) {
        groups.rows.push({ [g.keyColumn]: next, [g.nameColumn]: group.displayName, ...(g.members.style === 'column' ? { [g.members.column]: '' } : {}) });
      } else {
        const members = this.membersOf(groups, membership, current[g.keyColumn]);
        if (membership && current[g.keyColumn] !== next) this.setMembers(groups, membership, current[g.keyColumn], []);
        current[g.keyColumn] = next;
        current[g.nameColumn] = group.displayName;
        if (membership) this.setMembers(groups, membership, next, members);
      }
      await this.saveGroups(groups, membership);
      return { key: next };
    });
  }

  async deleteGroup(key: TargetKey): Promise<void> {
    const g = this.groups;
    await this.exclusive(async () => {
      const groups = await this.readGroups();
      const membership = await this.readMembership();
      const at = groups.rows.findIndex((r) => r[g.keyColumn] === key);
      if (at < 0) throw new NotFoundError(`${g.path}: no group with key "${key}"`);
      if (membership) this.setMembers(groups, membership, key, []);
      groups.rows.splice(at, 1);
      await this.saveGroups(groups, membership);
    });
  }

  private async changeMembers(key: TargetKey, change: (members: TargetKey[]) => TargetKey[]): Promise<void> {
    const g = this.groups;
    await this.exclusive(async () => {
      const groups = await this.readGroups();
      const membership = await this.readMembership();
      if (!groups.rows.some((r) => r[g.keyColumn] === key)) throw new NotFoundError(`${g.path}: no group with key "${key}"`);
      const before = this.membersOf(groups, membership, key);
      const after = change(before);
      if (after.length === before.length && after.every((m, i) => m === before[i])) return; // no-op: nothing to rewrite
      this.setMembers(groups, membership, key, after);
      await this.saveGroups(g.members.style === 'column' ? groups : undefined, membership);
    });
  }

  async addMembers(key: TargetKey, memberKeys: TargetKey[]): Promise<void> {
    await this.changeMembers(key, (members) => [...members, ...memberKeys.filter((m) => !members.includes(m))]);
  }

  async removeMembers(key: TargetKey, memberKeys: TargetKey[]): Promise<void> {
    await this.changeMembers(key, (members) => members.filter((m) => !memberKeys.includes(m)));
  }

  // --- test and preview -------------------------------------------------------------------

  async test(): Promise<TestResult> {
    const path = this.config.path;
    const files = [path, ...(this.config.groups ? [this.config.groups.path] : []), ...(this.config.groups?.members.style === 'file' ? [this.config.groups.members.path] : [])];
    const notes: string[] = [];
    try {
      for (const dir of new Set(files.map((f) => dirname(f)))) await probeWritable(dir);
      const users = await readText(path);
      notes.push(users === undefined ? 'the file does not exist yet (created on the first write)' : `${this.dialect.parse(users, path, this.headers).rows.length} row(s) parsed`);
      if (this.config.groups) {
        const groups = await this.readGroups();
        await this.readMembership();
        notes.push(`groups file ${this.config.groups.path}: ${groups.rows.length} group(s)`);
      }
      return { ok: true, message: `CSV file ${path}: directory writable, ${notes.join('; ')}`, details: { path } };
    } catch (err) {
      const mapped = await fsError(err, path, 'use');
      return { ok: false, message: `CSV file ${path}: ${mapped.message}`, details: { path } };
    }
  }

  async preview(op: ConnectorOperation): Promise<Preview> {
    // Computed from the operation; reading the file would be allowed, writing never.
    const users = this.config.path;
    switch (op.kind) {
      case 'createUser': {
        const key = this.keyOf(op.user);
        return { requests: [{ description: `append row "${key}" to ${users}`, detail: { file: users, row: this.rowOf(op.user, key) } }] };
      }
      case 'updateUser':
      case 'deactivateUser':
      case 'reactivateUser': {
        const user = { ...op.user, active: op.kind === 'deactivateUser' ? false : op.kind === 'reactivateUser' ? true : op.user.active };
        const next = this.keyOf(user);
        return {
          requests: [{ description: `replace row "${op.key}"${next !== op.key ? ` (new key "${next}")` : ''} in ${users}`, detail: { file: users, row: this.rowOf(user, next) } }],
        };
      }
      case 'deleteUser':
        return { requests: [{ description: `remove row "${op.key}" from ${users}`, detail: { file: users } }] };
      case 'upsertGroup': {
        const next = this.groupKeyOf(op.group);
        return { requests: [{ description: `${op.key ? `update group row "${op.key}"` : `append group row "${next}"`} in ${this.groups.path}`, detail: { file: this.groups.path, key: next, name: op.group.displayName } }] };
      }
      case 'deleteGroup':
        return { requests: [{ description: `remove group row "${op.key}" from ${this.groups.path}` }] };
      case 'addMembers':
      case 'removeMembers': {
        const m = this.groups.members;
        const file = m.style === 'file' ? m.path : this.groups.path;
        return { requests: [{ description: `${op.kind === 'addMembers' ? 'add' : 'remove'} ${op.memberKeys.length} member(s) of group "${op.key}" in ${file}`, detail: { file, members: op.memberKeys } }] };
      }
    }
  }
}

/**
 * Creates the `csv` connector definition. Its manifest is a copy per definition: an instance
 * without a groups file turns the groups capabilities off (the gateway builds one definition per instance).
 */
export function createCsvConnector(): ConnectorDefinition<CsvConfig> {
  const manifest: ConnectorManifest<CsvConfig> = { ...csvManifest, capabilities: { ...BASE_CAPABILITIES } };
  return defineConnector(manifest, () => new CsvConnector(manifest.capabilities));
}

/** Internals for tests only. */
export const testing = { excelEscape, excelUnescape };
