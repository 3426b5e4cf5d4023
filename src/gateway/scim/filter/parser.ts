/**
 * Hand-written tokenizer and recursive-descent parser for SCIM filters (RFC7644 §3.4.2.2)
 * and PATCH attribute paths (RFC7644 §3.5.2). One grammar serves both, so a value filter in
 * `emails[type eq "work"].value` means the same thing in `?filter=` and in a PATCH `path`.
 *
 * Safety: input length and nesting depth are limited before any work is done, recursion only
 * happens on nesting (bounded by maxDepth), `and`/`or` chains are parsed in a loop and built
 * as balanced trees (AST depth O(log n) per chain), and every failure is a ScimError 400.
 * Positions in messages count characters from 1.
 */
import { ScimError } from '../errors.js';
import {
  DEFAULT_FILTER_LIMITS,
  type AttrPath,
  type CompareOp,
  type CompareValue,
  type FilterLimits,
  type FilterNode,
} from './ast.js';

type TokenKind = 'word' | 'string' | '(' | ')' | '[' | ']' | 'eof';

interface Token {
  kind: TokenKind;
  /** Raw text as written (for strings: including the quotes). */
  text: string;
  /** Decoded value of a string token. */
  value: string;
  /** 0-based offset of the first character. */
  pos: number;
  /** 0-based offset just past the last character. */
  end: number;
}

