/**
 * SCIM in, rows out: a gateway with the sql connector feeding a real PostgreSQL and a real
 * MariaDB (table mode, the manifest's default mapping, passwords from the environment through
 * `{"$env": ...}`). Every check reads the databases directly, never through the connector.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENTERPRISE, GROUP_SCHEMA, PATCH_OP, startTestGateway, USER_SCHEMA, waitFor, type TestGateway } from '../helpers/gateway.js';
import { startMariadb, type MariadbServer } from '../servers/mariadb.js';
import { startPostgres, type PostgresServer } from '../servers/postgres.js';

let pg: PostgresServer;
let maria: MariadbServer;
let gw: TestGateway;

const PG_TABLES = [
  `CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_name text NOT NULL, external_id text, scim_id text UNIQUE,
     active boolean NOT NULL DEFAULT true, given_name text, family_name text, display_name text, email text, title text, department text, employee_number text)`,
  'CREATE UNIQUE INDEX users_user_name_lower ON users (lower(user_name))',
  'CREATE TABLE groups (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, display_name text NOT NULL, scim_id text UNIQUE)',
  `CREATE TABLE group_members (group_id bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
     user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE, PRIMARY KEY (group_id, user_id))`,
  'GRANT ALL ON ALL TABLES IN SCHEMA public TO scim',
];

const MARIA_TABLES = [
  `CREATE TABLE users (id INT AUTO_INCREMENT PRIMARY KEY, user_name VARCHAR(190) NOT NULL UNIQUE, external_id VARCHAR(190), scim_id CHAR(36) UNIQUE,
     active TINYINT(1) NOT NULL DEFAULT 1, given_name VARCHAR(100), family_name VARCHAR(100), display_name VARCHAR(190), email VARCHAR(190),
     title VARCHAR(100), department VARCHAR(100), employee_number VARCHAR(50)) ENGINE=InnoDB`,
  'CREATE TABLE `groups` (id INT AUTO_INCREMENT PRIMARY KEY, display_name VARCHAR(190) NOT NULL, scim_id CHAR(36) UNIQUE) ENGINE=InnoDB',
  `CREATE TABLE group_members (group_id INT NOT NULL, user_id INT NOT NULL, PRIMARY KEY (group_id, user_id),
     FOREIGN KEY (group_id) REFERENCES \`groups\` (id) ON DELETE CASCADE, FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE) ENGINE=InnoDB`,
];

/** Table mode as an admin would write it; the columns are the manifest's default mapping. */
function tableConfig(dialect: 'postgres' | 'mariadb', port: number, database: string, passwordEnv: string) {
  return {
    dialect,
    connection: { host: '127.0.0.1', port, database, user: 'scim', password: { $env: passwordEnv } },
    table: {
      users: {
        table: 'users',
        keyColumn: 'id',
        userNameColumn: 'user_name',
        externalIdColumn: 'external_id',
        scimIdColumn: 'scim_id',
        activeColumn: 'active',
        columns: ['given_name', 'family_name', 'display_name', 'email', 'title', 'department', 'employee_number'],
      },
      groups: { table: 'groups', keyColumn: 'id', displayNameColumn: 'display_name', scimIdColumn: 'scim_id' },
      memberships: { table: 'group_members', groupColumn: 'group_id', memberColumn: 'user_id' },
    },
  };
}

beforeAll(async () => {
  [pg, maria] = await Promise.all([startPostgres(), startMariadb()]);
  await pg.createDatabase('hard');
  for (const sql of PG_TABLES) {
    await pg.admin(sql);
    await pg.admin(sql, [], 'hard');
  }
  for (const sql of MARIA_TABLES) await maria.admin(sql);
  process.env.SCIM_BRIDGE_SECRET_SQL_E2E_PG = pg.password;
  process.env.SCIM_BRIDGE_SECRET_SQL_E2E_MARIA = maria.password;
  gw = await startTestGateway({
    connections: {
      default: {
        connectors: [
          { id: 'sql-pg', type: 'sql', config: tableConfig('postgres', pg.port, 'app', 'SCIM_BRIDGE_SECRET_SQL_E2E_PG') },
          { id: 'sql-maria', type: 'sql', config: tableConfig('mariadb', maria.port, 'app', 'SCIM_BRIDGE_SECRET_SQL_E2E_MARIA') },
        ],
      },
      hard: { policies: { deleteMode: 'hard' }, connectors: [{ id: 'sql-pg-hard', type: 'sql', config: tableConfig('postgres', pg.port, 'hard', 'SCIM_BRIDGE_SECRET_SQL_E2E_PG') }] },
    },
  });
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await Promise.allSettled([pg?.close(), maria?.close()]);
  delete process.env.SCIM_BRIDGE_SECRET_SQL_E2E_PG;
  delete process.env.SCIM_BRIDGE_SECRET_SQL_E2E_MARIA;
});

async function drained(): Promise<void> {
  await waitFor(async () => (await gw.gateway.store.outboxList()).length === 0, 10_000, 'the outbox to drain');
  expect(await gw.gateway.store.outboxList({ state: 'dead' })).toEqual([]);
}

type Row = Record<string, unknown>;
const pgUser = async (scimId: string, db = 'app') => (await pg.admin('SELECT * FROM users WHERE scim_id = $1', [scimId], db))[0];
const mariaUser = async (scimId: string) => (await maria.admin<Row>('SELECT * FROM users WHERE scim_id = ?', [scimId]))[0];

