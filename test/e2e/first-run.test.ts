/**
 * The first-run wizard end to end in Chromium: setup code and admin account, a connection, its
 * first token shown once, a demo connector tested and saved, then the Okta guide with the URL and
 * token filled in and its test request against this gateway. Also the narrow-window layout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, collectPageErrors, ensureConsoleBuilt, openBrowser, shot, startConsoleGateway, type Browser, type ConsoleRig } from './harness.js';

describe.skipIf(!chromiumAvailable())('first run in the console', () => {
  let rig: ConsoleRig;
  let browser: Browser;
  let errors: string[];

  beforeAll(async () => {
    ensureConsoleBuilt();
    rig = await startConsoleGateway();
    browser = await openBrowser();
    errors = collectPageErrors(browser.page);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await rig?.stop();
  });

  it('walks from the setup code to a working token and connector', async () => {
    const { page } = browser;
    await page.goto(rig.gateway.adminUrl);
    await page.getByRole('heading', { name: 'Welcome to SCIM Bridge' }).waitFor();
    await shot(page, '01-wizard-account');

    // A wrong code is refused with the reason next to the field.
    await page.getByLabel('Setup code').fill('AAAAA-AAAAA');
    await page.getByLabel('Password', { exact: true }).fill('a long admin passphrase');
    await page.getByLabel('Password again').fill('a long admin passphrase');
    await page.getByRole('button', { name: 'Create the admin account' }).click();
    await page.getByText('That setup code is not right').waitFor();

    await page.getByLabel('Setup code').fill(rig.gateway.admin.setupCode()!.code);
    await page.getByRole('button', { name: 'Create the admin account' }).click();
    await page.getByRole('heading', { name: 'Connect an identity provider' }).waitFor();
    expect(rig.gateway.admin.setupCode()).toBeUndefined();

    await page.getByLabel('Okta').check();
    await page.getByLabel('Create a separate connection').check();
    await expect.poll(() => page.getByLabel('Connection name').inputValue()).toBe('okta');
    await shot(page, '02-wizard-connection');
    await page.getByRole('button', { name: 'Continue' }).click();

    await page.getByRole('heading', { name: 'Create its token' }).waitFor();
    expect(await page.getByLabel('Name').inputValue()).toBe('Okta');
    await page.getByRole('button', { name: 'Create token' }).click();
    const tokenField = page.getByTestId('token-value');
    await tokenField.waitFor();
    const token = await tokenField.inputValue();
    expect(token).toMatch(/^scb_[A-Za-z0-9_-]{43}$/);
    await shot(page, '03-wizard-token');
    // The token works on the SCIM listener, for the new connection.
    const res = await fetch(`${rig.gateway.scimUrl}/Users?count=1`, { headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    await page.getByRole('button', { name: /I have copied it/ }).click();

    await page.getByRole('heading', { name: 'Add a connector' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('lab');
    await page.getByRole('button', { name: 'Test connection' }).click();
    await page.getByTestId('connector-test-result').getByText('Connection works').waitFor();
    await shot(page, '04-wizard-connector');
    await page.getByRole('button', { name: 'Add connector' }).click();

    await page.getByRole('heading', { name: 'Ready' }).waitFor();
    await shot(page, '05-wizard-done');
    const connectors = rig.gateway.connections.list().find((c) => c.name === 'okta')?.connectors;
    expect(connectors?.map((c) => c.type)).toEqual(['demo']);

    // The guide has the real URL and the fresh token filled in, and its test request passes.
    await page.getByRole('link', { name: 'Open the Okta guide' }).click();
    await page.getByRole('heading', { name: 'Set up Okta' }).waitFor();
    expect(await page.getByTestId('guide-token').inputValue()).toBe(token);
    await page.getByText(`Bearer ${token}`).waitFor();
    await page.getByRole('button', { name: 'Send a test request' }).click();
    await page.getByText('The URL and token work from this machine').waitFor();
    expect(await page.getByTestId('test-request-result').textContent()).toContain('connection okta');
    await shot(page, '06-guide-okta');
    expect(errors).toEqual([]);
  });

  it('reads well in a narrow window, with the menu behind a button', async () => {
    const { page } = browser;
    await page.setViewportSize({ width: 400, height: 800 });
    await page.goto(`${rig.gateway.adminUrl}/#/`);
    await page.getByRole('heading', { name: 'Status' }).waitFor();
    const nav = page.getByRole('navigation', { name: 'Console' });
    expect(await nav.isVisible()).toBe(false);
    await shot(page, '07-status-narrow');
    await page.getByRole('button', { name: 'Menu' }).click();
    await nav.getByRole('link', { name: 'Tokens' }).click();
    await page.getByRole('heading', { name: 'Tokens', level: 1 }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await shot(page, '08-tokens-narrow');
    await page.setViewportSize({ width: 1280, height: 800 });
    expect(errors).toEqual([]);
  });
});
