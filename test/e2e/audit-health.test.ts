/**
 * The status page when the audit log runs out of space, in Chromium against a started gateway:
 * its audit.jsonl lives on a small tmpfs (a symlink, as an admin who keeps the audit log on its own
 * volume might set it up), which the test fills. A SCIM write is still acknowledged, the page says
 * the audit log is not keeping up, and once space returns the record reaches the log by itself and
 * the banner goes.
 * Needs root (mount); CI runs as root.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/gateway/auth/index.js';
import { ScimClient, user, waitFor } from '../helpers/gateway.js';
import { chromiumAvailable, collectPageErrors, createAdmin, ensureConsoleBuilt, openBrowser, shot, signIn, startConsoleGateway, type Browser, type ConsoleRig } from './harness.js';

const PASSWORD = 'audit health passphrase';
const volume = mkdtempSync(join(tmpdir(), 'scim-bridge-auditvol-'));
const dataDir = mkdtempSync(join(tmpdir(), 'scim-bridge-e2e-audit-'));
let mounted = false;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', volume], { stdio: 'pipe' });
  mounted = true;
  writeFileSync(join(volume, 'audit.jsonl'), '', { mode: 0o600 });
  symlinkSync(join(volume, 'audit.jsonl'), join(dataDir, 'audit.jsonl'));
} catch {
  // not root: the case is skipped (disk-full.test.ts says the same)
}

describe.skipIf(!chromiumAvailable() || !mounted)('status page: the audit log out of space', () => {
  let rig: ConsoleRig;
  let browser: Browser;
  let errors: string[];
  let scim: ScimClient;
  const filler = join(volume, 'filler');

  beforeAll(async () => {
    ensureConsoleBuilt();
    rig = await startConsoleGateway({}, undefined, { dataDir });
    await createAdmin(rig, 'admin', PASSWORD);
    scim = new ScimClient(rig.gateway.scimUrl, createToken(dataDir, { name: 'Okta' }).token);
    browser = await openBrowser();
    errors = collectPageErrors(browser.page);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await rig?.stop();
    if (mounted) execFileSync('umount', ['-l', volume]);
    rmSync(volume, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('says the audit log is not keeping up while its disk is full, and the record arrives once there is space', async () => {
    const { page } = browser;
    await signIn(page, rig.gateway.adminUrl, 'admin', PASSWORD);
    await expect(page.getByText('The audit log is not keeping up').count()).resolves.toBe(0);

    // Fill the audit log's volume to the last byte.
    try {
      writeFileSync(filler, Buffer.alloc(2 * 1024 * 1024));
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    }
    const r = await scim.post('/Users', user('written-while-full@example.com', { title: 'x'.repeat(10_000) }));
    expect(r.status).toBe(201); // the store has space: the change is acknowledged
    await waitFor(async () => (await rig.gateway.store.stats()).auditBehind === true, 5_000, 'the hand-over to be refused');

    await page.reload();
    const notice = page.getByRole('alert').filter({ hasText: 'The audit log is not keeping up' });
    await notice.waitFor();
    const text = await notice.innerText();
    expect(text).toMatch(/nothing is lost while the gateway runs/);
    expect(text).not.toMatch(/missing from the audit log/); // nothing lost: the record waits in the journal
    expect(text).toContain(dataDir);
    await shot(page, '60-status-audit-behind');

    // Space returns: the store hands the record over from its journal within seconds, no restart.
    rmSync(filler);
    await waitFor(async () => (await rig.gateway.store.stats()).auditBehind === false, 15_000, 'the audit log to catch up');
    const created = await rig.gateway.audit.query({ action: 'user.create', resourceId: r.body.id });
    expect(created.records).toHaveLength(1);
    await page.reload();
    await page.getByRole('heading', { name: 'Status', level: 1 }).waitFor();
    await page.getByText('Chain intact').waitFor();
    expect(await page.getByRole('alert').count()).toBe(0); // no banner: nothing was lost
    expect(errors).toEqual([]);
  });
});
