/**
 * The end-to-end harness: a real gateway in-process (temp data dir, port 0, the demo connector
 * over a directory the test can take down), the built console, and Debian's Chromium driven by
 * playwright-core with a fresh profile. Screenshots go to test-results/console/.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createDemoConnector, DemoDirectory } from '../../connectors/demo/index.js';
import { loadConfig } from '../../src/gateway/config.js';
import { startGateway, type Gateway, type StartOptions } from '../../src/gateway/server.js';

const root = new URL('../../', import.meta.url).pathname;
export const SCREENSHOTS = join(root, 'test-results', 'console');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Builds the console when dist/renderer is missing or older than its sources (`npm test` has built it already). */
export function ensureConsoleBuilt(): void {
  const index = join(root, 'dist', 'renderer', 'index.html');
  const fresh = () => {
    const sources = Math.max(newest(join(root, 'src', 'renderer')), statSync(join(root, 'src', 'gateway', 'admin', 'api-types.ts')).mtimeMs);
    return existsSync(index) && statSync(index).mtimeMs >= sources;
  };
  if (fresh()) return;
  // Two test files may get here at once: one builds, the other waits until the lock is free (the
  // build empties dist/renderer first, so a half-written one must never be served), then looks again.
  const lock = join(root, 'dist', '.renderer-build.lock');
  mkdirSync(join(root, 'dist'), { recursive: true });
  for (let i = 0; ; i++) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (i > 1200) throw new Error(`${lock} is held; remove it if no build is running`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
  try {
    if (fresh()) return;
    execFileSync(process.execPath, [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', join(root, 'src', 'renderer', 'vite.config.ts')], { stdio: 'inherit', timeout: 120_000 });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

export interface ConsoleRig {
  gateway: Gateway;
  dataDir: string;
  directory: DemoDirectory;
  stop(): Promise<void>;
}

/**
 * A gateway as `serve` runs it: it opens its own secret store (the encrypted file, as on a server
 * without a keychain; `secretsBackend: 'file'` so the tests never touch the machine's keychain).
 */
export async function startConsoleGateway(options: Partial<StartOptions> = {}, directory = new DemoDirectory(), flags: Record<string, unknown> = {}): Promise<ConsoleRig> {
  const dataDir = mkdtempSync(join(tmpdir(), 'scim-bridge-e2e-'));
  const config = loadConfig({ env: {}, flags: { dataDir, port: 0, adminPort: 0, host: '127.0.0.1', logLevel: 'silent', secretsBackend: 'file', ...flags } });
  const gateway = await startGateway(config, {
    logger: pino({ level: 'silent' }),
    connectorTypes: new Map([['demo', () => createDemoConnector(directory) as never]]),
    ...options,
  });
  return {
    gateway,
    dataDir,
    directory,
    async stop() {
      await gateway.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** Chromium with a fresh profile; `close()` always ends the browser and removes the profile. */
export async function openBrowser(viewport = { width: 1280, height: 800 }): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'scim-bridge-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport,
    acceptDownloads: true,
    timeout: 30_000,
  });
  context.setDefaultTimeout(10_000);
  const page = context.pages()[0] ?? (await context.newPage());
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await context.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, close };
}

/** Saves a full-page screenshot as test-results/console/<name>.png. */
export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  // From the top: a sticky header would otherwise be drawn where the page was scrolled to.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Console errors and CSP violations fail the test: the console must run under its own CSP. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    // A refused API call (401, 429) is logged by the browser as a failed load: the page shows it.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

/** Saves a screenshot of the open dialog whole: the window grows to its height for the shot, then goes back. */
export async function shotDialog(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const size = page.viewportSize() ?? { width: 1280, height: 800 };
  const needed = await page.evaluate(() => {
    const body = document.querySelector('dialog[open] .dialog-body');
    const header = document.querySelector('dialog[open] .dialog-header');
    return Math.ceil((body?.scrollHeight ?? 0) + (header?.scrollHeight ?? 0) + 80);
  });
  if (needed > size.height) await page.setViewportSize({ width: size.width, height: Math.min(needed, 6000) });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
  if (needed > size.height) await page.setViewportSize(size);
}

/** Creates the admin account through the setup API, with the one-time code the gateway printed. */
export async function createAdmin(rig: ConsoleRig, username: string, password: string): Promise<void> {
  const res = await fetch(`${rig.gateway.adminUrl}/api/session/setup`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ code: rig.gateway.admin.setupCode()!.code, username, password }),
  });
  if (res.status !== 201) throw new Error(`admin setup answered ${res.status}: ${await res.text()}`);
}

/** Signs in through the sign-in page. */
export async function signIn(page: Page, adminUrl: string, username: string, password: string): Promise<void> {
  await page.goto(adminUrl);
  await page.getByLabel('User name').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Status', level: 1 }).waitFor();
}

/** Every file under `dir` whose bytes contain `text`. */
export function filesContaining(dir: string, text: string): string[] {
  const found: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    if (readFileSync(path).includes(text)) found.push(path);
  }
  return found;
}