const COMPARE_OPS: ReadonlySet<string> = new Set(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']);
const OPS_TEXT = 'eq, ne, co, sw, ew, gt, ge, lt, le, pr';

/** Names that would reach Object.prototype if a consumer used them as keys; refused outright. */
const RESERVED_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** RFC7643 §2.1: ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA; plus `$ref`. */
const ATTR_NAME = /^(?:[A-Za-z][A-Za-z0-9_-]*|\$ref)$/i;
/** A URI scheme followed by ':' and URI characters (schema URNs such as `urn:ietf:params:scim:...:2.0:User`). */
const SCHEMA_URI = /^[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9\-._~:/?#@!$&'*+,;=%]*$/;
/** JSON number (RFC8259 §6), which RFC7644 §3.4.2.2 compValue refers to. */
const JSON_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

type Mode = 'filter' | 'path';

class Parser {
  private readonly src: string;
  private readonly mode: Mode;
  private readonly maxDepth: number;
  private depth = 0;
  /** Lexer cursor: where the next unread token starts scanning. */
  private cursor = 0;
  /** Up to two tokens of lookahead (two are needed only to tell `not (` from an attribute named "not"). */
  private readonly ahead: Token[] = [];
  /** Description of the last consumed token, for "after ..." in messages. */
  private prev = '';

  constructor(src: string, mode: Mode, maxDepth: number) {
    this.src = src;
    this.mode = mode;
    this.maxDepth = maxDepth;
  }

  // ---------------------------------------------------------------- errors

  fail(pos: number, message: string): never {
    const what = this.mode === 'filter' ? 'Filter' : 'Path';
    const detail = `${what} error at position ${pos + 1}: ${message}`;
    throw this.mode === 'filter' ? ScimError.invalidFilter(detail) : ScimError.invalidPath(detail);
  }

  private describe(t: Token): string {
    switch (t.kind) {
      case 'eof':
        return this.mode === 'filter' ? 'the end of the filter' : 'the end of the path';
      case 'string':
        // The raw text already carries its quotes; JSON-quoting it again would be unreadable.
        return `the string ${t.text.length > 100 ? `${t.text.slice(0, 96)}..."` : t.text}`;
      default:
        return quote(t.text);
    }
  }

  private after(): string {
    return this.prev === '' ? '' : ` after ${this.prev}`;
  }

  // ---------------------------------------------------------------- lexer

  private isSpace(c: number): boolean {
    // SP and HTAB; CR/LF are tolerated too (multi-line filters pasted into tools).
    return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
  }

  private lex(): Token {
    const s = this.src;
    let i = this.cursor;
    while (i < s.length && this.isSpace(s.charCodeAt(i))) i++;
    if (i >= s.length) {
      this.cursor = i;
      return { kind: 'eof', text: '', value: '', pos: s.length, end: s.length };
    }
    const ch = s[i];
    if (ch === '(' || ch === ')' || ch === '[' || ch === ']') {
      this.cursor = i + 1;
      return { kind: ch, text: ch, value: '', pos: i, end: i + 1 };
    }
    if (ch === '"') return this.lexString(i);
    // A word runs to the next space, bracket, parenthesis or quote. It is classified later
    // (attribute path, operator, keyword, literal), which keeps URNs with ':' and '.' in one piece.
    let j = i;
    while (j < s.length) {
      const c = s.charCodeAt(j);
      if (this.isSpace(c) || c === 0x28 || c === 0x29 || c === 0x5b || c === 0x5d || c === 0x22) break;
      j++;
    }
    this.cursor = j;
    const text = s.slice(i, j);
    return { kind: 'word', text, value: text, pos: i, end: j };
  }

  /** JSON string (RFC8259 §7): escapes \" \\ \/ \b \f \n \r \t \uXXXX. */
  private lexString(start: number): Token {
    const s = this.src;
    let i = start + 1;
    let out = '';
    let chunk = i;
    for (;;) {
      if (i >= s.length) {
        this.fail(start, `unterminated string starting here: add the closing double quote (")`);
      }
      const c = s.charCodeAt(i);
      if (c === 0x22) break;
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += s.slice(chunk, i);
      const e = s[i + 1];
      if (e === undefined) this.fail(start, `unterminated string starting here: add the closing double quote (")`);
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          i += 2;
          break;
        case 'b':
          out += '\b';
          i += 2;
          break;
        case 'f':
          out += '\f';
          i += 2;
          break;
        case 'n':
          out += '\n';
          i += 2;
          break;
        case 'r':
          out += '\r';
          i += 2;
          break;
        case 't':
          out += '\t';
          i += 2;
          break;
        case 'u': {
          const hex = s.slice(i + 2, i + 6);
          if (!/^[0-9A-Fa-f]{4}$/.test(hex)) {
            this.fail(i, `invalid escape in string: \\u must be followed by 4 hexadecimal digits`);
          }
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
          break;
        }
        default:
          this.fail(i, `invalid escape "\\${e}" in string: use \\", \\\\, \\/, \\b, \\f, \\n, \\r, \\t or \\uXXXX`);
      }
      chunk = i;
    }
    out += s.slice(chunk, i);
    this.cursor = i + 1;
    return { kind: 'string', text: s.slice(start, i + 1), value: out, pos: start, end: i + 1 };
  }

  private peek(n = 0): Token {
    while (this.ahead.length <= n) this.ahead.push(this.lex());
    return this.ahead[n];
  }

  private next(): Token {
    const t = this.peek();
    this.ahead.shift();
    if (t.kind !== 'eof') this.prev = this.describe(t);
    return t;
  }

  private isKeyword(t: Token, word: string): boolean {
    return t.kind === 'word' && t.text.length === word.length && t.text.toLowerCase() === word;
  }

  private isOperator(t: Token): boolean {
    if (t.kind !== 'word' || t.text.length !== 2) return false;
    const w = t.text.toLowerCase();
    return w === 'pr' || COMPARE_OPS.has(w);
  }

  private enter(pos: number, what: string): void {
    if (++this.depth > this.maxDepth) {
      this.fail(
        pos,
        `${what} nests deeper than the limit of ${this.maxDepth} levels (parentheses, "not" and value filters count); simplify the ${this.mode}`,
      );
    }
  }

  // ---------------------------------------------------------------- grammar

  /** FILTER at top level, then end of input. */
  parseWholeFilter(): FilterNode {
    if (this.peek().kind === 'eof') {
      this.fail(0, 'the filter is empty; expected an expression such as userName eq "bjensen"');
    }
    const node = this.parseOr(undefined);
    const t = this.peek();
    if (t.kind !== 'eof') {
      if (t.kind === ')') this.fail(t.pos, `unexpected ")" without a matching "("`);
      if (t.kind === ']') this.fail(t.pos, `unexpected "]" without a matching "["`);
      this.fail(t.pos, `expected "and", "or" or the end of the filter${this.after()}, found ${this.describe(t)}`);
    }
    return node;
  }

  /** PATH = attrPath / valuePath [subAttr] (RFC7644 §3.5.2), then end of input. */
  parseWholePath(): AttrPath {
    const t = this.peek();
    if (t.kind === 'eof') this.fail(0, 'the path is empty; expected an attribute such as name.givenName');
    if (t.kind !== 'word') this.fail(t.pos, `expected an attribute name, found ${this.describe(t)}`);
    this.next();
    const path = this.attrPath(t, undefined);
    if (this.peek().kind === '[') this.valueFilter(path, t);
    const end = this.peek();
    if (end.kind !== 'eof') {
      this.fail(end.pos, `expected the end of the path${this.after()}, found ${this.describe(end)}`);
    }
    return path;
  }

  /**
   * orExpr = andExpr *("or" andExpr). `and` binds tighter than `or` (RFC7644 §3.4.2.2, Table 5 precedence).
   * `parent` is set inside a value filter `attr[...]` (the attribute name, for messages).
   */
  private parseOr(parent: string | undefined): FilterNode {
    const first = this.parseAnd(parent);
    if (!this.isKeyword(this.peek(), 'or')) return first;
    const items = [first];
    while (this.isKeyword(this.peek(), 'or')) {
      this.next();
      items.push(this.parseAnd(parent));
    }
    return balance('or', items, 0, items.length);
  }

  private parseAnd(parent: string | undefined): FilterNode {
    const first = this.parseUnary(parent);
    if (!this.isKeyword(this.peek(), 'and')) return first;
    const items = [first];
    while (this.isKeyword(this.peek(), 'and')) {
      this.next();
      items.push(this.parseUnary(parent));
    }
    return balance('and', items, 0, items.length);
  }

  /** "(" FILTER ")" / "not" "(" FILTER ")" / attrExp / valuePath. */
  private parseUnary(parent: string | undefined): FilterNode {
    const t = this.peek();
    if (t.kind === '(') {
      this.next();
      return this.group(t, parent);
    }
    if (t.kind === 'word') {
      if (this.isKeyword(t, 'not')) {
        const t2 = this.peek(1);
        if (t2.kind === '(') {
          this.next();
          this.next();
          // `not (...)` is one nesting level, like a plain parenthesis.
          return { kind: 'not', filter: this.group(t2, parent) };
        }
        // An attribute that happens to be called "not": `not pr`, `not eq 1`, `not[...]`.
        if (!this.isOperator(t2) && t2.kind !== '[') {
          this.next();
          this.fail(
            t2.pos,
            `expected "(" after "not", found ${this.describe(t2)}; RFC7644 §3.4.2.2 writes negation as not (filter)`,
          );
        }
      }
      // "and"/"or" where a term should start is a doubled or dangling keyword, unless an
      // operator follows (then it is an attribute with that name).
      if ((this.isKeyword(t, 'and') || this.isKeyword(t, 'or')) && !this.isOperator(this.peek(1)) && this.peek(1).kind !== '[') {
        this.fail(t.pos, `expected an attribute name, "(" or "not"${this.after()}, found ${this.describe(t)}`);
      }
      this.next();
      return this.attrTerm(t, parent);
    }
    const where = parent === undefined ? '' : ` inside "${parent}[...]"`;
    if (t.kind === 'string') {
      this.fail(
        t.pos,
        `expected an attribute name${where}${this.after()}, found ${this.describe(t)}; write the attribute first, as in userName eq "bjensen"`,
      );
    }
    this.fail(t.pos, `expected an attribute name, "(" or "not"${where}${this.after()}, found ${this.describe(t)}`);
  }

  /** After "(": FILTER ")". */
  private group(open: Token, parent: string | undefined): FilterNode {
    this.enter(open.pos, 'the expression');
    const node = this.parseOr(parent);
    const t = this.peek();
    if (t.kind !== ')') {
      const close = `")" to close the "(" at position ${open.pos + 1}`;
      if (t.kind === 'eof' || t.kind === ']') this.fail(t.pos, `expected ${close}, found ${this.describe(t)}`);
      this.fail(t.pos, `expected "and", "or" or ${close}${this.after()}, found ${this.describe(t)}`);
    }
    this.next();
    this.depth--;
    return node;
  }

  /** attrPath followed by `pr`, or compareOp compValue; or a value path `attr[filter]` with optional `.sub op value`. */
  private attrTerm(word: Token, parent: string | undefined): FilterNode {
    const path = this.attrPath(word, parent);
    if (this.peek().kind === '[') {
      if (parent !== undefined) {
        this.fail(
          this.peek().pos,
          `nested value filters are not allowed: "${word.text}[...]" inside "${parent}[...]" (RFC7644 §3.4.2.2 valFilter)`,
        );
      }
      this.valueFilter(path, word);
      if (path.subAttr === undefined) {
        const t = this.peek();
        if (this.isOperator(t)) {
          this.fail(
            t.pos,
            `"${word.text}[...]" is a whole filter term; to compare, name a sub-attribute after "]", as in ${word.text}[...].value ${t.text.toLowerCase()} ...`,
          );
        }
        return { kind: 'valuePath', path: path as AttrPath & { filter: FilterNode } };
      }
    }
    const opTok = this.peek();
    if (!this.isOperator(opTok)) {
      this.fail(
        opTok.pos,
        `expected a comparison operator (${OPS_TEXT})${this.after()}, found ${this.describe(opTok)}`,
      );
    }
    this.next();
    const op = opTok.text.toLowerCase();
    if (op === 'pr') return { kind: 'present', path };
    const value = this.compValue(op);
    return { kind: 'compare', path, op: op as CompareOp, value };
  }

  /** After the attribute word, at "[": "[" valFilter "]" [ "." subAttr ]. Mutates `path`. */
  private valueFilter(path: AttrPath, word: Token): void {
    const open = this.next();
    if (path.subAttr !== undefined) {
      this.fail(
        open.pos,
        `a value filter "[...]" selects elements of a multi-valued attribute; put it before the sub-attribute, as in ${path.attr}[...].${path.subAttr}`,
      );
    }
    this.enter(open.pos, 'the value filter');
    const first = this.peek();
    if (first.kind === ']') this.fail(first.pos, `the value filter "${word.text}[]" is empty; expected a filter such as type eq "work"`);
    const filter = this.parseOr(path.attr);
    const t = this.peek();
    if (t.kind !== ']') {
      const close = `"]" to close the "[" at position ${open.pos + 1}`;
      if (t.kind === 'eof' || t.kind === ')') this.fail(t.pos, `expected ${close}, found ${this.describe(t)}`);
      this.fail(t.pos, `expected "and", "or" or ${close}${this.after()}, found ${this.describe(t)}`);
    }
    this.next();
    this.depth--;
    path.filter = filter;
    const sub = this.peek();
    if (sub.kind === 'word' && sub.text.startsWith('.')) {
      this.next();
      const name = sub.text.slice(1);
      this.checkName(name, sub.pos + 1, sub.text);
      path.subAttr = name;
    }
  }

  /** attrPath = [URI ":"] ATTRNAME *1subAttr (RFC7644 §3.4.2.2); inside a value filter only ATTRNAME. */
  private attrPath(word: Token, parent: string | undefined): AttrPath {
    const text = word.text;
    if (text.startsWith('.')) {
      this.fail(word.pos, `expected an attribute name, found ${quote(text)}; a sub-attribute needs its attribute first, as in name.givenName`);
    }
    const colon = text.lastIndexOf(':');
    let schema: string | undefined;
    let rest = text;
    let restPos = word.pos;
    if (colon >= 0) {
      // The schema is everything up to the last ':'; URNs contain dots ("2.0"), so dots are
      // only looked at after it.
      schema = text.slice(0, colon);
      rest = text.slice(colon + 1);
      restPos = word.pos + colon + 1;
      if (parent !== undefined) {
        this.fail(
          word.pos,
          `inside "${parent}[...]" name a sub-attribute of "${parent}" without a schema URN (e.g. type or value), found ${quote(text)}`,
        );
      }
      if (!SCHEMA_URI.test(schema)) {
        this.fail(word.pos, `${quote(schema)} is not a valid schema URN in ${quote(text)}`);
      }
      if (rest === '') {
        this.fail(restPos, `expected an attribute name after the schema URN ${quote(text)}, as in ${schema}:userName`);
      }
    }
    const dot = rest.indexOf('.');
    if (dot < 0) {
      this.checkName(rest, restPos, text);
      return schema === undefined ? { attr: rest } : { schema, attr: rest };
    }
    const attr = rest.slice(0, dot);
    const sub = rest.slice(dot + 1);
    if (parent !== undefined) {
      this.fail(
        word.pos,
        `inside "${parent}[...]" name a sub-attribute of "${parent}" (e.g. type or value), found ${quote(text)}`,
      );
    }
    if (sub.includes('.')) {
      this.fail(
        restPos + dot + 1 + sub.indexOf('.'),
        `too many dots in ${quote(text)}: SCIM attributes have at most one level of sub-attributes (attr.subAttr)`,
      );
    }
    this.checkName(attr, restPos, text);
    this.checkName(sub, restPos + dot + 1, text);
    return schema === undefined ? { attr, subAttr: sub } : { schema, attr, subAttr: sub };
  }

  private checkName(name: string, pos: number, whole: string): void {
    if (name === '') this.fail(pos, `expected an attribute name in ${quote(whole)}`);
    if (RESERVED_NAMES.has(name.toLowerCase())) {
      this.fail(pos, `"${name}" cannot be used as an attribute name (reserved, to protect the server against prototype pollution)`);
    }
    if (!ATTR_NAME.test(name)) {
      this.fail(
        pos,
        `${quote(name)} is not a valid attribute name: names start with a letter and contain only letters, digits, "-" and "_" (RFC7643 §2.1)`,
      );
    }
  }

  /** compValue = false / null / true / number / string (RFC7644 §3.4.2.2). */
  private compValue(op: string): CompareValue {
    const t = this.peek();
    const expected = `expected a value${this.after()}: a "double-quoted string", a number, true, false or null`;
    if (t.kind === 'string') {
      this.next();
      return t.value;
    }
    if (t.kind !== 'word') this.fail(t.pos, `${expected}, found ${this.describe(t)}`);
    const w = t.text.toLowerCase();
    if (w === 'true' || w === 'false' || w === 'null') {
      this.next();
      return w === 'null' ? null : w === 'true';
    }
    if (JSON_NUMBER.test(t.text)) {
      const n = Number(t.text);
      if (!Number.isFinite(n)) this.fail(t.pos, `the number ${t.text} is out of range`);
      this.next();
      return n;
    }
    if (/^[+-]?(?:[0-9]|\.[0-9])/.test(t.text)) {
      this.fail(t.pos, `${quote(t.text)} is not a valid number (use JSON numbers such as 42, -1.5 or 2e3)`);
    }
    const hint = t.text.startsWith("'")
      ? `; strings use double quotes, as in ${op} "${t.text.replace(/^'|'$/g, '')}"`
      : `; if it is text, put it in double quotes: ${op} "${t.text}"`;
    this.fail(t.pos, `${expected}, found ${quote(t.text)}${hint}`);
  }
}

/** Builds a balanced and/or tree so that AST depth stays logarithmic in the length of a chain. */
function balance(kind: 'and' | 'or', items: FilterNode[], lo: number, hi: number): FilterNode {
  if (hi - lo === 1) return items[lo];
  // The left half gets the extra item, so `a and b and c` is ((a and b) and c), as with left association.
  const mid = lo + Math.ceil((hi - lo) / 2);
  return { kind, left: balance(kind, items, lo, mid), right: balance(kind, items, mid, hi) };
}

function quote(text: string): string {
  const shown = text.length > 100 ? `${text.slice(0, 97)}...` : text;
  return JSON.stringify(shown);
}

function effectiveLimits(limits: Partial<FilterLimits> | undefined): FilterLimits {
  return {
    maxLength: limits?.maxLength ?? DEFAULT_FILTER_LIMITS.maxLength,
    maxDepth: limits?.maxDepth ?? DEFAULT_FILTER_LIMITS.maxDepth,
  };
}

function run<T>(mode: Mode, input: unknown, limits: Partial<FilterLimits> | undefined, body: (p: Parser) => T): T {
  const make = mode === 'filter' ? ScimError.invalidFilter : ScimError.invalidPath;
  const what = mode === 'filter' ? 'Filter' : 'Path';
  if (typeof input !== 'string') throw make(`${what} must be a string`);
  const { maxLength, maxDepth } = effectiveLimits(limits);
  if (input.length > maxLength) {
    throw make(`${what} is ${input.length} characters long; the limit is ${maxLength} characters`);
  }
  try {
    return body(new Parser(input, mode, maxDepth));
  } catch (err) {
    if (err instanceof ScimError) throw err;
    // Safety net (e.g. a stack overflow with a caller-supplied huge maxDepth): never leak a 500.
    throw make(`${what} could not be parsed: it is too complex`);
  }
}

/** Parses a SCIM filter (RFC7644 §3.4.2.2); throws ScimError invalidFilter (400) with a positioned detail. */
export function parseFilter(input: string, limits?: Partial<FilterLimits>): FilterNode {
  return run('filter', input, limits, (p) => p.parseWholeFilter());
}

/** Parses a PATCH path (RFC7644 §3.5.2: attrPath / valuePath [subAttr]); throws ScimError invalidPath (400). */
export function parsePath(input: string, limits?: Partial<FilterLimits>): AttrPath {
  return run('path', input, limits, (p) => p.parseWholePath());
}
