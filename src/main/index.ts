/**
 * The Electron main process: wires the pure modules to Electron and nothing more. It runs the same
 * gateway as `scim-bridge serve`, in-process, opens the console logged in for the local user, and
 * keeps a tray icon with the gateway's status. Closing the window leaves the gateway running in
 * the tray; Quit stops it cleanly (requests drained, store flushed) before the app exits.
 */
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import {
  app,
  BrowserWindow,
  clipboard,
  dialog,
  ipcMain,
  Menu,
  nativeImage,
  Notification,
  session,
  shell,
  Tray,
  utilityProcess,
  type MenuItemConstructorOptions,
  type WebContents,
} from 'electron';
import { startGateway } from '../gateway/server.js';
import { OPEN_EXTERNAL_CHANNEL } from './bridge.js';
import { createConsoleWindows } from './console-windows.js';
import { createDesktopLogger, loadDesktopConfig, type DesktopLogger } from './desktop-config.js';
import { utilityProcessLauncher } from './keychain-child.js';
import { createDesktop, type LifecycleLogger } from './lifecycle.js';
import { createLoginItem, HIDDEN_ARG } from './login-item.js';
import { consoleOriginOf, decideNavigation, decideWindowOpen, isConsoleUrl, parseOpenExternalRequest } from './navigation-policy.js';
import { decidePermission, isDownloadAllowed, isRequestAllowed, withConsoleCsp } from './session-policy.js';
import { trayModel, type DesktopStatus, type TrayMenuEntry, type TrayModel } from './tray-status.js';
import { CONSOLE_PARTITION, consoleWindowOptions } from './window-options.js';

const PRODUCT_NAME = 'SCIM Bridge';
const here = dirname(fileURLToPath(import.meta.url));
const assets = join(app.getAppPath(), 'assets');

// The same folder whether run as `electron .` (package name) or packaged (productName).
app.setPath('userData', join(app.getPath('appData'), PRODUCT_NAME));
app.setName(PRODUCT_NAME);
// Every renderer sandboxed, whatever its options say.
app.enableSandbox();
// As `serve` does (cli.ts): keeps the gateway's heap near 1.5x its live size under load.
v8.setFlagsFromString('--heap-growing-percent=50');

const logsDir = app.getPath('logs');
let logging: DesktopLogger | undefined;
const log: LifecycleLogger = {
  info: (o, m) => (logging ? logging.logger.info(o, m) : console.log(m, o)),
  warn: (o, m) => (logging ? logging.logger.warn(o, m) : console.warn(m, o)),
  error: (o, m) => (logging ? logging.logger.error(o, m) : console.error(m, o)),
};

/** Set once the gateway listens; until then no URL is a console URL. */
let consoleOrigin = 'null';

const loginItem = createLoginItem({
  platform: process.platform,
  app,
  executable: process.env.APPIMAGE ?? process.execPath,
  launchArgs: app.isPackaged ? [] : [app.getAppPath()],
  autostartDir: join(process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'autostart'),
});

const startHidden =
  process.argv.includes(HIDDEN_ARG) || (process.platform === 'darwin' && app.getLoginItemSettings().wasOpenedAtLogin === true);

function openExternal(url: string): void {
  shell.openExternal(url).catch((err: unknown) => log.warn({ err }, 'could not open a link in the browser'));
}

/** Applied to every webContents (web-contents-created): no webviews, no new windows, no leaving the console. */
function harden(contents: WebContents): void {
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    const decision = decideWindowOpen(url, consoleOrigin);
    if (decision.navigateInPlace) void contents.loadURL(decision.navigateInPlace).catch(() => undefined);
    if (decision.openExternal) openExternal(decision.openExternal);
    return { action: 'deny' };
  });
  contents.on('will-navigate', (event, url) => {
    const decision = decideNavigation(url, consoleOrigin);
    if (decision.allow) return;
    event.preventDefault();
    if (decision.openExternal) openExternal(decision.openExternal);
  });
  contents.on('will-redirect', (event, url) => {
    if (!isConsoleUrl(url, consoleOrigin)) event.preventDefault();
  });
  contents.on('will-frame-navigate', (event) => {
    if (!event.isMainFrame && !isConsoleUrl(event.url, consoleOrigin)) event.preventDefault();
  });
}

/** The console session's second layer: requests, permissions, CSP, downloads. */
function lockConsoleSession(origin: string): void {
  const ses = session.fromPartition(CONSOLE_PARTITION);
  ses.setPermissionRequestHandler((_wc, permission, callback, details) => callback(decidePermission(permission, details.requestingUrl, origin)));
  ses.setPermissionCheckHandler((_wc, permission, requestingOrigin) => decidePermission(permission, requestingOrigin, origin));
  ses.setDevicePermissionHandler(() => false);
  ses.webRequest.onBeforeRequest((details, callback) => callback({ cancel: !isRequestAllowed(details.url, origin) }));
  ses.webRequest.onHeadersReceived((details, callback) => callback({ responseHeaders: withConsoleCsp(details.url, details.responseHeaders, origin) }));
  ses.on('will-download', (event, item) => {
    if (!isDownloadAllowed(item.getURL(), origin)) event.preventDefault();
  });
}

let toldStillRunning = false;
/** The first time the window closes, say where the gateway went. */
function tellStillRunning(): void {
  if (toldStillRunning || !Notification.isSupported()) return;
  toldStillRunning = true;
  new Notification({
    title: 'SCIM Bridge is still running',
    body: 'Provisioning goes on in the background. Open the console or quit from the tray icon.',
  }).show();
}

