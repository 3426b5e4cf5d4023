/**
 * The conformance kit against real CSV files in a temp directory, read back with csv-parse
 * directly (never through the connector). "Target down" is the directory going away, as when
 * the share the batch job reads is unmounted.
 */
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { runConnectorConformance } from '../sdk/conformance.js';
import { createCsvConnector } from './index.js';

/** Reads a CSV file as header -> cell rows, the way a batch job would. */
function readCsv(path: string, delimiter = ','): Array<Record<string, string>> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return parse(text, { delimiter, bom: true, columns: true, skip_empty_lines: true }) as Array<Record<string, string>>;
}

interface Variant {
  name: string;
  config: (dir: string) => Record<string, unknown>;
  delimiter: string;
  /** Column holding the key, the userName, and the flag words. */
  key: string;
  userName: string;
  flag: { header: string; inactive: string };
  members: (dir: string, groupKey: string) => string[] | undefined;
}

const variants: Variant[] = [
  {
    name: 'keyed by userName, members in a column, excelSafe off',
    config: (dir) => ({
      path: join(dir, 'users.csv'),
      excelSafe: false,
      columns: [{ header: 'login', field: 'key' }, { header: 'external_id', field: 'externalId' }, 'givenName', 'sn', 'mail', { header: 'disabled', flag: { active: 'N', inactive: 'Y' } }],
      groups: { path: join(dir, 'groups.csv') },
    }),
    delimiter: ',',
    key: 'login',
    userName: 'login',
    flag: { header: 'disabled', inactive: 'Y' },
    members: (dir, key) => {
      const row = readCsv(join(dir, 'groups.csv')).find((r) => r.id === key);
      return row && (row.members ? row.members.split(';') : []);
    },
  },
  {
    name: 'keyed by SCIM id, semicolons, BOM, Excel-safe (the default), membership file',
    config: (dir) => ({
      path: join(dir, 'people.csv'),
      delimiter: ';',
      lineEnding: 'lf',
      bom: true,
      keyFrom: 'scimId',
      columns: [{ header: 'id', field: 'key' }, { header: 'user', field: 'userName' }, { header: 'first', attribute: 'givenName' }, { header: 'last', attribute: 'sn' }, { header: 'email', attribute: 'mail' }, { header: 'status', flag: { active: 'enabled', inactive: 'disabled' } }],
      groups: { path: join(dir, 'teams.csv'), keyFrom: 'displayName', members: { style: 'file', path: join(dir, 'team-members.csv') } },
    }),
    delimiter: ';',
    key: 'id',
    userName: 'user',
    flag: { header: 'status', inactive: 'disabled' },
    members: (dir, key) => {
      if (!readCsv(join(dir, 'teams.csv'), ';').some((r) => r.id === key)) return undefined;
      return readCsv(join(dir, 'team-members.csv'), ';').filter((r) => r.group === key).map((r) => r.member);
    },
  },
];

for (const v of variants) {
  let base: string;
  let dir: string;
  let config: Record<string, unknown>;
  const users = () => readCsv(config.path as string, v.delimiter);
  const attributesOf = (row: Record<string, string>) =>
    v.key === 'login' ? { givenName: row.givenName, sn: row.sn, mail: row.mail } : { givenName: row.first, sn: row.last, mail: row.email };

  runConnectorConformance(
    `csv (${v.name})`,
    async () => {
      base = mkdtempSync(join(tmpdir(), 'scim-bridge-csv-'));
      dir = join(base, 'share');
      mkdirSync(dir);
      config = v.config(dir);
      return {
        definition: createCsvConnector(),
        config,
        secrets: {},
        hostLabel: config.path as string,
        teardown: async () => rmSync(base, { recursive: true, force: true }),
      };
    },
    {
      async readUser(key) {
        const row = users().find((r) => r[v.key] === key);
        return row && { userName: row[v.userName], active: row[v.flag.header] !== v.flag.inactive, attributes: attributesOf(row) };
      },
      async readGroup(key) {
        const file = v.key === 'login' ? join(dir, 'groups.csv') : join(dir, 'teams.csv');
        const row = readCsv(file, v.delimiter).find((r) => r.id === key);
        return row && { displayName: row.name };
      },
      readGroupMembers: async (key) => v.members(dir, key),
      countUsers: async (userName) => users().filter((r) => r[v.userName].toLowerCase() === userName.toLowerCase()).length,
      // An unmounted share: the directory is gone, then comes back with its files.
      stop: async () => renameSync(dir, `${dir}.unmounted`),
      start: async () => {
        try {
          renameSync(`${dir}.unmounted`, dir);
        } catch {
          /* already back */
        }
      },
      reset: async () => {
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir);
      },
    },
  );
}
