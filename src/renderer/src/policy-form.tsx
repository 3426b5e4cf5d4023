/**
 * The policies of a connection, every one of them (policy-help.ts lists them), grouped by what
 * they protect. The form edits a copy of the connection's full policies: a policy it does not know
 * (a newer gateway's) is sent back untouched, and the gateway merges what is sent over what it has.
 */
import { useId, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { POLICY_CHOICES, POLICY_KEYS, POLICY_TEXT, type HookDraft } from './policy-help';

export { hookDraftOf, hookValueOf } from './policy-help';
import { Button, Check, ChoiceGroup, Field } from './ui';

export type Policies = Record<string, unknown>;

/** Error fields (`policies.…`) the form shows next to their control; others go in a notice. */
export const INLINE_POLICY_ERRORS = /^policies\.(deleteMode|defaultRole|defaultUserType|allowedDomains|lastOwnerRole|roleRules\.\d+\.(group|role)|syntheticRoles\.(Admins|Users)|hook(\.(module|command|timeoutMs|resources))?)$/;

interface RoleRule {
  group: string;
  role: string;
}

let nextUid = 1;

/** An ordered list of group -> role rules: add, remove, move up and down (the first match wins). */
function RoleRulesEditor(props: { rules: RoleRule[]; onChange: (rules: RoleRule[]) => void; disabled?: boolean; errorAt: (path: string) => string | undefined }) {
  const [rows, setRows] = useState(() => props.rules.map((r) => ({ ...r, uid: nextUid++ })));
  const focusAfter = useRef<string | undefined>(undefined);
  const hintId = useId();
  // Before the browser paints and before the next key press: the focus never sits on a stale button.
  useLayoutEffect(() => {
    if (!focusAfter.current) return;
    document.getElementById(focusAfter.current)?.focus();
    focusAfter.current = undefined;
  });
  const update = (next: typeof rows) => {
    setRows(next);
    props.onChange(next.map(({ group, role }) => ({ group, role })));
  };
  const move = (i: number, by: -1 | 1) => {
    const next = [...rows];
    const [row] = next.splice(i, 1);
    next.splice(i + by, 0, row);
    // The moved row's buttons leave the DOM and come back: keep the keyboard on the same arrow
    // while it can still move that way, else on the other one.
    const landed = i + by;
    const canGoOn = by < 0 ? landed > 0 : landed < next.length - 1;
    focusAfter.current = `rule-${row.uid}-${(by < 0) === canGoOn ? 'up' : 'down'}`;
    update(next);
  };
  return (
    <fieldset class="subfield" aria-describedby={hintId}>
      <legend>{POLICY_TEXT.roleRules.label}</legend>
      <p class="hint" id={hintId}>
        {POLICY_TEXT.roleRules.hint}
      </p>
      {rows.length === 0 ? (
        <p class="muted small">No rules: the identity provider sends each user's role (else the default role).</p>
      ) : (
        <ol class="rule-list">
          {rows.map((r, i) => (
            <li key={r.uid} class="rule-row">
              <span class="rule-rank" aria-hidden="true">
                {i + 1}
              </span>
              <Field label={`Group of rule ${i + 1}`} error={props.errorAt(`roleRules.${i}.group`)} class="rule-field">
                {(id, d) => (
                  <input id={id} aria-describedby={d} class="input" required value={r.group} placeholder="Engineering Admins" disabled={props.disabled} onInput={(e) => update(rows.map((x) => (x.uid === r.uid ? { ...x, group: e.currentTarget.value } : x)))} />
                )}
              </Field>
              <span class="rule-arrow" aria-hidden="true">
                →
              </span>
              <Field label={`Role of rule ${i + 1}`} error={props.errorAt(`roleRules.${i}.role`)} class="rule-field">
                {(id, d) => (
                  <input id={id} aria-describedby={d} class="input" required value={r.role} placeholder="admin" disabled={props.disabled} onInput={(e) => update(rows.map((x) => (x.uid === r.uid ? { ...x, role: e.currentTarget.value } : x)))} />
                )}
              </Field>
              {!props.disabled && (
              <div class="rule-actions">
                <Button small variant="ghost" id={`rule-${r.uid}-up`} disabled={props.disabled || i === 0} onClick={() => move(i, -1)} aria-label={`Move rule ${i + 1} up`}>
                  ↑
                </Button>
                <Button small variant="ghost" id={`rule-${r.uid}-down`} disabled={props.disabled || i === rows.length - 1} onClick={() => move(i, 1)} aria-label={`Move rule ${i + 1} down`}>
                  ↓
                </Button>
                <Button small variant="ghost" disabled={props.disabled} onClick={() => update(rows.filter((x) => x.uid !== r.uid))} aria-label={`Remove rule ${i + 1}`}>
                  Remove
                </Button>
              </div>
              )}
            </li>
          ))}
        </ol>
      )}
      {!props.disabled && (
      <div>
        <Button
          small
          onClick={() => {
            update([...rows, { group: '', role: '', uid: nextUid++ }]);
            // Focus the new row's group field once it is drawn.
            requestAnimationFrame(() => (document.querySelector<HTMLInputElement>('.rule-list .rule-row:last-child input')?.focus()));
          }}
        >
          Add a rule
        </Button>
      </div>
      )}
    </fieldset>
  );
}

function HookEditor(props: { draft: HookDraft; onChange: (d: HookDraft) => void; disabled?: boolean; errorAt: (path: string) => string | undefined }) {
  const d = props.draft;
  const set = (patch: Partial<HookDraft>) => props.onChange({ ...d, ...patch });
  const hookError = props.errorAt('hook');
  return (
    <div class="stack">
      <ChoiceGroup
        legend="Hook"
        hint={POLICY_TEXT.hook.hint}
        value={d.kind}
        disabled={props.disabled}
        onChange={(kind) => set({ kind })}
        error={hookError}
        options={[
          { value: 'none', label: 'None', hint: 'Writes are checked by the policies above only.' },
          { value: 'module', label: 'JS module', hint: 'Imported once; its default (or provision) export is called for each write. Cheapest.' },
          { value: 'command', label: 'Command', hint: 'Run for each write, without a shell: the input as JSON on stdin, the answer as JSON on stdout.' },
        ]}
      />
      {d.kind === 'module' && (
        <Field label="Module path" hint="The absolute path of an ES module on the gateway's host, e.g. /etc/scim-bridge/hooks/hr.mjs." error={props.errorAt('hook.module')}>
          {(id, h) => <input id={id} aria-describedby={h} class="input mono" required value={d.module} disabled={props.disabled} onInput={(e) => set({ module: e.currentTarget.value })} />}
        </Field>
      )}
      {d.kind === 'command' && (
        <Field label="Command" hint="One argument per line: the executable's absolute path first, e.g. /usr/local/bin/hr-hook, then --strict." error={props.errorAt('hook.command')}>
          {(id, h) => <textarea id={id} aria-describedby={h} class="input mono" rows={3} required value={d.command} disabled={props.disabled} onInput={(e) => set({ command: e.currentTarget.value })} />}
        </Field>
      )}
      {d.kind !== 'none' && (
        <>
          <Field label="Time limit (ms)" hint="100 to 60000. A hook slower than this has failed." error={props.errorAt('hook.timeoutMs')}>
            {(id, h) => <input id={id} aria-describedby={h} class="input input-short" type="number" min={100} max={60000} step={100} value={d.timeoutMs} disabled={props.disabled} onInput={(e) => set({ timeoutMs: e.currentTarget.value })} />}
          </Field>
          <ChoiceGroup legend="When the hook fails" value={d.onError} disabled={props.disabled} onChange={(onError) => set({ onError })} options={POLICY_CHOICES.hookOnError} />
          <fieldset class="subfield">
            <legend>Writes it sees</legend>
            <div class="inline-actions">
              {(['User', 'Group'] as const).map((r) => (
                <Check
                  key={r}
                  label={`${r}s`}
                  checked={d.resources.includes(r)}
                  disabled={props.disabled}
                  onChange={(on) => set({ resources: (['User', 'Group'] as const).filter((x) => (x === r ? on : d.resources.includes(x))) })}
                />
              ))}
            </div>
            {d.resources.length === 0 && <p class="field-error">Choose users, groups or both.</p>}
            {props.errorAt('hook.resources') && <p class="field-error">{props.errorAt('hook.resources')}</p>}
          </fieldset>
        </>
      )}
    </div>
  );
}

/** Every policy of a connection; `disabled` shows them read-only (config-file connections). */
export function PolicyForm(props: { value: Policies; onChange: (v: Policies) => void; hook: HookDraft; onHookChange: (d: HookDraft) => void; disabled?: boolean; errorField?: string; errorMessage?: string }) {
  const v = props.value;
  const set = (key: string, value: unknown) => props.onChange({ ...v, [key]: value });
  const errorAt = (path: string) => (props.errorField === `policies.${path}` ? props.errorMessage : undefined);
  const str = (key: string, fallback = '') => (typeof v[key] === 'string' ? (v[key] as string) : fallback);
  const roles = (v.syntheticRoles && typeof v.syntheticRoles === 'object' ? v.syntheticRoles : {}) as { Admins?: string; Users?: string };
  const domains = Array.isArray(v.allowedDomains) ? (v.allowedDomains as string[]) : [];
  const [domainText, setDomainText] = useState(domains.join('\n'));
  const unknown = Object.keys(v).filter((k) => !(POLICY_KEYS as string[]).includes(k));
  return (
    <fieldset class="policy-form" disabled={props.disabled}>
      <legend class="visually-hidden">Policies</legend>
      <section class="form-section" aria-labelledby="pol-lifecycle">
        <h3 id="pol-lifecycle">Creating and deleting users</h3>
        <Check label={POLICY_TEXT.allowCreate.label} hint={POLICY_TEXT.allowCreate.hint} checked={v.allowCreate !== false} onChange={(on) => set('allowCreate', on)} />
        <ChoiceGroup legend={POLICY_TEXT.deleteMode.label} hint={POLICY_TEXT.deleteMode.hint} value={v.deleteMode === 'hard' ? 'hard' : 'soft'} onChange={(m) => set('deleteMode', m)} options={POLICY_CHOICES.deleteMode} error={errorAt('deleteMode')} />
      </section>

      <section class="form-section" aria-labelledby="pol-defaults">
        <h3 id="pol-defaults">Defaults for new users</h3>
        <div class="form-grid">
          <Field label={POLICY_TEXT.defaultRole.label} hint={POLICY_TEXT.defaultRole.hint} error={errorAt('defaultRole')}>
            {(id, d) => <input id={id} aria-describedby={d} class="input" required value={str('defaultRole', 'member')} onInput={(e) => set('defaultRole', e.currentTarget.value)} />}
          </Field>
          <Field label={POLICY_TEXT.defaultUserType.label} hint={POLICY_TEXT.defaultUserType.hint} error={errorAt('defaultUserType')}>
            {(id, d) => <input id={id} aria-describedby={d} class="input" required value={str('defaultUserType', 'Internal')} onInput={(e) => set('defaultUserType', e.currentTarget.value)} />}
          </Field>
        </div>
      </section>

      <section class="form-section" aria-labelledby="pol-guards">
        <h3 id="pol-guards">Guard rails</h3>
        <Field label={POLICY_TEXT.allowedDomains.label} hint={<>{POLICY_TEXT.allowedDomains.hint} One per line.</>} error={errorAt('allowedDomains')}>
          {(id, d) => (
            <textarea
              id={id}
              aria-describedby={d}
              class="input"
              rows={3}
              value={domainText}
              onInput={(e) => {
                setDomainText(e.currentTarget.value);
                set('allowedDomains', e.currentTarget.value.split('\n').map((l) => l.trim()).filter(Boolean));
              }}
            />
          )}
        </Field>
        <Check label={POLICY_TEXT.emailImmutable.label} hint={POLICY_TEXT.emailImmutable.hint} checked={v.emailImmutable === true} onChange={(on) => set('emailImmutable', on)} />
        <Field label={POLICY_TEXT.lastOwnerRole.label} hint={POLICY_TEXT.lastOwnerRole.hint} error={errorAt('lastOwnerRole')} class="field-short">
          {(id, d) => <input id={id} aria-describedby={d} class="input" value={str('lastOwnerRole')} onInput={(e) => set('lastOwnerRole', e.currentTarget.value)} />}
        </Field>
      </section>

      <section class="form-section" aria-labelledby="pol-roles">
        <h3 id="pol-roles">Roles from groups</h3>
        <Check label={POLICY_TEXT.syntheticGroups.label} hint={POLICY_TEXT.syntheticGroups.hint} checked={v.syntheticGroups === true} onChange={(on) => set('syntheticGroups', on)} />
        {v.syntheticGroups === true && (
          <div class="form-grid indent">
            <Field label="Role of members of Admins" error={errorAt('syntheticRoles.Admins')}>
              {(id, d) => <input id={id} aria-describedby={d} class="input" required value={roles.Admins ?? 'admin'} onInput={(e) => set('syntheticRoles', { ...roles, Admins: e.currentTarget.value })} />}
            </Field>
            <Field label="Role of members of Users" error={errorAt('syntheticRoles.Users')}>
              {(id, d) => <input id={id} aria-describedby={d} class="input" required value={roles.Users ?? 'member'} onInput={(e) => set('syntheticRoles', { ...roles, Users: e.currentTarget.value })} />}
            </Field>
          </div>
        )}
        <RoleRulesEditor rules={Array.isArray(v.roleRules) ? (v.roleRules as RoleRule[]) : []} onChange={(rules) => set('roleRules', rules)} disabled={props.disabled} errorAt={errorAt} />
      </section>

      <section class="form-section" aria-labelledby="pol-claims">
        <h3 id="pol-claims">Accounts that already exist in a target</h3>
        <p class="hint">
          Before a new user is created, each connector that can look users up searches its target, first by the attribute below, then by user name.
        </p>
        <ChoiceGroup legend={POLICY_TEXT.principal.label} hint={POLICY_TEXT.principal.hint} value={v.principal === 'userName' ? 'userName' : 'externalId'} onChange={(p) => set('principal', p)} options={POLICY_CHOICES.principal} testId="policy-principal" />
        <ChoiceGroup legend={POLICY_TEXT.existingAccounts.label} hint={POLICY_TEXT.existingAccounts.hint} value={v.existingAccounts === 'link' ? 'link' : 'refuse'} onChange={(p) => set('existingAccounts', p)} options={POLICY_CHOICES.existingAccounts} testId="policy-existing-accounts" />
      </section>

      <section class="form-section" aria-labelledby="pol-hook">
        <h3 id="pol-hook">{POLICY_TEXT.hook.label}</h3>
        <HookEditor draft={props.hook} onChange={props.onHookChange} disabled={props.disabled} errorAt={errorAt} />
      </section>

      {unknown.length > 0 && (
        <p class="hint">
          Also kept as they are (this console does not know them yet): <span class="mono">{unknown.join(', ')}</span>.
        </p>
      )}
    </fieldset>
  );
}
