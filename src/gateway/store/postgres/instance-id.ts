/**
 * The name this gateway instance uses for its outbox leases on a shared database, kept in its data
 * directory so that it survives restarts: a restarted instance then takes back the deliveries its
 * previous run held at once, instead of waiting for their leases to expire.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const INSTANCE_ID_FILE = 'instance-id';
const VALID = /^[A-Za-z0-9._:-]{1,100}$/;

/** Reads `<dataDir>/instance-id`, creating it (host name + random suffix) on first use. */
export function readInstanceId(dataDir: string): string {
  const file = join(dataDir, INSTANCE_ID_FILE);
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (VALID.test(id)) return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 60) || 'gateway';
  const id = `${host}:${randomBytes(4).toString('hex')}`;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(file, `${id}\n`, { mode: 0o600 });
  return id;
}
