// `npm start` builds only when dist/ is missing or older than a source file, so a fresh clone
// works with `npm ci && npm start` and a second start is instant.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const entry = join(root, 'dist', 'cli.js');

function newest(dir, match = (name) => name.endsWith('.ts')) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p, match));
    else if (match(e.name)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

const sources = Math.max(newest(join(root, 'src', 'gateway')), newest(join(root, 'connectors')), statSync(join(root, 'tsconfig.json')).mtimeMs);
if (!existsSync(entry) || statSync(entry).mtimeMs < sources) {
  process.stderr.write('Building SCIM Bridge (first start or sources changed)...\n');
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
  execFileSync(process.execPath, [join(root, 'scripts', 'write-entry.mjs')], { stdio: 'inherit' });
}

// The admin console (src/renderer): built by Vite into dist/renderer, which the gateway serves.
const consoleIndex = join(root, 'dist', 'renderer', 'index.html');
const consoleSources = Math.max(newest(join(root, 'src', 'renderer'), () => true), statSync(join(root, 'src', 'gateway', 'admin', 'api-types.ts')).mtimeMs);
if (!existsSync(consoleIndex) || statSync(consoleIndex).mtimeMs < consoleSources) {
  process.stderr.write('Building the admin console...\n');
  execFileSync(process.execPath, [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', join(root, 'src', 'renderer', 'vite.config.ts')], { stdio: 'inherit' });
}
