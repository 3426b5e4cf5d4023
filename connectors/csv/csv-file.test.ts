/**
 * The csv connector's file handling on a real disk: RFC 4180 quoting, formula-injection
 * protection, BOM and line endings, header checks, atomic rewrites seen by a concurrent reader,
 * serialised writes in one process and the lock file against another instance.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PermanentError, TransientError, createConnectorHost, type ConnectorHost, type TargetUser } from '../sdk/index.js';
import { createCsvConnector, type CsvConfig } from './index.js';

let dir: string;
const hosts: ConnectorHost<CsvConfig>[] = [];
const children: ChildProcess[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scim-bridge-csv-file-'));
});
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.dispose();
  for (const c of children.splice(0)) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});
afterAll(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

const columns = [{ header: 'login', field: 'key' }, 'givenName', 'sn', 'note', { header: 'active', flag: { active: 'true', inactive: 'false' } }];

async function hostWith(config: Record<string, unknown> = {}, definition = createCsvConnector()): Promise<ConnectorHost<CsvConfig>> {
  const host = await createConnectorHost(definition, { config: { path: join(dir, 'users.csv'), columns, ...config }, secrets: {} });
  hosts.push(host);
  return host;
}

function user(userName: string, attributes: TargetUser['attributes'] = {}): TargetUser {
  return { scimId: randomUUID(), userName, active: true, attributes: { givenName: 'Ada', sn: 'Lovelace', note: '', ...attributes } };
}

const op = () => ({ operationId: randomUUID() });
const raw = (name = 'users.csv') => readFileSync(join(dir, name), 'utf8');
const rows = (name = 'users.csv', delimiter = ',') => parse(readFileSync(join(dir, name)), { delimiter, bom: true, columns: true }) as Array<Record<string, string>>;

describe('quoting (RFC 4180)', () => {
  const tricky = ['a, b', 'say "hi"', 'two\nlines', 'cr\r\nlf', '  padded  ', 'Zoë 北京 ✓', ''];

  it('writes commas, quotes, line breaks and spaces so that any RFC 4180 reader gets them back', async () => {
    const host = await hostWith();
    for (const [i, note] of tricky.entries()) await host.apply({ kind: 'createUser', ...op(), user: user(`u${i}`, { note }) });
    expect(rows().map((r) => r.note)).toEqual(tricky);
    expect(raw()).toContain('"say ""hi"""');
    expect(raw()).toContain('"a, b"');
    expect(raw().startsWith('login,givenName,sn,note,active\r\n')).toBe(true);
    const listed: string[] = [];
    for await (const e of host.listUsers()) listed.push(String(e.user.attributes?.note ?? ''));
    expect(listed).toEqual(tricky);
  });

  it('uses the configured delimiter, line ending, quote-all and BOM', async () => {
    const host = await hostWith({ delimiter: ';', lineEnding: 'lf', quoteAll: true, bom: true });
    await host.apply({ kind: 'createUser', ...op(), user: user('ada', { note: 'a;b' }) });
    const bytes = readFileSync(join(dir, 'users.csv'));
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(bytes.subarray(3).toString('utf8')).toBe('"login";"givenName";"sn";"note";"active"\n"ada";"Ada";"Lovelace";"a;b";"true"\n');
    expect((await host.findUser({ userName: 'ADA' }))?.user.attributes).toEqual({ givenName: 'Ada', sn: 'Lovelace', note: 'a;b' });
  });

  it('joins a multi-valued attribute with the configured separator', async () => {
    const host = await hostWith({ multiValueSeparator: '|' });
    await host.apply({ kind: 'createUser', ...op(), user: user('ada', { note: ['x', 'y'] }) });
    expect(rows()[0].note).toBe('x|y');
  });
});

describe('formula injection (excelSafe)', () => {
  const formulas = ['=HYPERLINK("http://evil.example","click")', '+1+1', '-2', '@SUM(A1:A2)', '\tTAB', "'=already quoted", 'plain'];

  it('prefixes cells a spreadsheet would run with a quote by default, and reads them back unchanged', async () => {
    const host = await hostWith();
    for (const [i, note] of formulas.entries()) await host.apply({ kind: 'createUser', ...op(), user: user(`u${i}`, { note }) });
    expect(rows().map((r) => r.note)).toEqual(['\'=HYPERLINK("http://evil.example","click")', "'+1+1", "'-2", "'@SUM(A1:A2)", "'\tTAB", "''=already quoted", 'plain']);
    const listed: string[] = [];
    for await (const e of host.listUsers()) listed.push(String(e.user.attributes?.note));
    expect(listed).toEqual(formulas);
  });

  it('can be turned off for a file only a batch job reads: it then gets the values as they are', async () => {
    const host = await hostWith({ excelSafe: false });
    await host.apply({ kind: 'createUser', ...op(), user: user('u', { note: '=1+1' }) });
    expect(rows()[0].note).toBe('=1+1');
  });
});

describe('the file as another tool left it', () => {
  it('reads columns in any order and rewrites them in the configured order', async () => {
    writeFileSync(join(dir, 'users.csv'), 'active,sn,login,givenName,note\nfalse,Hopper,grace,Grace,x\n');
    const host = await hostWith();
    expect(await host.findUser({ userName: 'grace' })).toEqual({ key: 'grace', user: { userName: 'grace', active: false, attributes: { givenName: 'Grace', sn: 'Hopper', note: 'x' } } });
    await host.apply({ kind: 'createUser', ...op(), user: user('ada') });
    expect(raw()).toBe('login,givenName,sn,note,active\r\ngrace,Grace,Hopper,x,false\r\nada,Ada,Lovelace,,true\r\n');
  });

  it('refuses to rewrite a file with a column it does not know (its data would be lost), and test() says which', async () => {
    writeFileSync(join(dir, 'users.csv'), 'login,givenName,sn,note,active,cost_center\nada,Ada,L,,true,42\n');
    const host = await hostWith();
    const err = await host.apply({ kind: 'createUser', ...op(), user: user('bob') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as Error).message).toContain('column(s) "cost_center" that are not configured');
    expect(raw()).toContain('cost_center');
    const t = await host.test();
    expect(t.ok).toBe(false);
    expect(t.message).toContain(join(dir, 'users.csv'));
    expect(t.message).toContain('cost_center');
  });

  it('names the file and the problem when it is not valid CSV', async () => {
    writeFileSync(join(dir, 'users.csv'), 'login,givenName,sn,note,active\n"ada,Ada\n');
    const host = await hostWith();
    const t = await host.test();
    expect(t.ok).toBe(false);
    expect(t.message).toMatch(/is not valid CSV/);
  });

  it('works without a header row, by position', async () => {
    writeFileSync(join(dir, 'users.csv'), 'grace,Grace,Hopper,,true\n');
    const host = await hostWith({ header: false, lineEnding: 'lf' });
    await host.apply({ kind: 'deactivateUser', ...op(), key: 'grace', user: { ...user('grace'), active: false } });
    expect(raw()).toBe('grace,Ada,Lovelace,,false\n');
  });
});

describe('atomic rewrites and concurrency', () => {
  it('a reader running alongside the writes always sees a complete file; no temp file is left', async () => {
    const host = await hostWith();
    await host.apply({ kind: 'createUser', ...op(), user: user('seed') });
    chmodSync(join(dir, 'users.csv'), 0o640);
    let reading = true;
    let reads = 0;
    let last = 0;
    const reader = (async () => {
      while (reading) {
        // Every read must parse and never see fewer rows than before.
        const n = rows().length;
        expect(n).toBeGreaterThanOrEqual(last);
        last = n;
        reads++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    for (let i = 0; i < 40; i++) await host.apply({ kind: 'createUser', ...op(), user: user(`w${i}`, { note: 'x'.repeat(1000) }) });
    reading = false;
    await reader;
    expect(rows()).toHaveLength(41);
    expect(reads).toBeGreaterThan(10);
    expect(readdirSync(dir).sort()).toEqual(['users.csv']);
    expect(statSync(join(dir, 'users.csv')).mode & 0o777).toBe(0o640);
  });

  it('concurrent operations in one process are serialised: nothing is lost', async () => {
    const host = await hostWith();
    await Promise.all(Array.from({ length: 40 }, (_, i) => host.apply({ kind: 'createUser', ...op(), user: user(`c${i}`) })));
    expect(rows()).toHaveLength(40);
  });

  it('two gateway instances (separate module instances, no shared queue) are kept apart by the lock', async () => {
    const a = await hostWith();
    vi.resetModules();
    const other = (await import('./index.js')) as typeof import('./index.js');
    const b = await hostWith({}, other.createCsvConnector());
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => [
        a.apply({ kind: 'createUser', ...op(), user: user(`a${i}`) }),
        b.apply({ kind: 'createUser', ...op(), user: user(`b${i}`) }),
      ]).flat(),
    );
    expect(rows()).toHaveLength(40);
    expect(existsSync(join(dir, 'users.csv.lock'))).toBe(false);
  });

  it('waits for a lock held by a live process, then fails with a TransientError naming it', async () => {
    const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(holder);
    const { hostname } = await import('node:os');
    mkdirSync(join(dir, 'users.csv.lock'));
    writeFileSync(join(dir, 'users.csv.lock', 'owner.json'), JSON.stringify({ pid: holder.pid, host: hostname(), at: new Date().toISOString(), token: 'x' }));
    const host = await hostWith({ lockTimeoutMs: 300 });
    const started = Date.now();
    const err = await host.apply({ kind: 'createUser', ...op(), user: user('ada') }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(err).toBeInstanceOf(TransientError);
    expect(err).toMatchObject({ code: 'locked' });
    expect((err as Error).message).toContain(`locked by process ${holder.pid} on ${hostname()}`);
    // The holder dies without removing its lock: the next write takes the lock over.
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    expect((await host.apply({ kind: 'createUser', ...op(), user: user('ada') })).outcome).toBe('applied');
    expect(existsSync(join(dir, 'users.csv.lock'))).toBe(false);
  });

  it('two instances meeting the same stale lock take it over without losing a write', async () => {
    const lock = join(dir, 'users.csv.lock');
    mkdirSync(lock);
    writeFileSync(join(lock, 'owner.json'), JSON.stringify({ pid: 1, host: 'crashed-host', at: '2020-01-01T00:00:00Z', token: 'z' }));
    const old = new Date(Date.now() - 120_000);
    utimesSync(lock, old, old);
    const a = await hostWith();
    vi.resetModules();
    const other = (await import('./index.js')) as typeof import('./index.js');
    const b = await hostWith({}, other.createCsvConnector());
    await Promise.all(
      Array.from({ length: 15 }, (_, i) => [
        a.apply({ kind: 'createUser', ...op(), user: user(`a${i}`) }),
        b.apply({ kind: 'createUser', ...op(), user: user(`b${i}`) }),
      ]).flat(),
    );
    expect(rows()).toHaveLength(30);
    expect(readdirSync(dir).sort()).toEqual(['users.csv']);
  });

  it('takes over a lock left by another host once it is older than staleLockMs', async () => {
    const lock = join(dir, 'users.csv.lock');
    mkdirSync(lock);
    writeFileSync(join(lock, 'owner.json'), JSON.stringify({ pid: 1, host: 'some-other-host', at: '2020-01-01T00:00:00Z', token: 'y' }));
    const host = await hostWith({ lockTimeoutMs: 200, staleLockMs: 60_000 });
    expect(await host.apply({ kind: 'createUser', ...op(), user: user('ada') }).catch((e: unknown) => e)).toBeInstanceOf(TransientError);
    const old = new Date(Date.now() - 120_000);
    utimesSync(lock, old, old);
    expect((await host.apply({ kind: 'createUser', ...op(), user: user('ada') })).outcome).toBe('applied');
  });
});

describe('test(), preview and capabilities', () => {
  it('test() names the path, what it found, and a missing directory', async () => {
    const host = await hostWith();
    expect((await host.test()).message).toBe(`CSV file ${join(dir, 'users.csv')}: directory writable, the file does not exist yet (created on the first write)`);
    await host.apply({ kind: 'createUser', ...op(), user: user('ada') });
    expect((await host.test()).message).toBe(`CSV file ${join(dir, 'users.csv')}: directory writable, 1 row(s) parsed`);
    const missing = await createConnectorHost(createCsvConnector(), { config: { path: join(dir, 'nope', 'users.csv'), columns }, secrets: {} });
    hosts.push(missing);
    const t = await missing.test();
    expect(t.ok).toBe(false);
    expect(t.message).toContain(`directory ${join(dir, 'nope')} does not exist`);
  });

  it('preview shows the row that would be written and writes nothing', async () => {
    const host = await hostWith();
    const u = user('ada', { note: 'hello' });
    const plan = await host.dryRun({ kind: 'createUser', operationId: 'p', user: u });
    expect(plan.requests).toEqual([{ description: `append row "ada" to ${join(dir, 'users.csv')}`, detail: { file: join(dir, 'users.csv'), row: { login: 'ada', givenName: 'Ada', sn: 'Lovelace', note: 'hello', active: 'true' } } }]);
    expect(existsSync(join(dir, 'users.csv'))).toBe(false);
  });

  it('without a groups file the groups capabilities are off; a bad column set is refused at start', async () => {
    const host = await hostWith();
    expect(host.manifest.capabilities).toMatchObject({ groups: false, membership: false, read: true, lookup: true });
    // No externalId column: a lookup by externalId finds nothing (the gateway then asks by userName).
    await host.apply({ kind: 'createUser', ...op(), user: { ...user('ada'), externalId: 'okta-1' } });
    expect(await host.findUser({ externalId: 'okta-1' })).toBeUndefined();
    expect((await host.findUser({ userName: 'ada' }))?.key).toBe('ada');
    const err = await hostWith({ columns: ['givenName'] }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/exactly one column must be \{ "field": "key" \}/);
  });
});

describe('README', () => {
  it('the example configuration is valid and enables groups', async () => {
    const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
    const example = JSON.parse(/```json\n([\s\S]*?)\n```/.exec(readme)![1]);
    const host = await createConnectorHost(createCsvConnector(), { config: example.connections.default.connectors[0].config, secrets: {} });
    hosts.push(host);
    expect(host.manifest.capabilities).toMatchObject({ groups: true, membership: true, read: true, lookup: true });
  });
});
