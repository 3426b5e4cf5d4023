/**
 * The environment of a child process the gateway starts (a `script` connector's command, a
 * connection's hook command): an allow-list of the gateway's own variables, never all of them,
 * since the gateway's environment holds its credentials (database URL, metrics token, connector
 * passwords given as `$env`).
 */
import { z } from 'zod';

/** A variable name as a configuration may give it. */
export const envNameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'not an environment variable name');

/**
 * What a child inherits unless configured otherwise: enough to find programs, speak the locale
 * and write temporary files (SYSTEMROOT, TEMP and TMP on Windows).
 */
export const DEFAULT_INHERITED_ENV: readonly string[] = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'HOME', 'TMPDIR', 'SYSTEMROOT', 'TEMP', 'TMP'];

/** The allow-listed variables of ours that are set, then the fixed ones (which win). */
export function childEnvironment(inherit: readonly string[], fixed: Readonly<Record<string, string>> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of inherit) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return Object.assign(env, fixed);
}
