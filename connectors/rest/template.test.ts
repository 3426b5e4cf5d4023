/** Request templates, field paths and Retry-After: the pure parts of the rest connector. */
import { describe, expect, it } from 'vitest';
import { testing } from './index.js';

const { renderBody, renderUrl, renderUrlUnder, renderHeader, readPath, checkPlaceholders, parseRetryAfter, linkNext } = testing;

const scope = {
  userName: 'ada@example.org',
  active: false,
  key: '42',
  members: ['1', '2'],
  attributes: { mail: 'ada@example.org', givenName: 'Ada', phone: null, groups: ['a', 'b'] },
};

describe('renderBody', () => {
  it('keeps the type of a whole-value placeholder and interpolates inside longer strings', () => {
    expect(
      renderBody(
        { login: '{{userName}}', enabled: '{{active}}', ids: '{{members}}', greeting: 'Hello {{attributes.givenName}} ({{key}})', n: 3, nested: [{ m: '{{attributes.mail}}' }] },
        scope,
      ),
    ).toEqual({ login: 'ada@example.org', enabled: false, ids: ['1', '2'], greeting: 'Hello Ada (42)', n: 3, nested: [{ m: 'ada@example.org' }] });
  });

  it('drops a member whose value is absent, keeps an explicit null, and renders absent text as empty', () => {
    expect(renderBody({ a: '{{attributes.missing}}', b: '{{attributes.phone}}', c: 'x{{attributes.missing}}y' }, scope)).toEqual({ b: null, c: 'xy' });
  });

  it('cannot be escaped by a value: quotes and braces stay data', () => {
    const evil = '", "admin": true, "x": "{{key}}';
    const body = JSON.stringify(renderBody({ login: '{{userName}}', note: 'user {{userName}}' }, { userName: evil, key: '1' }));
    expect(JSON.parse(body)).toEqual({ login: evil, note: `user ${evil}` });
  });

  it('does not reach inherited properties', () => {
    expect(renderBody({ a: '{{constructor}}', b: '{{attributes.toString}}' }, scope)).toEqual({});
  });
});

describe('renderUrl and renderHeader', () => {
  it('percent-encodes every value in a URL', () => {
    expect(renderUrl('/accounts?login={{userName}}&k={{key}}', { userName: 'a&b=c/../d?#', key: 'x y' })).toBe('/accounts?login=a%26b%3Dc%2F..%2Fd%3F%23&k=x%20y');
    expect(renderUrl('/teams/{{key}}/members?ids={{members}}', scope)).toBe('/teams/42/members?ids=1%2C2');
  });

  it('refuses a value that would make a path segment ".", ".." or empty: fetch would resolve it to another endpoint', () => {
    for (const externalId of ['..', '.', '']) {
      expect(() => renderUrl('/accounts/{{externalId}}/disable', { externalId })).toThrow(/\{\{externalId\}\}.*path segment/);
    }
    expect(() => renderUrl('/accounts/{{externalId}}', {})).toThrow(/\{\{externalId\}\}.*empty/);
    // Two values that make a dot segment together, or with the template's own text.
    expect(() => renderUrl('/teams/{{key}}{{member}}', { key: '.', member: '.' })).toThrow(/path segment/);
    expect(() => renderUrl('/teams/.{{key}}/x', { key: '.' })).toThrow(/path segment/);
    // Dots inside a longer segment, and anything in the query, are plain data.
    expect(renderUrl('/accounts/{{key}}/disable', { key: '..x' })).toBe('/accounts/..x/disable');
    expect(renderUrl('/accounts/{{key}}', { key: '%2e%2e' })).toBe('/accounts/%252e%252e');
    expect(renderUrl('/accounts?ref={{key}}&q={{userName}}', { key: '..', userName: '' })).toBe('/accounts?ref=..&q=');
  });

  it('keeps a rendered URL under the template\'s literal prefix', () => {
    expect(renderUrlUnder('http://api.example/v1', '/accounts/{{key}}/disable', { key: '42' })).toBe('http://api.example/v1/accounts/42/disable');
    expect(() => renderUrlUnder('http://api.example/v1', '/accounts/{{key}}', { key: '..' })).toThrow(/path segment/);
  });

  it('refuses a line break in a header value', () => {
    expect(renderHeader('user {{userName}}', { userName: 'ada' }, 'X-User')).toBe('user ada');
    expect(() => renderHeader('{{userName}}', { userName: 'ada\r\nX-Admin: 1' }, 'X-User')).toThrow(/line break/);
  });
});

describe('checkPlaceholders', () => {
  it('accepts known roots and attributes.<name>', () => {
    expect(() => checkPlaceholders({ a: '{{userName}}', b: ['{{attributes.mail}}'] }, ['userName', 'attributes'], 'op')).not.toThrow();
  });

  it('names the unknown placeholder and what is available', () => {
    expect(() => checkPlaceholders('/x/{{key}}', ['userName'], 'operations.createUser.url')).toThrow(
      'operations.createUser.url: unknown placeholder "{{key}}" (available here: {{userName}})',
    );
    expect(() => checkPlaceholders('{{process.env.HOME}}', ['userName'], 'op')).toThrow(/not a placeholder|unknown placeholder/);
    expect(() => checkPlaceholders('{{userName.length}}', ['userName'], 'op')).toThrow(/only \{\{attributes/);
    expect(() => checkPlaceholders('{{ userName + 1 }}', ['userName'], 'op')).toThrow(/not a placeholder/);
  });
});

describe('readPath', () => {
  const doc = { data: { id: 7, 'a/b': 1, 'm~n': 2, items: [{ id: 'x' }] } };
  it('reads JSON pointers (RFC 6901) and dotted paths', () => {
    expect(readPath(doc, '/data/id')).toBe(7);
    expect(readPath(doc, 'data.id')).toBe(7);
    expect(readPath(doc, '/data/a~1b')).toBe(1);
    expect(readPath(doc, '/data/m~0n')).toBe(2);
    expect(readPath(doc, '/data/items/0/id')).toBe('x');
    expect(readPath(doc, 'data.items.0.id')).toBe('x');
    expect(readPath(doc, '')).toBe(doc);
    expect(readPath(doc, '/data/missing/x')).toBeUndefined();
    expect(readPath(doc, '/data/items/01')).toBeUndefined();
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  it('reads delay-seconds and HTTP-dates (RFC 9110 §10.2.3)', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now)).toBe(0);
  });
  it('caps a huge hint and ignores garbage', () => {
    expect(parseRetryAfter('999999999', now)).toBe(3_600_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
  });
});

describe('linkNext', () => {
  it('finds rel="next" in an RFC 8288 Link header', () => {
    expect(linkNext('</a?page=1>; rel="prev", </a?page=3>; rel="next"')).toBe('/a?page=3');
    expect(linkNext('<https://x/a?page=2>; rel=next')).toBe('https://x/a?page=2');
    expect(linkNext('</a?page=1>; rel="prev"')).toBeUndefined();
    expect(linkNext(null)).toBeUndefined();
  });
});
