/** prepareDraft: the one gate every audit draft passes, at commit or at append. */
import { describe, expect, it } from 'vitest';
import { prepareDraft } from './draft.js';
import { REDACTED } from './redact.js';

const base = { actor: { kind: 'system', id: 'gateway' }, action: 'user.update', result: 'success' } as const;

describe('prepareDraft', () => {
  it('masks secrets, drops unchanged attributes and masks tokens in the detail', () => {
    const d = prepareDraft({
      ...base,
      changes: [
        { attribute: 'title', before: 'A', after: 'B' },
        { attribute: 'displayName', before: { x: 1, y: 2 }, after: { y: 2, x: 1 } },
        { attribute: 'bindPassword', before: null, after: 'hunter2' },
      ],
      detail: 'upstream said: bad token scb_abcdefghijklmnop',
    });
    expect(d.changes).toEqual([
      { attribute: 'title', before: 'A', after: 'B' },
      { attribute: 'bindPassword', before: null, after: REDACTED },
    ]);
    expect(d.detail).toBe(`upstream said: bad token scb_${REDACTED}`);
  });

  it('refuses a draft that is not a record, naming the field', () => {
    expect(() => prepareDraft({ ...base, result: 'maybe' })).toThrow(/^not an audit record: result: /);
    expect(() => prepareDraft({ action: 'x' })).toThrow(/not an audit record: actor/);
    expect(() => prepareDraft('nope')).toThrow(/not an audit record: \(record\)/);
  });

  it('leaves the caller draft as it was', () => {
    const draft = { ...base, changes: [{ attribute: 'password', before: 'a', after: 'b' }] };
    prepareDraft(draft);
    expect(draft.changes[0]).toEqual({ attribute: 'password', before: 'a', after: 'b' });
  });
});
