/**
 * The console's connection and connector settings in Chromium against a started gateway that
 * opens its own secret store: every policy edited in the form and kept on save; a config-file
 * connection shown read-only with the reason; a connector with delivery mode, attribute mapping
 * and a secret typed once (never seen again in the page, an API answer or the data dir), its
 * status while it does not start; "Provision existing users" for a connector added later, and
 * the explanation where a connector cannot list its accounts; a user's role and state edited
 * from the console, and a refusal by policy; the forms at 400 px.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DemoDirectory } from '../../connectors/demo/index.js';
import { createToken } from '../../src/gateway/auth/index.js';
import { SECRETS_FILE } from '../../src/gateway/secrets/index.js';
import { ScimClient, user, waitFor } from '../helpers/gateway.js';
import { chromiumAvailable, collectPageErrors, createAdmin, ensureConsoleBuilt, filesContaining, openBrowser, shot, shotDialog, signIn, startConsoleGateway, type Browser, type ConsoleRig } from './harness.js';

const PASSWORD = 'connections e2e passphrase';
const ACCESS_KEY = 'wh-secret-Kx93-typed-once';
const BRIDGE = 'urn:ietf:params:scim:schemas:extension:scimbridge:2.0:User';

describe.skipIf(!chromiumAvailable())('connections, connectors and users in the console', () => {
  let rig: ConsoleRig;
  let browser: Browser;
  let errors: string[];
  let scim: ScimClient;
  /** Every /api answer the page received, to prove a secret never comes back. */
  const answers: Array<Promise<string>> = [];
  const directory = new DemoDirectory({ accessKey: ACCESS_KEY });

  beforeAll(async () => {
    ensureConsoleBuilt();
    rig = await startConsoleGateway({}, directory, { connections: { hr: { policies: { allowCreate: false, roleRules: [{ group: 'HR Admins', role: 'admin' }] }, connectors: [] } } });
    await createAdmin(rig, 'admin', PASSWORD);
    scim = new ScimClient(rig.gateway.scimUrl, createToken(rig.dataDir, { name: 'Okta' }).token);
    // Users from before any connector existed.
    for (const n of ['ada', 'grace', 'linus']) expect((await scim.post('/Users', user(`${n}@example.com`, { name: { givenName: n, familyName: 'Example' } }))).status).toBe(201);
    expect((await scim.post('/Users', user('olivia@example.com', { [BRIDGE]: { role: 'owner' } }))).status).toBe(201);
    browser = await openBrowser();
    errors = collectPageErrors(browser.page);
    browser.page.on('response', (r) => {
      if (new URL(r.url()).pathname.startsWith('/api/')) answers.push(r.text().catch(() => ''));
    });
    await signIn(browser.page, rig.gateway.adminUrl, 'admin', PASSWORD);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await rig?.stop();
  });

  it('creates a connection with every policy set in the form, keeps them on a later edit, and shows a config-file one read-only', async () => {
    const { page } = browser;
    await page.goto(`${rig.gateway.adminUrl}/#/connections`);
    await page.getByRole('button', { name: 'New connection' }).click();
    const dialog = page.getByRole('dialog', { name: 'New connection' });
    await dialog.getByLabel('Name', { exact: true }).fill('sales');
    await dialog.getByLabel('Allowed email domains').fill('example.com\n*.example.org');
    for (const [group, role] of [['Helpdesk', 'agent'], ['Engineering Admins', 'admin'], ['Contractors', 'guest']]) {
      await dialog.getByRole('button', { name: 'Add a rule' }).click();
      const n = await dialog.locator('.rule-row').count();
      await dialog.getByLabel(`Group of rule ${n}`).fill(group);
      await dialog.getByLabel(`Role of rule ${n}`).fill(role);
    }
    // Reorder with the keyboard: the first match wins, so order matters; the focus stays on the moved rule.
    await dialog.getByRole('button', { name: 'Move rule 2 up' }).focus();
    await page.keyboard.press('Enter');
    expect(await dialog.getByLabel('Group of rule 1').inputValue()).toBe('Engineering Admins');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Move rule 1 down');
    await dialog.getByRole('button', { name: 'Remove rule 3' }).click();
    await dialog.getByLabel('Synthetic groups Admins and Users').check();
    await dialog.getByLabel('Role of members of Admins').fill('owner');
    await dialog.getByTestId('policy-principal').getByRole('radio', { name: 'userName' }).check();
    await dialog.getByTestId('policy-existing-accounts').getByRole('radio', { name: 'Link' }).check();
    await dialog.getByRole('radio', { name: 'Command' }).check();
    await dialog.getByRole('textbox', { name: 'Command' }).fill('/bin/cat');
    await dialog.getByLabel('Time limit (ms)').fill('2000');
    await dialog.getByRole('radio', { name: 'Let it through' }).check();
    await dialog.getByLabel('Groups', { exact: true }).uncheck();
    await shotDialog(page, '40-policies-form');
    await dialog.getByRole('button', { name: 'Create connection' }).click();
    await page.getByText('Connection sales created').waitFor();
    expect(rig.gateway.connections.get('sales')?.policies).toEqual({
      deleteMode: 'soft',
      allowCreate: true,
      defaultRole: 'member',
      defaultUserType: 'Internal',
      allowedDomains: ['example.com', '*.example.org'],
      emailImmutable: false,
      lastOwnerRole: 'owner',
      roleRules: [
        { group: 'Engineering Admins', role: 'admin' },
        { group: 'Helpdesk', role: 'agent' },
      ],
      syntheticGroups: true,
      syntheticRoles: { Admins: 'owner', Users: 'member' },
      existingAccounts: 'link',
      principal: 'userName',
      hook: { command: ['/bin/cat'], timeoutMs: 2000, onError: 'allow', resources: ['User'] },
    });
    const card = page.locator('.card', { has: page.getByRole('heading', { name: /^sales/ }) });
    await card.getByText('2 role rules').waitFor();
    await card.getByText('Hook: command').waitFor();

    // Reopened: the form shows what is stored; removing the hook changes nothing else.
    await page.getByRole('button', { name: 'Edit policies of sales' }).click();
    const edit = page.getByRole('dialog', { name: 'Policies of sales' });
    expect(await edit.getByLabel('Group of rule 1').inputValue()).toBe('Engineering Admins');
    expect(await edit.getByRole('textbox', { name: 'Command' }).inputValue()).toBe('/bin/cat');
    await edit.getByRole('radio', { name: 'None' }).check();
    await edit.getByRole('button', { name: 'Save policies' }).click();
    await page.getByText('Policies of sales saved').waitFor();
    const saved = rig.gateway.connections.get('sales')!.policies;
    expect(saved.hook).toBeUndefined();
    expect(saved).toMatchObject({ roleRules: [{ group: 'Engineering Admins' }, { group: 'Helpdesk' }], principal: 'userName', existingAccounts: 'link', syntheticGroups: true });

    // A config-file connection: every policy visible, nothing editable, and why.
    await page.getByRole('button', { name: 'View policies of hr' }).click();
    const view = page.getByRole('dialog', { name: 'Policies of hr' });
    await view.getByText('Read-only: declared in the config file').waitFor();
    expect(await view.getByLabel('Group of rule 1').inputValue()).toBe('HR Admins');
    expect(await view.getByLabel('Default role').isDisabled()).toBe(true);
    expect(await view.getByLabel('Let the identity provider create users').isChecked()).toBe(false);
    expect(await view.getByRole('button', { name: 'Save policies' }).count()).toBe(0);
    await shotDialog(page, '41-policies-read-only');
    await view.getByRole('button', { name: 'Close', exact: true }).last().click();
    await shot(page, '42-connections');
  });

  it('configures a connector: sync delivery, a mapping, a secret typed once; says why it does not start, on Connectors and Status', async () => {
    const { page } = browser;
    await page.goto(`${rig.gateway.adminUrl}/#/connectors`);
    await page.getByRole('button', { name: 'Add connector' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add a connector' });
    await dialog.getByLabel('Id', { exact: true }).fill('warehouse');
    await dialog.getByLabel('Name', { exact: true }).fill('warehouse');
    await dialog.getByLabel('Access key').fill(ACCESS_KEY);
    await dialog.getByRole('radio', { name: 'Sync', exact: true }).check();
    await dialog.getByText('Attribute mapping').click();
    await dialog.getByRole('button', { name: 'Add an attribute' }).click();
    await dialog.getByLabel('Target attribute 1').fill('company');
    await dialog.getByLabel('Source of mapping 1').selectOption('const');
    await dialog.getByLabel('Fixed value of mapping 1').fill('Example Corp');
    await dialog.getByRole('button', { name: 'Add an attribute' }).click();
    await dialog.getByLabel('Target attribute 2').fill('fullName');
    await dialog.getByLabel('Source of mapping 2').selectOption('concat');
    await dialog.getByLabel('Joined paths of mapping 2').fill('name.givenName\nname.familyName');
    await dialog.getByLabel('Separator of mapping 2').fill(' / ');
    // A default mapping row, changed: a typo in the path keeps the connector from starting.
    await dialog.getByText(/^Default mapping/).click();
    await dialog.getByRole('button', { name: 'Change the mapping of email' }).click();
    await dialog.getByLabel('SCIM path of mapping 3').fill('emails[type eq "work"].valu');
    await dialog.getByLabel('Transform of mapping 3').selectOption('lowercase');
    await shotDialog(page, '43-connector-form');
    await dialog.getByRole('button', { name: 'Add connector' }).click();
    await dialog.getByText('Saved, but warehouse did not start').waitFor();
    await dialog.getByText(/mapping for "email"/).first().waitFor();
    // The typed secret is stored and gone from the form: the field says "set", its input is empty.
    expect(await dialog.getByTestId('secret-state-accessKey').textContent()).toBe('set');
    expect(await dialog.getByLabel('Access key').inputValue()).toBe('');
    await shotDialog(page, '44-connector-not-started');
    await dialog.getByRole('button', { name: 'Close', exact: true }).last().click();
    const card = page.locator('.connector-card', { hasText: 'warehouse' });
    await card.getByText('Not running').first().waitFor();
    await card.getByText(/mapping for "email"/).waitFor();
    await shot(page, '45-connector-failed');
    await page.goto(`${rig.gateway.adminUrl}/#/`);
    await page.getByText('Connector warehouse is not running').waitFor();
    await page.locator('.connection-card', { hasText: 'default' }).getByText(/mapping for "email"/).waitFor();
    await shot(page, '46-status-connector-failed');

    // Fixed from the card's notice; the secret stays stored without being typed again.
    await page.goto(`${rig.gateway.adminUrl}/#/connectors`);
    await card.getByRole('button', { name: 'Fix its configuration' }).click();
    const fix = page.getByRole('dialog', { name: 'Configure warehouse' });
    expect(await fix.getByRole('radio', { name: 'Sync', exact: true }).isChecked()).toBe(true);
    await fix.getByLabel('SCIM path of mapping 3').fill('emails[type eq "work"].value');
    await fix.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Connector warehouse saved').waitFor();
    await card.getByText('Running', { exact: true }).waitFor();
    await card.getByRole('button', { name: 'Test connection of warehouse' }).click();
    await card.getByText('Connection works').waitFor();
    expect(rig.gateway.connections.connectorConfig('warehouse')).toMatchObject({
      mode: 'sync',
      mapping: { company: { const: 'Example Corp' }, fullName: { concat: ['name.givenName', 'name.familyName'], separator: ' / ' }, email: { path: 'emails[type eq "work"].value', transform: 'lowercase' } },
    });

    // Sync and mapped: in the target before the IdP gets its answer.
    expect((await scim.post('/Users', user('zoe@example.com', { name: { givenName: 'Zoe', familyName: 'Ng' }, emails: [{ type: 'work', value: 'Zoe.Ng@Example.com' }] }))).status).toBe(201);
    expect(directory.users.get('users/zoe@example.com')?.attributes).toMatchObject({ company: 'Example Corp', fullName: 'Zoe / Ng', email: 'zoe.ng@example.com' });

    // The secret: in the encrypted file only, and not readable there; never in the page or an answer.
    expect(await page.content()).not.toContain(ACCESS_KEY);
    expect((await Promise.all(answers)).join('\n')).not.toContain(ACCESS_KEY);
    expect(filesContaining(rig.dataDir, ACCESS_KEY)).toEqual([]);
    expect(statSync(join(rig.dataDir, SECRETS_FILE)).size).toBeGreaterThan(0);
    expect(await rig.gateway.secrets!.has('warehouse:accessKey')).toBe(true);
    await shot(page, '47-connectors');
  });

  it('provisions the users that existed before the connector, and explains it where a connector cannot list its accounts', async () => {
    const { page } = browser;
    expect(directory.users.has('users/ada@example.com')).toBe(false);
    const card = page.locator('.connector-card', { hasText: 'warehouse' });
    await card.getByRole('button', { name: 'Provision existing users to warehouse' }).click();
    const dialog = page.getByRole('dialog', { name: 'Provision existing users to warehouse' });
    await dialog.getByRole('button', { name: 'Provision existing users' }).click();
    await dialog.getByText('4 users provisioned to warehouse').waitFor();
    await shotDialog(page, '48-provision-report');
    for (const n of ['ada', 'grace', 'linus', 'olivia']) expect(directory.users.has(`users/${n}@example.com`)).toBe(true);
    await dialog.getByRole('button', { name: 'Close', exact: true }).last().click();

    // A script connector without listUsers cannot say who it lacks.
    await page.getByRole('button', { name: 'Add connector' }).click();
    const add = page.getByRole('dialog', { name: 'Add a connector' });
    // A setting of several kinds (the rest connector's auth) shows the chosen kind's fields: a token is a password field.
    await add.getByLabel('Type', { exact: true }).first().selectOption('rest');
    const auth = add.getByRole('group', { name: 'Auth' });
    await auth.getByLabel('Type').selectOption('bearer');
    expect(await auth.getByLabel('Token').getAttribute('type')).toBe('password');
    expect(await auth.getByTestId('secret-state-auth.token').textContent()).toBe('not set');
    await shotDialog(page, '48a-rest-settings');
    await add.getByLabel('Type', { exact: true }).first().selectOption('script');
    await add.getByLabel('Id', { exact: true }).fill('batch');
    await add.getByRole('textbox', { name: 'Command', exact: true }).fill('/bin/true');
    await add.getByRole('button', { name: 'Add connector' }).click();
    await page.getByText('Connector batch saved').waitFor();
    const batch = page.locator('.connector-card', { hasText: 'batch' });
    await batch.getByText(/Reach it on their next change: it cannot list its accounts/).waitFor();
    expect(await batch.getByRole('button', { name: /Provision existing users/ }).count()).toBe(0);
    // Removed again: a script that prints no key would dead-letter every change.
    await batch.getByRole('button', { name: 'Remove batch' }).click();
    await page.getByRole('dialog', { name: 'Remove connector batch?' }).getByRole('button', { name: 'Remove' }).click();
    await page.getByText('Connector batch removed').waitFor();
  });

  it('changes a user\'s role and state from the user page; a refusal by policy is shown in words', async () => {
    const { page } = browser;
    await page.goto(`${rig.gateway.adminUrl}/#/directory/default/users`);
    await page.getByRole('link', { name: 'grace@example.com' }).click();
    const card = page.locator('.card', { has: page.getByRole('heading', { name: 'Role and state' }) });
    await card.getByText('the later change wins').waitFor();
    await card.getByLabel('Role').fill('admin');
    await card.getByLabel('User type').fill('Contractor');
    await card.getByRole('button', { name: 'Save changes' }).click();
    await card.getByText('Saved. The connectors receive the change through the outbox.').waitFor();
    await page.getByText('Role admin · Contractor').waitFor();
    await waitFor(() => directory.users.get('users/grace@example.com')?.attributes.role === 'admin', 5_000, 'role delivered');
    await card.getByRole('radio', { name: 'Deactivated' }).check();
    await card.getByRole('button', { name: 'Save changes' }).click();
    await page.locator('.card', { has: page.getByRole('heading', { name: 'State', exact: true }) }).locator('.badge', { hasText: 'Deactivated' }).waitFor();
    expect(directory.users.get('users/grace@example.com')?.active).toBe(false);
    await page.getByRole('heading', { name: 'Audit trail' }).waitFor();
    await page.getByText('user.deactivate').first().waitFor();
    await shot(page, '49-user-edited');

    // The only owner cannot be deactivated: the SCIM service's refusal, as the console shows it.
    await page.goto(`${rig.gateway.adminUrl}/#/directory/default/users`);
    await page.getByRole('link', { name: 'olivia@example.com' }).click();
    const owner = page.locator('.card', { has: page.getByRole('heading', { name: 'Role and state' }) });
    await owner.getByRole('radio', { name: 'Deactivated' }).check();
    await owner.getByRole('button', { name: 'Save changes' }).click();
    await owner.getByText(/The change was refused: Cannot deactivate the last active user with role "owner"/).waitFor();
    await shot(page, '50-user-refused');
  });

  it('warns when connectors of two connections write to the same target: on save, on the connector and on Status', async () => {
    const { page } = browser;
    await page.goto(`${rig.gateway.adminUrl}/#/connectors`);
    await page.getByRole('button', { name: 'Add connector' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add a connector' });
    await dialog.getByLabel('Connection', { exact: true }).selectOption('sales');
    await dialog.getByLabel('Id', { exact: true }).fill('sales-store');
    await dialog.getByLabel('Access key').fill(ACCESS_KEY);
    await dialog.getByRole('button', { name: 'Add connector' }).click();
    // The demo connectors of this console share one directory: warehouse (default) writes there too.
    await page.getByText('Connector sales-store saved and restarted. It writes to the same target as a connector of another connection: see its card.').waitFor();
    const card = page.locator('.connector-card', { hasText: 'sales-store' });
    await card.getByText('Shares its target with warehouse (default)').waitFor();
    await card.getByText(/Connector sales-store writes to the same target as warehouse \(connection default\): memory:\/\//).waitFor();
    await shot(page, '53-connector-shared-target');
    await page.goto(`${rig.gateway.adminUrl}/#/`);
    await page.getByText('Connectors of different connections write to the same target').waitFor();
    // This connection links existing accounts (its policy, set above): the warning says it takes the other's over.
    await page.getByText(/Connectors warehouse \(connection default\), sales-store \(connection sales\) write to the same target: .*Connection sales takes over existing accounts/).waitFor();
    await shot(page, '54-status-shared-target');

    // Removed: the warning goes, and its secret with it.
    await page.goto(`${rig.gateway.adminUrl}/#/connectors`);
    await card.getByRole('button', { name: 'Remove sales-store' }).click();
    await page.getByRole('dialog', { name: 'Remove connector sales-store?' }).getByText('its saved secrets are deleted').waitFor();
    await page.getByRole('dialog', { name: 'Remove connector sales-store?' }).getByRole('button', { name: 'Remove' }).click();
    await page.getByText('Connector sales-store removed').waitFor();
    expect(await rig.gateway.secrets!.has('sales-store:accessKey')).toBe(false);
    await page.goto(`${rig.gateway.adminUrl}/#/`);
    await page.getByRole('heading', { name: 'Status', level: 1 }).waitFor();
    await page.getByText('SCIM base URL').first().waitFor();
    expect(await page.getByText('Connectors of different connections write to the same target').count()).toBe(0);
  });

  it('reads well at 400 px: the connector and policy forms fit, with the keyboard', async () => {
    const { page } = browser;
    await page.setViewportSize({ width: 400, height: 800 });
    try {
      await page.goto(`${rig.gateway.adminUrl}/#/connectors`);
      await page.getByRole('button', { name: 'Configure warehouse' }).click();
      const dialog = page.getByRole('dialog', { name: 'Configure warehouse' });
      await dialog.getByText('Attribute mapping').waitFor();
      const overflow = await page.evaluate(() => {
        const body = document.querySelector('dialog[open] .dialog-body') as HTMLElement;
        return body.scrollWidth - body.clientWidth;
      });
      expect(overflow).toBeLessThanOrEqual(0);
      await shotDialog(page, '51-connector-form-narrow');
      await page.keyboard.press('Escape');
      await page.goto(`${rig.gateway.adminUrl}/#/connections`);
      await page.getByRole('button', { name: 'Edit policies of sales' }).click();
      const policies = page.getByRole('dialog', { name: 'Policies of sales' });
      await policies.getByLabel('Group of rule 1').waitFor();
      expect(await page.evaluate(() => {
        const body = document.querySelector('dialog[open] .dialog-body') as HTMLElement;
        return body.scrollWidth - body.clientWidth;
      })).toBeLessThanOrEqual(0);
      // Tab from a rule's group field reaches its role, then its move buttons.
      await policies.getByLabel('Group of rule 1').focus();
      await page.keyboard.press('Tab');
      expect(await page.evaluate(() => (document.activeElement as HTMLInputElement).value)).toBe('admin');
      await page.keyboard.press('Tab');
      expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Move rule 1 down');
      await shotDialog(page, '52-policies-narrow');
      await page.keyboard.press('Escape');
      await page.getByRole('dialog').waitFor({ state: 'hidden' });
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
    expect(errors).toEqual([]);
  });
});
