// `npm run desktop`: builds the gateway, the console and the Electron main, then starts the desktop
// app with `electron .`. Electron is an optional dependency whose binary npm downloads from
// github.com; where that download was skipped or failed, this says how to get it instead of
// printing Electron's stack trace.
//
//   node scripts/desktop.mjs [--check] [--no-build] [-- <arguments for the app>]
//     --check     only check that the Electron binary is there (exit 0) or explain (exit 1)
//     --no-build  start what was built last
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const require = createRequire(import.meta.url);

const argv = process.argv.slice(2);
const dashDash = argv.indexOf('--');
const own = dashDash === -1 ? argv : argv.slice(0, dashDash);
const appArgs = dashDash === -1 ? [] : argv.slice(dashDash + 1);

/** The Electron executable's path, or why there is none. */
function findElectron() {
  try {
    require.resolve('electron/package.json', { paths: [root] });
  } catch {
    return { problem: 'The electron package is not installed (npm left out the optional dependency).' };
  }
  let path;
  try {
    // The package exports the path of the binary it downloaded; it throws when there is none.
    path = require(require.resolve('electron', { paths: [root] }));
  } catch {
    return { problem: 'The Electron binary was not downloaded when the packages were installed.' };
  }
  if (typeof path !== 'string' || !existsSync(path)) return { problem: `The Electron binary is missing: ${path}` };
  return { path };
}

function explain(problem) {
  process.stderr.write(
    [
      `SCIM Bridge desktop: ${problem}`,
      '',
      'Electron is an optional dependency: `npm ci` downloads its binary from github.com when it can,',
      'and carries on without it when it cannot. To get it:',
      '  - with access to github.com:   node node_modules/electron/install.js',
      '  - through a mirror:            ELECTRON_MIRROR=https://<mirror>/electron/ node node_modules/electron/install.js',
      '  - from an unpacked Electron of the version in package-lock.json that you already have:',
      '                                 ELECTRON_OVERRIDE_DIST_PATH=/path/to/electron npm run desktop',
      '',
      'Without Electron, the same gateway and console run headless: `npm start`, then open the',
      'console URL it prints in a browser (docs/install.md).',
      '',
    ].join('\n'),
  );
}

function run(command, args) {
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const electron = findElectron();
if (!electron.path) {
  explain(electron.problem);
  process.exit(1);
}
if (own.includes('--check')) {
  process.stdout.write(`Electron: ${electron.path}\n`);
  process.exit(0);
}

if (!own.includes('--no-build')) {
  // npm sets npm_execpath when it runs this script; fall back to the npm on PATH.
  const npm = process.env.npm_execpath;
  if (npm) run(process.execPath, [npm, 'run', 'build']);
  else run(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build']);
  run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.main.json')]);
}

const child = spawn(electron.path, ['.', ...appArgs], { cwd: root, stdio: 'inherit' });
// Ctrl+C and a service manager's SIGTERM reach the app, which stops the gateway cleanly.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('error', (err) => {
  process.stderr.write(`SCIM Bridge desktop: could not start Electron (${err.message}).\n`);
  process.exit(1);
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
