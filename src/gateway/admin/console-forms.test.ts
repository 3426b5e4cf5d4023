/**
 * The console's policy and mapping forms against the gateway's own schemas: every policy has its
 * place in the form (a policy added to policySchema fails here until the form shows it), each
 * explained choice is a value the schema takes, and what the forms send parses. Plus the admin
 * route's merge rules: what a request leaves out stays, null resets.
 */
import { describe, expect, it } from 'vitest';
import { connectorInstanceSchema, DEFAULT_POLICY, hookSchema, policySchema } from '../provisioning/index.js';
import { fromRows, toRows } from '../../renderer/src/mapping-rules.js';
import { hookDraftOf, hookValueOf, POLICY_CHOICES, POLICY_KEYS, type HookDraft } from '../../renderer/src/policy-help.js';
import { mergeConnector, mergePolicies } from './routes/connections.js';

describe('the policy form', () => {
  it('has a place for every policy of the gateway, and no other', () => {
    expect([...POLICY_KEYS].sort()).toEqual(Object.keys(policySchema.shape).sort());
  });

  it('offers exactly the values each explained choice takes', () => {
    const values = (list: ReadonlyArray<{ value: string }>) => list.map((o) => o.value).sort();
    expect(values(POLICY_CHOICES.deleteMode)).toEqual([...policySchema.shape.deleteMode.unwrap().options].sort());
    expect(values(POLICY_CHOICES.existingAccounts)).toEqual([...policySchema.shape.existingAccounts.unwrap().options].sort());
    expect(values(POLICY_CHOICES.principal)).toEqual([...policySchema.shape.principal.unwrap().options].sort());
    for (const v of values(POLICY_CHOICES.hookOnError)) expect(hookSchema.safeParse({ module: '/x.mjs', onError: v }).success).toBe(true);
  });

  it('sends a hook the gateway takes, and reads it back as it was', () => {
    const drafts: HookDraft[] = [
      { kind: 'module', module: '/etc/scim-bridge/hooks/hr.mjs', command: '', timeoutMs: '2000', onError: 'refuse', resources: ['User', 'Group'] },
      { kind: 'command', module: '', command: '/usr/local/bin/hr-hook\n--strict\n', timeoutMs: '', onError: 'allow', resources: ['User'] },
    ];
    for (const d of drafts) {
      const value = hookValueOf(d);
      expect(hookSchema.safeParse(value).success).toBe(true);
      expect(hookValueOf(hookDraftOf(value))).toEqual(value);
    }
    expect(hookValueOf(drafts[1])).toEqual({ command: ['/usr/local/bin/hr-hook', '--strict'], timeoutMs: 5000, onError: 'allow', resources: ['User'] });
    expect(hookValueOf({ ...drafts[0], kind: 'none' })).toBeNull();
    expect(hookDraftOf(undefined).kind).toBe('none');
  });

  it("keeps a command hook's environment settings, which the form does not edit, through a save", () => {
    const saved = { command: ['/usr/local/bin/hr-hook'], env: { HR_REGION: 'eu' }, inheritEnv: ['PATH', 'HR_TOKEN'], timeoutMs: 5000, onError: 'refuse', resources: ['User', 'Group'] };
    const value = hookValueOf(hookDraftOf(saved));
    expect(value).toEqual(saved);
    expect(hookSchema.safeParse(value).success).toBe(true);
  });
});

describe('the mapping editor', () => {
  it('sends rules in their shortest form, which the gateway takes, and keeps a constant\'s type', () => {
    const mapping = {
      mail: 'userName',
      lower: { path: 'userName', transform: 'lowercase' as const },
      company: { const: 42 },
      fullName: { concat: ['name.givenName', 'name.familyName'], separator: ' / ' },
      title: { path: 'title', default: 'Staff' },
    };
    const rows = toRows(mapping);
    expect(fromRows(rows)).toEqual(mapping);
    expect(connectorInstanceSchema.safeParse({ id: 'x', type: 'demo', mapping: fromRows(rows) }).success).toBe(true);
    // A separator means nothing without concat (the gateway's view adds one to every rule): dropped.
    expect(fromRows(toRows({ mail: { path: 'userName', separator: ' ' } }))).toEqual({ mail: 'userName' });
    // Rows without a target are not sent.
    rows[0].target = ' ';
    expect(Object.keys(fromRows(rows))).not.toContain('mail');
  });
});

describe('edits merged over the stored connection', () => {
  it('keeps the policies a request leaves out; null resets one to its default; a bad one is named', () => {
    const current = { ...DEFAULT_POLICY, roleRules: [{ group: 'Helpdesk', role: 'agent' }], hook: { module: '/h.mjs', timeoutMs: 5000, onError: 'refuse', resources: ['User'] } };
    const merged = mergePolicies(current, { allowCreate: false, hook: null });
    expect(merged).toMatchObject({ allowCreate: false, roleRules: [{ group: 'Helpdesk', role: 'agent' }] });
    expect('hook' in merged).toBe(false);
    expect(() => mergePolicies(current, { roleRules: [{ group: 'x' }] })).toThrow(expect.objectContaining({ field: 'policies.roleRules.0.role' }));
    expect(() => mergePolicies(current, { colour: 'blue' })).toThrow(expect.objectContaining({ status: 400, code: 'invalid' }));
  });

  it('keeps a connector\'s mode, mapping and unknown-to-the-form settings when a request leaves them out', () => {
    const stored = { id: 'hr', type: 'demo', config: { name: 'a', accessKey: { $secret: true } }, mode: 'sync', mapping: { mail: 'userName' } };
    expect(mergeConnector(stored, { type: 'demo', config: { name: 'b' } }, 'hr')).toEqual({ ...stored, config: { name: 'b' } });
    expect(mergeConnector(stored, { type: 'demo', mode: 'async', mapping: {} }, 'hr')).toEqual({ ...stored, mode: 'async', mapping: {} });
    expect(() => mergeConnector(stored, { type: 'demo', mapping: { mail: { transform: 'lowercase' } } }, 'hr')).toThrow(expect.objectContaining({ field: 'mapping.mail' }));
    expect(() => mergeConnector(undefined, { type: 'demo', schedule: 'nightly' }, 'new')).toThrow(expect.objectContaining({ status: 400 }));
  });
});
