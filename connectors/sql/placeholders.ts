/**
 * Named placeholders in templated statements (`:userName`, `:attr.mail`, `:key`) compiled to the
 * dialect's positional parameters: `$1, $2, ...` for PostgreSQL, `?` for MySQL/MariaDB and SQLite.
 * Values are never written into the SQL text; the driver sends them as parameters.
 *
 * A small scanner rather than a regular expression, so that a `:name` inside a string literal, a
 * quoted identifier, a comment or a PostgreSQL dollar-quoted body is left alone, and `::type`
 * casts stay casts. Why it is hand-written: docs/decisions/0010-sql-named-placeholders.md.
 */
import type { Dialect } from './drivers.js';

/** A template compiled for one dialect. */
export interface CompiledStatement {
  /** The SQL text with positional parameters. */
  sql: string;
  /** Placeholder name of each parameter, in order (a name used twice appears twice). */
  names: string[];
}

/** A placeholder name: `word` or `attr.word`. */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?/;

/** Thrown for a template that cannot be compiled; the message says where and what to change. */
export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

/**
 * Compiles `template` for `dialect`. Refuses positional parameters written by hand (`?`, `$1`):
 * mixing them with named ones would bind values to the wrong places.
 */
export function compileStatement(template: string, dialect: Dialect): CompiledStatement {
  const names: string[] = [];
  let out = '';
  let i = 0;
  const n = template.length;
  const at = (k: number): string => template[k] ?? '';
  const copyUntil = (end: number): void => {
    out += template.slice(i, end);
    i = end;
  };

  while (i < n) {
    const c = at(i);
    const next = at(i + 1);
    // String literal: '' escapes a quote; MySQL (default sql_mode) and PostgreSQL E'' also use backslash.
    if (c === "'") {
      const backslash = dialect === 'mysql' || (dialect === 'postgres' && /[eE]$/.test(out) && !/[A-Za-z0-9_][eE]$/.test(out));
      let k = i + 1;
      for (; k < n; k++) {
        if (backslash && at(k) === '\\') {
          k++;
          continue;
        }
        if (at(k) === "'") {
          if (at(k + 1) === "'") {
            k++;
            continue;
          }
          break;
        }
      }
      if (k >= n) throw new TemplateError('unterminated string literal (a quote \' is not closed)');
      copyUntil(k + 1);
      continue;
    }
    // Quoted identifier: "..." (all dialects; MySQL with ANSI_QUOTES) and `...` (MySQL, SQLite).
    if (c === '"' || (c === '`' && dialect !== 'postgres')) {
      const end = template.indexOf(c, i + 1);
      if (end < 0) throw new TemplateError(`unterminated quoted identifier (a ${c} is not closed)`);
      copyUntil(end + 1);
      continue;
    }
    if (c === '-' && next === '-') {
      const end = template.indexOf('\n', i);
      copyUntil(end < 0 ? n : end);
      continue;
    }
    if (c === '#' && dialect === 'mysql') {
      const end = template.indexOf('\n', i);
      copyUntil(end < 0 ? n : end);
      continue;
    }
    if (c === '/' && next === '*') {
      const end = template.indexOf('*/', i + 2);
      if (end < 0) throw new TemplateError('unterminated comment (a /* is not closed)');
      copyUntil(end + 2);
      continue;
    }
    if (c === '$' && dialect === 'postgres') {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(template.slice(i));
      if (tag) {
        const end = template.indexOf(tag[0], i + tag[0].length);
        if (end < 0) throw new TemplateError(`unterminated dollar-quoted string (${tag[0]} is not closed)`);
        copyUntil(end + tag[0].length);
        continue;
      }
      if (/\d/.test(next)) throw new TemplateError(`positional parameter $${next}... found: write named placeholders such as :userName instead`);
    }
    if (c === '?' && dialect !== 'postgres') {
      throw new TemplateError('positional parameter "?" found: write named placeholders such as :userName instead');
    }
    if (c === ':') {
      if (next === ':') {
        // A PostgreSQL cast (::text); also `::` anywhere else is not a placeholder.
        copyUntil(i + 2);
        continue;
      }
      const name = NAME.exec(template.slice(i + 1));
      if (name) {
        names.push(name[0]);
        out += dialect === 'postgres' ? `$${names.length}` : '?';
        i += 1 + name[0].length;
        continue;
      }
    }
    out += c;
    i++;
  }
  return { sql: out, names };
}

/** Placeholder names a template uses, deduplicated, in order of first use. */
export function placeholderNames(template: string, dialect: Dialect): string[] {
  return [...new Set(compileStatement(template, dialect).names)];
}
