/**
 * A connector's attribute mapping: target attribute -> a SCIM path, a fixed value, or several
 * attributes joined, with an optional transform and default (provisioning/connectors.ts
 * mappingRuleSchema). It extends the type's default mapping, which is shown beside it and can be
 * overridden row by row. A rule's parts the admin does not touch are kept exactly (a numeric
 * constant stays a number).
 */
import { useState } from 'preact/hooks';
import type { MappingRuleView } from '../../gateway/admin/api-types';
import { describeRule, fromRows, newRow, problemOf, sourceOf, toRows, type Row, type RuleObject, type Source } from './mapping-rules';
import { Button, Field } from './ui';

export function MappingEditor(props: {
  value: Record<string, MappingRuleView>;
  onChange: (v: Record<string, MappingRuleView>) => void;
  /** What the connector sends without a mapping of its own. */
  defaults: Record<string, string>;
  disabled?: boolean;
  /** An error the gateway gave for `mapping.<target>`. */
  errorField?: string;
  errorMessage?: string;
  /** Told what keeps the mapping from being saved (a target mapped twice, a row without a target), or undefined. */
  onProblem?: (problem: string | undefined) => void;
}) {
  const [rows, setRows] = useState(() => toRows(props.value));
  const update = (next: Row[]) => {
    setRows(next);
    props.onChange(fromRows(next));
    props.onProblem?.(problemOf(next));
  };
  const change = (uid: number, patch: Partial<Row>) => update(rows.map((r) => (r.uid === uid ? { ...r, ...patch } : r)));
  const changeRule = (row: Row, patch: Partial<RuleObject>) => change(row.uid, { rule: { ...row.rule, ...patch } });
  const setSource = (row: Row, source: Source) => {
    const { path, const: constant, concat, separator, ...rest } = row.rule;
    const keep = source === 'path' ? { path: path ?? '' } : source === 'const' ? { const: constant ?? '' } : { concat: concat ?? [], separator: separator ?? ' ' };
    change(row.uid, { rule: { ...rest, ...keep } });
  };
  const targets = rows.map((r) => r.target.trim()).filter(Boolean);
  const duplicate = targets.find((t, i) => targets.indexOf(t) !== i);
  const overridden = new Set(targets);
  const addRow = (target = '', rule: RuleObject = { path: '' }) => {
    update([...rows, newRow(target, rule)]);
    requestAnimationFrame(() => document.querySelector<HTMLInputElement>('.mapping-row:last-child input')?.focus());
  };
  const errorFor = (target: string) => (props.errorField === `mapping.${target}` ? props.errorMessage : undefined);

  return (
    <div class="stack">
      {rows.length === 0 ? (
        <p class="muted small">No changes: the connector receives the default mapping below.</p>
      ) : (
        <ol class="mapping-list">
          {rows.map((row, i) => {
            const source = sourceOf(row.rule);
            const n = i + 1;
            const rowError = errorFor(row.target.trim());
            return (
              <li key={row.uid} class={`mapping-row${rowError ? ' field-invalid' : ''}`}>
                <div class="mapping-main">
                  <Field label="Target attribute">
                    {(id) => <input id={id} class="input mono" required value={row.target} placeholder="mail" disabled={props.disabled} aria-label={`Target attribute ${n}`} onInput={(e) => change(row.uid, { target: e.currentTarget.value })} />}
                  </Field>
                  <Field label="From">
                    {(id) => (
                      <select id={id} class="input" value={source} disabled={props.disabled} aria-label={`Source of mapping ${n}`} onChange={(e) => setSource(row, e.currentTarget.value as Source)}>
                        <option value="path">SCIM attribute</option>
                        <option value="const">Fixed value</option>
                        <option value="concat">Joined</option>
                      </select>
                    )}
                  </Field>
                  {source === 'path' && (
                    <Field label="SCIM path">
                      {(id) => <input id={id} class="input mono" required value={row.rule.path ?? ''} placeholder='emails[type eq "work"].value' disabled={props.disabled} aria-label={`SCIM path of mapping ${n}`} onInput={(e) => changeRule(row, { path: e.currentTarget.value })} />}
                    </Field>
                  )}
                  {source === 'const' && (
                    <Field label="Value">
                      {(id) => <input id={id} class="input" value={row.rule.const === undefined ? '' : String(row.rule.const)} placeholder="Example Corp" disabled={props.disabled} aria-label={`Fixed value of mapping ${n}`} onInput={(e) => changeRule(row, { const: e.currentTarget.value })} />}
                    </Field>
                  )}
                  {source === 'concat' && (
                    <Field label="SCIM paths, one per line">
                      {(id) => (
                        <textarea
                          id={id}
                          class="input mono"
                          rows={2}
                          value={(row.rule.concat ?? []).join('\n')}
                          placeholder={'name.givenName\nname.familyName'}
                          disabled={props.disabled}
                          aria-label={`Joined paths of mapping ${n}`}
                          onInput={(e) => changeRule(row, { concat: e.currentTarget.value.split('\n').map((l) => l.trim()).filter(Boolean) })}
                        />
                      )}
                    </Field>
                  )}
                </div>
                <div class="mapping-extra">
                  {source === 'concat' && (
                    <Field label="Separator" class="mapping-narrow">
                      {(id) => <input id={id} class="input mono" value={row.rule.separator ?? ' '} disabled={props.disabled} aria-label={`Separator of mapping ${n}`} onInput={(e) => changeRule(row, { separator: e.currentTarget.value })} />}
                    </Field>
                  )}
                  <Field label="Transform">
                    {(id) => (
                      <select id={id} class="input" value={row.rule.transform ?? ''} disabled={props.disabled} aria-label={`Transform of mapping ${n}`} onChange={(e) => changeRule(row, { transform: (e.currentTarget.value || undefined) as RuleObject['transform'] })}>
                        <option value="">none</option>
                        <option value="lowercase">lowercase</option>
                        <option value="uppercase">uppercase</option>
                        <option value="trim">trim spaces</option>
                      </select>
                    )}
                  </Field>
                  <Field label="If empty, send">
                    {(id) => <input id={id} class="input" value={row.rule.default === undefined ? '' : String(row.rule.default)} placeholder="nothing" disabled={props.disabled} aria-label={`Default of mapping ${n}`} onInput={(e) => changeRule(row, { default: e.currentTarget.value || undefined })} />}
                  </Field>
                  <div class="mapping-remove">
                    <Button small variant="ghost" disabled={props.disabled} onClick={() => update(rows.filter((r) => r.uid !== row.uid))} aria-label={`Remove mapping ${n}${row.target ? ` (${row.target})` : ''}`}>
                      Remove
                    </Button>
                  </div>
                </div>
                {rowError && <p class="field-error">{rowError}</p>}
              </li>
            );
          })}
        </ol>
      )}
      {duplicate && <p class="field-error">"{duplicate}" is mapped twice: keep one row for it.</p>}
      <div>
        <Button small disabled={props.disabled} onClick={() => addRow()}>
          Add an attribute
        </Button>
      </div>
      <details class="details">
        <summary>Default mapping ({Object.keys(props.defaults).length} attributes)</summary>
        <p class="hint">What the connector receives unless a row above maps the same target attribute.</p>
        <div class="table-wrap">
          <table class="table table-compact" aria-label="Default mapping">
            <thead>
              <tr>
                <th scope="col">Target attribute</th>
                <th scope="col">From</th>
                <th scope="col">
                  <span class="visually-hidden">Action</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {Object.entries(props.defaults).map(([target, path]) => (
                <tr key={target}>
                  <th scope="row" class="mono">
                    {target}
                  </th>
                  <td class="mono break">{describeRule(path)}</td>
                  <td class="row-actions">
                    {overridden.has(target) ? (
                      <span class="muted small">changed above</span>
                    ) : (
                      <Button small variant="ghost" disabled={props.disabled} onClick={() => addRow(target, { path })} aria-label={`Change the mapping of ${target}`}>
                        Change
                      </Button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </div>
  );
}