const windows = createConsoleWindows(
  () =>
    new BrowserWindow(
      consoleWindowOptions({
        preload: join(here, 'preload.cjs'),
        version: app.getVersion(),
        icon: process.platform === 'darwin' ? undefined : join(assets, 'icon.png'),
        devTools: !app.isPackaged,
      }),
    ),
  { onClosed: tellStillRunning, onLoadFailed: (err) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'the console page did not load') },
);

const desktop = createDesktop({
  app,
  windows,
  startHidden,
  logger: log,
  logFile: join(logsDir, 'gateway.log'),
  async startGateway() {
    const { config, configFile } = loadDesktopConfig(app.getPath('userData'));
    logging = createDesktopLogger(config, logsDir, !app.isPackaged);
    logging.logger.info({ dataDir: config.dataDir, configFile }, 'starting the gateway');
    // The keychain check runs in a utility process: the app's runAsNode fuse is off.
    const gateway = await startGateway(config, { logger: logging.logger, launchKeychainChild: utilityProcessLauncher((m, a, o) => utilityProcess.fork(m, a, o)) });
    consoleOrigin = consoleOriginOf(gateway.adminUrl);
    lockConsoleSession(consoleOrigin);
    return gateway;
  },
  showStartFailure: (failure) => dialog.showErrorBox(failure.title, failure.message),
  onStatus: updateTray,
  beforeExit: () => logging?.flush(),
});

// ---- tray ----

let tray: Tray | undefined;
let shownModel = '';
let lastStatus: DesktopStatus = { state: 'starting' };

function trayImage(kind: TrayModel['icon']) {
  // macOS wants a monochrome template image for the menu bar; the attention variant keeps its colour.
  const file = process.platform === 'darwin' && kind === 'normal' ? 'trayTemplate.png' : kind === 'attention' ? 'tray-attention.png' : 'tray.png';
  return nativeImage.createFromPath(join(assets, 'tray', file));
}

function menuItem(entry: TrayMenuEntry): MenuItemConstructorOptions {
  switch (entry.kind) {
    case 'separator':
      return { type: 'separator' };
    case 'info':
      return { label: entry.label, enabled: false };
    case 'toggle':
      return {
        label: entry.label,
        type: 'checkbox',
        checked: entry.checked,
        enabled: entry.enabled,
        click: (item) => {
          try {
            loginItem.setEnabled(item.checked);
          } catch (err) {
            log.error({ err }, 'could not change start at login');
          }
          updateTray(lastStatus);
        },
      };
    case 'action':
      return {
        label: entry.label,
        enabled: entry.enabled,
        click: () => {
          if (entry.id === 'open-console') void desktop.showConsole();
          else if (entry.id === 'copy-scim-url' && lastStatus.scimUrl) clipboard.writeText(lastStatus.scimUrl);
          else if (entry.id === 'quit') app.quit();
        },
      };
  }
}

function loginEnabled(): boolean {
  try {
    return loginItem.isEnabled();
  } catch {
    return false;
  }
}

function updateTray(status: DesktopStatus): void {
  lastStatus = status;
  const model = trayModel(status, { supported: loginItem.supported, enabled: loginEnabled() });
  const key = JSON.stringify(model);
  if (tray && key === shownModel) return; // rebuilding an open menu would close it
  if (!tray) {
    tray = new Tray(trayImage(model.icon));
    // Windows and Linux: a click on the icon opens the console (macOS shows the menu).
    tray.on('click', () => void desktop.showConsole());
  } else {
    tray.setImage(trayImage(model.icon));
  }
  shownModel = key;
  tray.setToolTip(model.tooltip);
  tray.setContextMenu(Menu.buildFromTemplate(model.menu.map(menuItem)));
}

// ---- application menu ----

function applicationMenu(): Menu {
  const mac = process.platform === 'darwin';
  const template: MenuItemConstructorOptions[] = [
    ...(mac ? [{ role: 'appMenu' as const }] : []),
    {
      label: 'File',
      submenu: [
        { label: 'Open Console', accelerator: 'CmdOrCtrl+Shift+O', click: () => void desktop.showConsole() },
        { role: 'close', label: 'Close Window (keeps running in the tray)' },
        ...(mac ? [] : [{ type: 'separator' as const }, { label: 'Quit SCIM Bridge', accelerator: 'Ctrl+Q', click: () => app.quit() }]),
      ],
    },
    { role: 'editMenu' }, // copy and paste, e.g. a token into the clipboard
    {
      label: 'View',
      submenu: [
        { role: 'reload' },
        { type: 'separator' },
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        { type: 'separator' },
        { role: 'togglefullscreen' },
        ...(app.isPackaged ? [] : [{ role: 'toggleDevTools' as const }]),
      ],
    },
    { role: 'windowMenu' },
  ];
  return Menu.buildFromTemplate(template);
}

// ---- wiring ----

app.on('web-contents-created', (_event, contents) => harden(contents));

ipcMain.handle(OPEN_EXTERNAL_CHANNEL, async (event, arg: unknown) => {
  const url = parseOpenExternalRequest(event.senderFrame?.url, arg, consoleOrigin);
  if (!url) return false;
  await shell.openExternal(url);
  return true;
});

void app.whenReady().then(() => {
  Menu.setApplicationMenu(applicationMenu());
  // Nothing should load in the default session; if anything does, it gets no permission.
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
});

desktop.run().catch((err: unknown) => {
  log.error({ err }, 'the desktop app failed');
  dialog.showErrorBox('SCIM Bridge failed', err instanceof Error ? err.message : String(err));
  app.exit(1);
});