describe('sql connector end to end (PostgreSQL and MariaDB)', () => {
  it('starts both connectors with their passwords from the environment', async () => {
    const status = gw.gateway.connections.status();
    for (const id of ['sql-pg', 'sql-maria', 'sql-pg-hard']) expect(status.find((s) => s.id === id)?.state, JSON.stringify(status)).toBe('running');
    for (const id of ['sql-pg', 'sql-maria']) {
      const t = await gw.gateway.connectors.get(id)!.host.test();
      expect(t.ok, t.message).toBe(true);
    }
  });

  it('create, PATCH, deactivate and soft delete reach both databases', async () => {
    const c = gw.client;
    const created = await c.post('/Users', {
      schemas: [USER_SCHEMA, ENTERPRISE],
      userName: 'ada@example.com',
      externalId: 'okta-00u1',
      name: { givenName: 'Ada', familyName: 'Lovelace' },
      displayName: 'Ada Lovelace',
      emails: [{ value: 'ada@example.com', type: 'work', primary: true }],
      title: 'Countess',
      [ENTERPRISE]: { department: 'Mathematics', employeeNumber: '1815' },
      active: true,
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    await drained();
    const expected = {
      user_name: 'ada@example.com',
      external_id: 'okta-00u1',
      active: true,
      given_name: 'Ada',
      family_name: 'Lovelace',
      display_name: 'Ada Lovelace',
      email: 'ada@example.com',
      title: 'Countess',
      department: 'Mathematics',
      employee_number: '1815',
    };
    expect(await pgUser(id)).toMatchObject(expected);
    expect(await mariaUser(id)).toMatchObject({ ...expected, active: 1 });
    // The gateway links the SCIM id to each database's own row id.
    expect(await gw.gateway.store.linkOf('sql-pg', id)).toBe(String((await pgUser(id)).id));
    expect(await gw.gateway.store.linkOf('sql-maria', id)).toBe(String((await mariaUser(id)).id));

    await c.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { title: 'Analyst', 'name.familyName': 'King' } }] });
    await drained();
    expect(await pgUser(id)).toMatchObject({ title: 'Analyst', family_name: 'King', active: true });
    expect(await mariaUser(id)).toMatchObject({ title: 'Analyst', family_name: 'King', active: 1 });

    await c.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] });
    await drained();
    expect((await pgUser(id)).active).toBe(false);
    expect((await mariaUser(id)).active).toBe(0);

    await c.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: true }] });
    await drained();
    expect((await pgUser(id)).active).toBe(true);

    // The default delete mode is soft: the row stays, deactivated.
    expect((await c.delete(`/Users/${id}`)).status).toBe(204);
    await drained();
    expect((await pgUser(id)).active).toBe(false);
    expect((await mariaUser(id)).active).toBe(0);
  });

  it('a group with members, then a member removed, in both databases', async () => {
    const c = gw.client;
    const ids: string[] = [];
    for (const name of ['grace', 'alan', 'edsger']) {
      ids.push((await c.post('/Users', { schemas: [USER_SCHEMA], userName: `${name}@example.com`, name: { givenName: name } })).body.id);
    }
    const group = await c.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Engineering', members: ids.map((value) => ({ value })) });
    expect(group.status).toBe(201);
    await drained();

    const pgMembers = async () =>
      (await pg.admin<{ user_name: string }>('SELECT u.user_name FROM group_members m JOIN groups g ON g.id = m.group_id JOIN users u ON u.id = m.user_id WHERE g.scim_id = $1 ORDER BY 1', [group.body.id])).map((r) => r.user_name);
    const mariaMembers = async () =>
      (await maria.admin<{ user_name: string }>('SELECT u.user_name FROM group_members m JOIN `groups` g ON g.id = m.group_id JOIN users u ON u.id = m.user_id WHERE g.scim_id = ? ORDER BY 1', [group.body.id])).map((r) => r.user_name);
    const all = ['alan@example.com', 'edsger@example.com', 'grace@example.com'];
    expect(await pgMembers()).toEqual(all);
    expect(await mariaMembers()).toEqual(all);
    expect((await pg.admin('SELECT display_name FROM groups WHERE scim_id = $1', [group.body.id]))[0].display_name).toBe('Engineering');

    await c.patch(`/Groups/${group.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${ids[1]}"]` }] });
    await c.patch(`/Groups/${group.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'Engineers' }] });
    await drained();
    expect(await pgMembers()).toEqual(['edsger@example.com', 'grace@example.com']);
    expect(await mariaMembers()).toEqual(['edsger@example.com', 'grace@example.com']);
    expect((await maria.admin<Row>('SELECT display_name FROM `groups` WHERE scim_id = ?', [group.body.id]))[0].display_name).toBe('Engineers');

    expect((await c.delete(`/Groups/${group.body.id}`)).status).toBe(204);
    await drained();
    expect(await pg.admin('SELECT * FROM groups WHERE scim_id = $1', [group.body.id])).toEqual([]);
    expect(await maria.admin('SELECT * FROM `groups` WHERE scim_id = ?', [group.body.id])).toEqual([]);
  });

  it('with deleteMode hard, DELETE removes the row', async () => {
    const hard = gw.clientFor('hard');
    const u = (await hard.post('/Users', { schemas: [USER_SCHEMA], userName: 'temp@example.com', name: { givenName: 'Temp' } })).body;
    await drained();
    expect(await pgUser(u.id, 'hard')).toMatchObject({ user_name: 'temp@example.com', given_name: 'Temp', active: true });
    expect((await hard.delete(`/Users/${u.id}`)).status).toBe(204);
    await drained();
    expect(await pgUser(u.id, 'hard')).toBeUndefined();
  });
});
