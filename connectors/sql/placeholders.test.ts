import { describe, expect, it } from 'vitest';
import { quoteIdentifier, tableNameProblem, identifierProblem } from './identifiers.js';
import { compileStatement, TemplateError } from './placeholders.js';

describe('compileStatement', () => {
  it('numbers placeholders for PostgreSQL, one parameter per occurrence', () => {
    const c = compileStatement('UPDATE users SET mail = :attr.mail, user_name = :userName WHERE id = :key OR user_name = :userName', 'postgres');
    expect(c.sql).toBe('UPDATE users SET mail = $1, user_name = $2 WHERE id = $3 OR user_name = $4');
    expect(c.names).toEqual(['attr.mail', 'userName', 'key', 'userName']);
  });

  it('uses ? for MySQL and SQLite', () => {
    for (const d of ['mysql', 'sqlite'] as const) {
      const c = compileStatement('INSERT INTO t (a, b) VALUES (:userName, :attr.given_name)', d);
      expect(c.sql).toBe('INSERT INTO t (a, b) VALUES (?, ?)');
      expect(c.names).toEqual(['userName', 'attr.given_name']);
    }
  });

  it('leaves string literals, quoted identifiers, comments and casts alone', () => {
    const c = compileStatement(
      `SELECT ':notme', "col:x", id::text, 'it''s :no' -- :comment\n, /* :block */ $tag$ :dollar $tag$, E'\\' :esc' FROM t WHERE a = :userName`,
      'postgres',
    );
    expect(c.names).toEqual(['userName']);
    expect(c.sql).toContain("':notme'");
    expect(c.sql).toContain('id::text');
    expect(c.sql).toContain('$tag$ :dollar $tag$');
    expect(c.sql).toContain("E'\\' :esc'");
    expect(c.sql.endsWith('a = $1')).toBe(true);
  });

  it('knows MySQL backslash escapes, backticks and # comments', () => {
    const c = compileStatement("SELECT 'a\\' :no', `x:y` # :comment\nFROM t WHERE u = :userName", 'mysql');
    expect(c.names).toEqual(['userName']);
  });

  it('refuses hand-written positional parameters and unterminated quotes', () => {
    expect(() => compileStatement('SELECT * FROM t WHERE a = ?', 'mysql')).toThrow(TemplateError);
    expect(() => compileStatement('SELECT * FROM t WHERE a = $1', 'postgres')).toThrow(/named placeholders/);
    expect(() => compileStatement("SELECT 'open", 'sqlite')).toThrow(/unterminated/);
    // PostgreSQL's ? operators (jsonb) are not parameters there.
    expect(compileStatement("SELECT data ? 'k' FROM t WHERE id = :key", 'postgres').names).toEqual(['key']);
  });
});

describe('identifiers', () => {
  it('accepts plain names and schema.table, refuses anything that could break out of a quote', () => {
    expect(identifierProblem('user_name')).toBeUndefined();
    expect(tableNameProblem('hr.users')).toBeUndefined();
    for (const bad of ['users; DROP TABLE users', 'a"b', 'a`b', 'a b', '1abc', '', 'a.b.c', 'x'.repeat(64)]) {
      expect(tableNameProblem(bad), bad).toBeDefined();
    }
    expect(identifierProblem('hr.users')).toBeDefined();
  });

  it('quotes per dialect and refuses an unchecked name', () => {
    expect(quoteIdentifier('postgres', 'hr.users')).toBe('"hr"."users"');
    expect(quoteIdentifier('mysql', 'users')).toBe('`users`');
    expect(quoteIdentifier('sqlite', 'users')).toBe('"users"');
    expect(() => quoteIdentifier('postgres', 'users"; DROP TABLE x; --')).toThrow(/refusing/);
  });
});
