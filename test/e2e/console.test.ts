/**
 * The console's pages in Chromium against a started gateway: sign-in and lockout, the status
 * page with real SCIM traffic, creating and revoking a token, a connector configured with a
 * secret and tested, a dry run, failed outbox entries (target down; target refusing) retried from
 * the Outbox page, users and groups, the audit log filter and export, a guide's test request.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DemoDirectory } from '../../connectors/demo/index.js';
import { createToken } from '../../src/gateway/auth/index.js';
import { ScimClient, user, waitFor } from '../helpers/gateway.js';
import { chromiumAvailable, collectPageErrors, createAdmin, ensureConsoleBuilt, openBrowser, shot, startConsoleGateway, type Browser, type ConsoleRig } from './harness.js';

const PASSWORD = 'console e2e passphrase';
const ACCESS_KEY = 'warehouse-key-7Q';

class Clock {
  offset = 0;
  now = () => Date.now() + this.offset;
}

describe.skipIf(!chromiumAvailable())('console pages', () => {
  let rig: ConsoleRig;
  let browser: Browser;
  let errors: string[];
  let scim: ScimClient;
  let scimToken: string;
  const clock = new Clock();
  const directory = new DemoDirectory({ accessKey: ACCESS_KEY });

  beforeAll(async () => {
    ensureConsoleBuilt();
    rig = await startConsoleGateway({ admin: { now: clock.now } }, directory);
    await createAdmin(rig, 'admin', PASSWORD);
    scimToken = createToken(rig.dataDir, { name: 'Okta' }).token;
    scim = new ScimClient(rig.gateway.scimUrl, scimToken);
    for (const n of ['ada', 'grace', 'linus', 'margaret']) expect((await scim.post('/Users', user(`${n}@example.com`, { displayName: n[0].toUpperCase() + n.slice(1), name: { givenName: n, familyName: 'Example' }, emails: [{ value: `${n}@example.com`, primary: true }] }))).status).toBe(201);
    await scim.post('/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Engineering' });
    await scim.post('/Users', { schemas: [] }); // a refusal, for the error rate
    browser = await openBrowser();
    errors = collectPageErrors(browser.page);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await rig?.stop();
  });

  it('signs in, and locks the account after five wrong passwords', async () => {
    const { page } = browser;
    await page.goto(rig.gateway.adminUrl);
    await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
    await shot(page, '10-login');
    for (let i = 1; i <= 4; i++) {
      await page.getByLabel('User name').fill('admin');
      await page.getByLabel('Password').fill(`wrong password ${i}`);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('The user name or password is not right.').waitFor();
    }
    // The last tries carry a warning.
    await page.getByText('1 more failed attempt from this address will lock this account here for 15 minutes.').waitFor();
    await page.getByLabel('Password').fill('wrong password 5');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText(/Too many failed attempts for this account from this address\. Try again in 15 minutes, .*scim-bridge admin unlock admin/).waitFor();
    await shot(page, '11-login-locked');
    // Locked: the right password is refused too, until the lockout ends.
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText(/Try again in 1[45] minutes/).waitFor();
    clock.offset += 16 * 60_000;
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Status', level: 1 }).waitFor();
  });

  it('shows each connection as Connected, with its last request and the traffic chart', async () => {
    const { page } = browser;
    await scim.get('/Users?count=1');
    await page.reload();
    const card = page.locator('.connection-card', { hasText: 'default' });
    await card.getByText('Connected', { exact: true }).waitFor();
    await card.getByText('GET /Users').waitFor();
    expect(await page.getByRole('img', { name: /All connections, last 60 minutes: \d+ requests/ }).count()).toBe(1);
    await shot(page, '12-status');
  });

  it('creates a token shown once, and revokes it', async () => {
    const { page } = browser;
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Tokens' }).click();
    await page.getByRole('heading', { name: 'Tokens', level: 1 }).waitFor();
    await page.getByLabel('Name').fill('Entra provisioning');
    await page.getByRole('button', { name: 'Create token' }).click();
    const value = await page.getByTestId('token-value').inputValue();
    expect(value).toMatch(/^scb_/);
    const client = new ScimClient(rig.gateway.scimUrl, value);
    expect((await client.get('/Users?count=1')).status).toBe(200);
    await shot(page, '13-token-created');

    await page.getByRole('button', { name: 'Revoke Entra provisioning' }).click();
    const dialog = page.getByRole('dialog', { name: 'Revoke "Entra provisioning"?' });
    await dialog.waitFor();
    await shot(page, '14-token-revoke-dialog');
    await dialog.getByRole('button', { name: 'Revoke token' }).click();
    await page.getByText('Token "Entra provisioning" revoked').waitFor();
    await waitFor(async () => (await client.get('/Users?count=1')).status === 401, 3_000, 'revoked token refused');
    // The list never shows a token's value again.
    expect(await page.content()).not.toContain(value);
    expect(await page.getByRole('row', { name: /Entra provisioning/ }).count()).toBe(0);
    await page.getByRole('button', { name: /Show revoked and expired/ }).click();
    await page.getByRole('row', { name: /Entra provisioning/ }).getByText('Revoked').waitFor();
    await shot(page, '15-tokens');
  });

  it('adds a connector with a secret, tests it, and previews a user', async () => {
    const { page } = browser;
    await page.goto(`${rig.gateway.adminUrl}/#/connectors`);
    await page.getByText('No connectors yet').waitFor();
    await shot(page, '16-connectors-empty');
    await page.getByRole('button', { name: 'Add connector' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add a connector' });
    await dialog.getByLabel('Id', { exact: true }).fill('warehouse');
    await dialog.getByLabel('Name', { exact: true }).fill('warehouse');
    // Without the access key the target refuses; with it the test passes.
    await dialog.getByRole('button', { name: 'Test connection' }).click();
    await dialog.getByText('Connection failed').waitFor();
    await dialog.getByText(/refused the access key/).waitFor();
    await dialog.getByLabel('Access key (optional)').fill(ACCESS_KEY);
    await dialog.getByRole('button', { name: 'Test connection' }).click();
    await dialog.getByText('Connection works').waitFor();
    await shot(page, '17-connector-form');
    await dialog.getByRole('button', { name: 'Add connector' }).click();
    await page.getByText('Connector warehouse saved').waitFor();
    const card = page.locator('.connector-card', { hasText: 'warehouse' });
    await card.getByText('Running').waitFor();
    await card.locator('li', { hasText: 'accessKey' }).getByText('set', { exact: true }).waitFor();
    expect(await page.content()).not.toContain(ACCESS_KEY);
    await card.getByRole('button', { name: 'Test connection of warehouse' }).click();
    await card.getByText('Connection works').waitFor();

    // New changes reach it (users from before it existed wait for a reconciliation); the dry run shows what an update would send.
    expect((await scim.post('/Users', user('joan@example.com', { displayName: 'Joan' }))).status).toBe(201);
    await waitFor(() => directory.users.has('users/joan@example.com'), 5_000, 'joan delivered');
    await card.getByRole('button', { name: 'Dry run of warehouse' }).click();
    const dry = page.getByRole('dialog', { name: 'Dry run: warehouse' });
    await dry.getByLabel('Find a user').fill('joan');
    await dry.getByRole('button', { name: 'Search' }).click();
    await dry.getByRole('button', { name: 'joan@example.com' }).click();
    await dry.getByText('Update user: update user "joan@example.com" at users/joan@example.com').waitFor();
    await dry.getByText('PUT users/joan@example.com').waitFor();
    await shot(page, '18-dry-run');
    await dry.getByRole('button', { name: 'Close' }).click();
    await shot(page, '19-connectors');
  });

  it('shows failed outbox entries with their error, and retries one from the Outbox page', async () => {
    const { page } = browser;
    // Target down: the entry fails and waits for a retry, with the network error.
    directory.down = true;
    const outage = await scim.post('/Users', user('outage@example.com'));
    expect(outage.status).toBe(201);
    await page.goto(`${rig.gateway.adminUrl}/#/outbox`);
    const row = page.getByRole('row', { name: /outage@example.com/ });
    await row.waitFor();
    await row.getByText(/ECONNREFUSED/).waitFor();
    await shot(page, '20-outbox-failing');
    directory.down = false;
    await waitFor(() => directory.users.has('users/outage@example.com'), 15_000, 'delivered after the target came back');

    // Target refuses: the account was removed behind the gateway's back; the update is a dead letter.
    const record = directory.users.get('users/outage@example.com')!;
    directory.users.delete('users/outage@example.com');
    await scim.patch(`/Users/${outage.body.id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'displayName', value: 'Outage test' }] });
    await page.getByRole('button', { name: /Dead letters/ }).click();
    const dead = page.getByRole('row', { name: /outage@example.com/ });
    await dead.getByText(/no user at users\/outage@example.com/).waitFor();
    await shot(page, '21-outbox-dead');
    // Fix the cause (the account is back), then retry from the page.
    directory.users.set('users/outage@example.com', record);
    await dead.getByRole('button', { name: /Retry updateUser of outage@example.com/ }).click();
    await page.getByText('No dead letters').waitFor();
    await waitFor(() => directory.users.get('users/outage@example.com')?.attributes.displayName === 'Outage test', 5_000, 'retried update applied');
    expect((await rig.gateway.audit.query({ action: 'outbox.retry' })).records[0].actor).toMatchObject({ kind: 'admin', id: 'admin' });
  });

  it('browses users and groups, with a user\'s links and audit trail', async () => {
    const { page } = browser;
    await page.goto(`${rig.gateway.adminUrl}/#/directory`);
    await page.getByRole('heading', { name: 'Users and groups' }).waitFor();
    await page.getByRole('link', { name: 'linus@example.com' }).waitFor();
    await page.getByLabel('Search users').fill('joa');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByRole('link', { name: 'linus@example.com' }).waitFor({ state: 'detached' });
    await page.getByRole('link', { name: 'joan@example.com' }).waitFor();
    await shot(page, '22-users');
    await page.getByRole('link', { name: 'joan@example.com' }).click();
    await page.getByRole('heading', { name: 'joan@example.com' }).waitFor();
    await page.getByText('users/joan@example.com').waitFor();
    await page.getByText('user.create').first().waitFor();
    await page.getByText('connector.createUser').first().waitFor();
    await shot(page, '23-user-detail');
    await page.getByRole('link', { name: 'Back to the list' }).click();
    await page.getByRole('button', { name: 'Groups' }).click();
    await page.getByRole('link', { name: 'Engineering' }).waitFor();
  });

  it('filters the audit log and exports it', async () => {
    const { page } = browser;
    await page.goto(`${rig.gateway.adminUrl}/#/audit`);
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    await page.getByRole('table', { name: 'Audit records' }).waitFor();
    await page.getByLabel('Action').fill('token.*');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    // Until the filtered page arrives the unfiltered one is still shown: wait for the filter to show.
    const onlyTokens = async () => {
      const actions = await page.locator('.audit-table tbody td.mono').allTextContents();
      return actions.length > 0 && actions.every((a) => a.startsWith('token.'));
    };
    await expect.poll(onlyTokens, { timeout: 10_000 }).toBe(true);
    await page.getByRole('cell', { name: 'token.revoke' }).waitFor();
    await shot(page, '24-audit-filtered');

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^scim-bridge-audit-.*\.csv$/);
    const csv = readFileSync((await download.path())!, 'utf8');
    const lines = csv.trim().split('\r\n');
    expect(lines[0].startsWith('seq,time,actorKind')).toBe(true);
    expect(lines.slice(1).every((l) => l.includes(',token.'))).toBe(true);
    await page.getByText('Export ready').waitFor();

    await page.getByRole('button', { name: 'Verify chain' }).click();
    await page.getByText('The chain is intact').waitFor();
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.getByRole('cell', { name: 'user.create' }).first().waitFor();
    await shot(page, '25-audit');
  });

  it('runs a guide\'s test request and names what is wrong with a bad token', async () => {
    const { page } = browser;
    await page.goto(`${rig.gateway.adminUrl}/#/guides`);
    await page.getByRole('heading', { name: 'Setup guides' }).waitFor();
    await shot(page, '26-guides');
    await page.getByRole('link', { name: /Microsoft Entra ID/ }).click();
    await page.getByRole('heading', { name: 'Set up Microsoft Entra ID' }).waitFor();
    await page.getByLabel('Token to test').fill('scb_' + 'A'.repeat(43));
    await page.getByRole('button', { name: 'Send a test request' }).click();
    await page.getByText('The test request failed').waitFor();
    await page.getByText('The bearer token is not valid for this gateway.').first().waitFor();
    await page.getByLabel('Token to test').fill(scimToken);
    await page.getByRole('button', { name: 'Send a test request' }).click();
    await page.getByText('The URL and token work from this machine').waitFor();
    await shot(page, '27-guide-entra');
  });

  it('shows connections and their policies, and the account page', async () => {
    const { page } = browser;
    await page.goto(`${rig.gateway.adminUrl}/#/connections`);
    await page.getByRole('heading', { name: 'Connections and policies' }).waitFor();
    await page.getByRole('button', { name: 'Edit policies of default' }).click();
    const dialog = page.getByRole('dialog', { name: 'Policies of default' });
    await dialog.getByLabel('Allowed email domains').fill('example.com');
    await shot(page, '28-policies');
    await dialog.getByRole('button', { name: 'Save policies' }).click();
    await page.getByText('Policies of default saved').waitFor();
    expect((await scim.post('/Users', user('eve@elsewhere.example'))).status).toBe(400);
    await shot(page, '29-connections');
    await page.goto(`${rig.gateway.adminUrl}/#/account`);
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    expect(errors).toEqual([]);
  });

  it('works with the keyboard: skip link first, focus into the page, dialogs close with Escape', async () => {
    const { page } = browser;
    await page.goto(`${rig.gateway.adminUrl}/#/tokens`);
    await page.reload();
    await page.getByRole('heading', { name: 'Tokens', level: 1 }).waitFor();
    // the token list loads after the heading: until it has, main may hold nothing to focus
    await page.getByRole('button', { name: 'Rotate Okta' }).waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to main content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.closest('main') !== null)).toBe(true);
    // Reach "Rotate Okta" by keyboard, open the dialog with Enter, close it with Escape.
    await page.getByRole('button', { name: 'Rotate Okta' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('dialog', { name: 'Rotate "Okta"' }).waitFor();
    expect(await page.evaluate(() => document.activeElement?.closest('dialog') !== null)).toBe(true);
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'hidden' });
    // A visible focus ring on buttons.
    await page.getByRole('button', { name: 'Create token' }).focus();
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Tab');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
    expect(outline).toBe('solid');
    expect(errors).toEqual([]);
  });
});
