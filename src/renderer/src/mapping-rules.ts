/**
 * The attribute mapping as the console edits it: rows of (target, rule), and back to the
 * gateway's shape (provisioning/connectors.ts mappingRuleSchema), in its shortest form. Plain
 * code, so a test can check what the editor sends against the gateway's schema.
 */
import type { MappingRuleView } from '../../gateway/admin/api-types';

export type RuleObject = Exclude<MappingRuleView, string>;
export type Source = 'path' | 'const' | 'concat';

export interface Row {
  uid: number;
  target: string;
  rule: RuleObject;
}

let nextUid = 1;

export function sourceOf(rule: RuleObject): Source {
  return rule.concat !== undefined ? 'concat' : rule.const !== undefined ? 'const' : 'path';
}

export function newRow(target: string, rule: RuleObject): Row {
  return { uid: nextUid++, target, rule };
}

export function toRows(mapping: Record<string, MappingRuleView>): Row[] {
  return Object.entries(mapping).map(([target, rule]) => ({ uid: nextUid++, target, rule: typeof rule === 'string' ? { path: rule } : { ...rule } }));
}

/** A rule in its shortest form: a bare path when it is only a path. */
export function compact(rule: RuleObject): MappingRuleView {
  const r = Object.fromEntries(Object.entries(rule).filter(([, v]) => v !== undefined)) as RuleObject;
  if (r.concat === undefined) delete r.separator;
  const keys = Object.keys(r);
  return keys.length === 1 && typeof r.path === 'string' ? r.path : r;
}

export function fromRows(rows: Row[]): Record<string, MappingRuleView> {
  const out: Record<string, MappingRuleView> = {};
  for (const row of rows) if (row.target.trim()) out[row.target.trim()] = compact(row.rule);
  return out;
}

export function problemOf(rows: Row[]): string | undefined {
  const targets = rows.map((r) => r.target.trim());
  if (targets.some((t) => t === '')) return 'Every mapped attribute needs a target attribute name.';
  const twice = targets.find((t, i) => targets.indexOf(t) !== i);
  return twice ? `"${twice}" is mapped twice: keep one row for it.` : undefined;
}

export function describeRule(rule: MappingRuleView): string {
  if (typeof rule === 'string') return rule;
  const base = rule.concat ? rule.concat.join(` ${JSON.stringify(rule.separator ?? ' ')} `) : rule.const !== undefined ? JSON.stringify(rule.const) : (rule.path ?? '');
  return [base, rule.transform, rule.default !== undefined ? `default ${JSON.stringify(rule.default)}` : ''].filter(Boolean).join(', ');
}

