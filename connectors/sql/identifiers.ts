/**
 * Table and column names in table mode. Values always travel as parameters; identifiers cannot,
 * so they are checked against a strict pattern (when the config is parsed, and again before they
 * are written into a statement) and quoted in the dialect's way.
 */
import type { Dialect } from './drivers.js';

/** A bare SQL identifier: a letter or `_`, then letters, digits or `_`; 63 characters at most (PostgreSQL's limit). */
export const IDENTIFIER_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Why `name` is not an acceptable column name, or undefined when it is. */
export function identifierProblem(name: string): string | undefined {
  if (IDENTIFIER_PATTERN.test(name)) return undefined;
  return `"${name}" is not an accepted SQL identifier: use 1-63 letters, digits and "_", starting with a letter or "_" (no spaces, quotes, dots or semicolons)`;
}

/** Why `name` is not an acceptable table name (`table` or `schema.table`), or undefined. */
export function tableNameProblem(name: string): string | undefined {
  const parts = name.split('.');
  if (parts.length <= 2 && parts.every((p) => IDENTIFIER_PATTERN.test(p))) return undefined;
  return `"${name}" is not an accepted table name: use "table" or "schema.table", each part 1-63 letters, digits and "_", starting with a letter or "_"`;
}

/**
 * Quotes a checked identifier (or `schema.table`) for the dialect. Throws on a name that fails
 * the pattern: config parsing has refused it already, so reaching here is a bug, not input.
 */
export function quoteIdentifier(dialect: Dialect, name: string): string {
  const problem = tableNameProblem(name);
  if (problem) throw new Error(`refusing to write an identifier into SQL: ${problem}`);
  // The pattern excludes quote characters, so wrapping is enough; no escaping is needed.
  return name
    .split('.')
    .map((part) => (dialect === 'mysql' ? `\`${part}\`` : `"${part}"`))
    .join('.');
}
