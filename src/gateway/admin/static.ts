/**
 * Serves the built console (Vite's output): index.html never cached, fingerprinted assets cached
 * for good. Everything comes from this gateway: the console works on an air-gapped server.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import express, { Router } from 'express';

/** dist/renderer of this checkout, whether the gateway runs from sources (tests) or from dist/. */
export function defaultConsoleDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [
    join(here, '..', '..', '..', 'dist', 'renderer'), // src/gateway/admin -> <root>/dist/renderer
    join(here, '..', '..', '..', 'renderer'), // dist/src/gateway/admin -> dist/renderer
  ];
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? candidates[0];
}

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>SCIM Bridge</title></head>
<body><h1>The console is not built</h1><p>Run <code>npm run build</code> (or <code>npm start</code>, which builds when needed), then reload this page.</p>
<p>The admin API answers under <code>/api</code> meanwhile.</p></body></html>`;

export function consoleRoutes(dir: string): Router {
  const r = Router();
  const index = join(dir, 'index.html');
  r.use(
    '/assets',
    express.static(join(dir, 'assets'), {
      index: false,
      fallthrough: false,
      immutable: true,
      maxAge: '365d',
    }),
  );
  const sendIndex = (_req: express.Request, res: express.Response) => {
    if (!existsSync(index)) {
      res.status(503).type('html').send(NOT_BUILT);
      return;
    }
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  };
  r.get('/', sendIndex);
  r.get('/index.html', sendIndex);
  // Files at the top of the build (the icon).
  r.use(express.static(dir, { index: false, maxAge: '1h' }));
  return r;
}
