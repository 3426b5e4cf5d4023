/**
 * The console's admin accounts page in Chromium: the list shows every admin with its last
 * sign-in, adding one needs your password and the new admin signs in, removing one signs it
 * out; the page at 400 px.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, collectPageErrors, createAdmin, ensureConsoleBuilt, openBrowser, shot, shotDialog, signIn, startConsoleGateway, type Browser, type ConsoleRig } from './harness.js';

const PASSWORD = 'admin accounts e2e passphrase';
const GRACE_PASSWORD = 'grace e2e passphrase long';

describe.skipIf(!chromiumAvailable())('admin accounts page', () => {
  let rig: ConsoleRig;
  let browser: Browser;
  let errors: string[];

  beforeAll(async () => {
    ensureConsoleBuilt();
    rig = await startConsoleGateway();
    await createAdmin(rig, 'ada', PASSWORD);
    browser = await openBrowser();
    errors = collectPageErrors(browser.page);
    await signIn(browser.page, rig.gateway.adminUrl, 'ada', PASSWORD);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await rig?.stop();
  });

  it('lists the admins with their last sign-in', async () => {
    const { page } = browser;
    await page.getByRole('link', { name: 'Admin accounts' }).click();
    await page.getByRole('heading', { name: 'Admin accounts', level: 1 }).waitFor();
    const row = page.getByRole('row', { name: /ada/ });
    await row.getByText('you').waitFor();
    await row.getByText(/from 127\.0\.0\.1/).waitFor();
  });

  it('adds an admin only with your password; the new admin signs in and shows up as signed in', async () => {
    const { page } = browser;
    await page.getByLabel('User name').fill('grace');
    await page.getByLabel('Their password').fill(GRACE_PASSWORD);
    await page.getByLabel('Your password').fill('not my password');
    await page.getByRole('button', { name: 'Add admin' }).click();
    await page.getByText('Your password is not right.').waitFor();
    await page.getByLabel('Your password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Add admin' }).click();
    await page.getByText('Admin "grace" added').waitFor();
    const grace = page.getByRole('row', { name: /grace/ });
    await grace.getByText('by ada').waitFor();
    await grace.getByText('never').waitFor();

    const other = await openBrowser();
    try {
      await signIn(other.page, rig.gateway.adminUrl, 'grace', GRACE_PASSWORD);
    } finally {
      await other.close();
    }
    await page.reload();
    await page.getByRole('row', { name: /grace/ }).getByText(/from 127\.0\.0\.1/).waitFor();
    await shot(page, 'admin-accounts');
  });

  it('removes an admin after confirming with your password', async () => {
    const { page } = browser;
    await page.getByRole('button', { name: 'Remove grace' }).click();
    const dialog = page.getByRole('dialog', { name: 'Remove "grace"?' });
    await dialog.getByLabel('Your password').fill(PASSWORD);
    await shotDialog(page, 'admin-accounts-remove');
    await dialog.getByRole('button', { name: 'Remove admin' }).click();
    await page.getByText('Admin "grace" removed and signed out.').waitFor();
    await page.getByRole('row', { name: /grace/ }).waitFor({ state: 'detached' });
    // No remove button on your own row.
    await page.getByRole('button', { name: 'Remove ada' }).waitFor({ state: 'detached' });
  });

  it('fits a 400 px window', async () => {
    const { page } = browser;
    await page.setViewportSize({ width: 400, height: 800 });
    await page.reload();
    await page.getByRole('heading', { name: 'Admin accounts', level: 1 }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await shot(page, 'admin-accounts-narrow');
    await page.setViewportSize({ width: 1280, height: 800 });
    expect(errors).toEqual([]);
  });
});
