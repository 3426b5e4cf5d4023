/** The custom provisioning hook: a JS module or a command that amends or vetoes writes, over HTTP. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP_SCHEMA, PATCH_OP, startTestGateway, user, type ScimClient, type TestGateway } from '../helpers/gateway.js';

const dir = mkdtempSync(join(tmpdir(), 'scim-bridge-hooks-'));
const moduleHook = join(dir, 'hook.mjs');
writeFileSync(
  moduleHook,
  `export default async function provision(input) {
    if (input.operation === 'delete') {
      return input.before.title === 'CEO' ? { allow: false, status: 409, detail: 'The CEO cannot be deprovisioned from SCIM.' } : undefined;
    }
    const after = input.after;
    if (input.type === 'User' && after.userName.startsWith('contractor-')) {
      return { allow: false, status: 403, detail: 'Contractors are provisioned by the vendor portal, not by SCIM.' };
    }
    if (input.type === 'User') return { resource: { ...after, title: (after.title ?? 'staff').toUpperCase() } };
    if (input.type === 'Group' && !after.displayName.startsWith('app-')) return { resource: { ...after, displayName: 'app-' + after.displayName } };
  }\n`,
);
const commandHook = join(dir, 'hook-command.mjs');
writeFileSync(
  commandHook,
  `let text = '';
  process.stdin.on('data', (c) => (text += c));
  process.stdin.on('end', () => {
    const input = JSON.parse(text);
    if (input.after?.userName === 'crash@example.com') { console.error('database locked'); process.exit(3); }
    if (input.after?.userName === 'slow@example.com') { setTimeout(() => {}, 60000); return; }
    if (input.after?.userName === 'garbage@example.com') { process.stdout.write('not json'); return; }
    process.stdout.write(JSON.stringify({ resource: { ...input.after, userType: 'Employee' } }));
  });\n`,
);

// Writes the environment it was started with to env-<connection>.json, and refuses the write.
const envHook = join(dir, 'hook-env.mjs');
writeFileSync(
  envHook,
  `import { writeFileSync } from 'node:fs';
  let text = '';
  process.stdin.on('data', (c) => (text += c));
  process.stdin.on('end', () => {
    writeFileSync(${JSON.stringify(dir)} + '/env-' + JSON.parse(text).connection + '.json', JSON.stringify(process.env));
    process.stdout.write(JSON.stringify({ allow: false, status: 400, detail: 'environment recorded' }));
  });\n`,
);
// A credential of the gateway's own (a database URL, a metrics token...) that no hook needs.
const GATEWAY_SECRET = 'SCIM_BRIDGE_TEST_DATABASE_PASSWORD';

let gw: TestGateway;
let mod: ScimClient;
let cmd: ScimClient;
let lenient: ScimClient;
let bare: ScimClient;
let envs: ScimClient;

beforeAll(async () => {
  process.env[GATEWAY_SECRET] = 'pg-s3cret';
  process.env.HR_DIRECTORY_URL = 'https://hr.example';
  gw = await startTestGateway({
    connections: {
      mod: { policies: { hook: { module: moduleHook } } },
      cmd: { policies: { hook: { command: [process.execPath, commandHook], timeoutMs: 1_500, resources: ['User'] } } },
      lenient: { policies: { hook: { command: [process.execPath, commandHook], timeoutMs: 1_500, onError: 'allow' } } },
      bare: { policies: { hook: { command: [process.execPath, envHook] } } },
      envs: { policies: { hook: { command: [process.execPath, envHook], env: { HR_REGION: 'eu' }, inheritEnv: ['HR_DIRECTORY_URL'] } } },
    },
  });
  mod = gw.clientFor('mod');
  cmd = gw.clientFor('cmd');
  lenient = gw.clientFor('lenient');
  bare = gw.clientFor('bare');
  envs = gw.clientFor('envs');
});
afterAll(async () => {
  delete process.env[GATEWAY_SECRET];
  delete process.env.HR_DIRECTORY_URL;
  await gw.stop();
  rmSync(dir, { recursive: true, force: true });
});

const count = async (c: ScimClient, userName: string) => (await c.get(`/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`)).body.totalResults;

describe('a module hook', () => {
  it('amends creates, PATCHes and groups', async () => {
    const u = await mod.post('/Users', user('ada@example.com', { title: 'engineer' }));
    expect(u.status).toBe(201);
    expect(u.body.title).toBe('ENGINEER');
    const p = await mod.patch(`/Users/${u.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'lead' }] });
    expect(p.body.title).toBe('LEAD');
    const g = await mod.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'finance', members: [{ value: u.body.id }] });
    expect(g.body.displayName).toBe('app-finance');
    expect(g.body.members).toEqual([expect.objectContaining({ value: u.body.id })]);
  });

  it('vetoes with its own status and detail, and nothing is stored', async () => {
    const r = await mod.post('/Users', user('contractor-bob@example.com'));
    expect(r.status).toBe(403);
    expect(r.body.detail).toBe('Contractors are provisioned by the vendor portal, not by SCIM.');
    expect(await count(mod, 'contractor-bob@example.com')).toBe(0);

    const ceo = (await mod.post('/Users', user('ceo@example.com', { title: 'CEO' }))).body;
    const del = await mod.delete(`/Users/${ceo.id}`);
    expect(del.status).toBe(409);
    expect(del.body.detail).toMatch(/CEO cannot be deprovisioned/);
    expect((await mod.get(`/Users/${ceo.id}`)).status).toBe(200);
  });
});

describe('a command hook', () => {
  it('amends through stdin/stdout', async () => {
    const r = await cmd.post('/Users', user('carol@example.com'));
    expect(r.status).toBe(201);
    expect(r.body.userType).toBe('Employee');
    // resources: ['User'] — groups pass untouched.
    expect((await cmd.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'plain' })).body.displayName).toBe('plain');
  });

  it('refuses with 503 when the hook fails, times out or prints garbage, and changes nothing', async () => {
    for (const [name, why] of [
      ['crash@example.com', /exited with code 3: database locked/],
      ['slow@example.com', /did not answer within 1500 ms/],
      ['garbage@example.com', /not JSON/],
    ] as const) {
      const r = await cmd.post('/Users', user(name));
      expect(r.status, name).toBe(503);
      expect(r.body.detail).toMatch(why);
      expect(await count(cmd, name)).toBe(0);
    }
  });

  it('lets writes through when the hook fails and onError is allow', async () => {
    expect((await lenient.post('/Users', user('crash@example.com'))).status).toBe(201);
  });
});

describe("a command hook's environment", () => {
  const envOf = async (c: ScimClient, connection: string) => {
    const r = await c.post('/Users', user('env@example.com'));
    expect(r.body.detail).toBe('environment recorded');
    return JSON.parse(readFileSync(join(dir, `env-${connection}.json`), 'utf8')) as Record<string, string>;
  };

  it("gets only an allow-list of the gateway's variables, never its credentials", async () => {
    const env = await envOf(bare, 'bare');
    expect(env[GATEWAY_SECRET]).toBeUndefined();
    expect(env.HR_DIRECTORY_URL).toBeUndefined();
    expect(env.PATH).toBe(process.env.PATH);
    expect(Object.keys(env).every((k) => ['PATH', 'LANG', 'LC_ALL', 'TZ', 'HOME', 'TMPDIR', 'SYSTEMROOT', 'TEMP', 'TMP'].includes(k))).toBe(true);
  });

  it('gets the fixed variables and the ones its configuration lets through', async () => {
    const env = await envOf(envs, 'envs');
    expect(env).toEqual({ HR_REGION: 'eu', HR_DIRECTORY_URL: 'https://hr.example' });
  });
});
