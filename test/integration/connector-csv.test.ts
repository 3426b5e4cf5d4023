/**
 * SCIM in, row in a CSV file out: a real gateway with a `csv` connector keeping a users file and
 * a groups file in a temp directory, checked by parsing the files as a batch job would.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENTERPRISE, GROUP_SCHEMA, PATCH_OP, startTestGateway, user, waitFor, type TestGateway } from '../helpers/gateway.js';

let dir: string;
let gw: TestGateway;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'scim-bridge-e2e-csv-'));
  gw = await startTestGateway({
    connections: {
      default: {
        policies: { deleteMode: 'hard' },
        connectors: [
          {
            id: 'csv-1',
            type: 'csv',
            config: {
              path: join(dir, 'hr-import.csv'),
              delimiter: ';',
              bom: true,
              columns: [
                { header: 'login', field: 'key' },
                { header: 'first_name', attribute: 'givenName' },
                { header: 'last_name', attribute: 'familyName' },
                { header: 'mail', attribute: 'email' },
                { header: 'dept', attribute: 'department' },
                { header: 'disabled', flag: { active: 'N', inactive: 'Y' } },
              ],
              groups: { path: join(dir, 'hr-groups.csv'), keyFrom: 'displayName' },
            },
          },
        ],
      },
    },
  });
});
afterAll(async () => {
  await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function rows(name: string): Array<Record<string, string>> {
  try {
    return parse(readFileSync(join(dir, name)), { delimiter: ';', bom: true, columns: true }) as Array<Record<string, string>>;
  } catch {
    return [];
  }
}
const row = (login: string) => rows('hr-import.csv').find((r) => r.login === login);
const outboxEmpty = async () => (await gw.gateway.store.outboxList()).length === 0;

describe('csv connector end to end', () => {
  it('create, update, deactivate, group membership and delete land in the files', async () => {
    const c = gw.client;
    const created = await c.post(
      '/Users',
      user('ada.lovelace@example.com', {
        externalId: 'okta-00u2',
        name: { givenName: 'Ada', familyName: 'Lovelace, Countess' },
        emails: [{ value: 'ada@example.com', type: 'work', primary: true }],
        [ENTERPRISE]: { department: '=Analytical "Engines"' },
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE],
      }),
    );
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    await waitFor(() => row('ada.lovelace@example.com') !== undefined, 5_000, 'the row in the file');
    // The file as the batch job reads it: the comma and quotes survive, the formula is defused.
    expect(row('ada.lovelace@example.com')).toEqual({
      login: 'ada.lovelace@example.com',
      first_name: 'Ada',
      last_name: 'Lovelace, Countess',
      mail: 'ada@example.com',
      dept: `'=Analytical "Engines"`,
      disabled: 'N',
    });
    expect(readFileSync(join(dir, 'hr-import.csv'), 'utf8')).toContain(`"'=Analytical ""Engines"""`);

    await c.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'name.givenName', value: 'Augusta Ada' }] });
    await waitFor(() => row('ada.lovelace@example.com')?.first_name === 'Augusta Ada', 5_000, 'the update in the file');
    await c.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] });
    await waitFor(() => row('ada.lovelace@example.com')?.disabled === 'Y', 5_000, 'the deactivated flag');

    const group = await c.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Mathematicians', members: [{ value: id }] });
    expect(group.status).toBe(201);
    await waitFor(() => rows('hr-groups.csv').some((g) => g.id === 'Mathematicians' && g.members === 'ada.lovelace@example.com'), 5_000, 'the group row with its member');

    // A rename changes the key (the login column): the group follows it.
    await c.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'userName', value: 'ada.king@example.com' }] });
    await waitFor(() => row('ada.king@example.com') !== undefined && row('ada.lovelace@example.com') === undefined, 5_000, 'the renamed row');
    await waitFor(() => rows('hr-groups.csv').find((g) => g.id === 'Mathematicians')?.members === 'ada.king@example.com', 5_000, 'the group following the rename');

    expect((await c.delete(`/Users/${id}`)).status).toBe(204);
    await waitFor(() => row('ada.king@example.com') === undefined, 5_000, 'the row removed');
    await waitFor(outboxEmpty, 5_000, 'an empty outbox');
    expect(rows('hr-groups.csv').find((g) => g.id === 'Mathematicians')?.members).toBe('');
    expect(await gw.gateway.store.outboxList({ state: 'dead' })).toEqual([]);
  });
});
