/**
 * A form generated from a connector type's config JSON Schema (zod's toJSONSchema): strings,
 * numbers, booleans, enums, nested objects, lists of strings; anything else as JSON. Secret
 * fields are password inputs that start empty and are never filled from the server: left empty,
 * the stored secret is kept. See docs/decisions/0011-console-stack.md.
 */
import { useId, useState } from 'preact/hooks';
import { humanize } from './format';
import { Button } from './ui';

export type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  items?: JsonSchema;
  default?: unknown;
  description?: string;
  title?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  format?: string;
  secret?: boolean;
  secretOptional?: boolean;
};

export type FormValue = Record<string, unknown>;

export interface SecretState {
  path: string;
  set: boolean;
  required: boolean;
  env?: string;
}

/** Collapses `anyOf: [X, {type: null}]` (nullable) and single-branch unions to X. */
function simplify(s: JsonSchema): JsonSchema {
  const branches = s.anyOf ?? s.oneOf;
  if (branches) {
    const real = branches.filter((b) => b.type !== 'null');
    if (real.length === 1) return { ...real[0], ...(s.description ? { description: s.description } : {}), ...(s.default !== undefined ? { default: s.default } : {}), secret: s.secret ?? real[0].secret };
    // A union of constants is an enum.
    if (real.every((b) => b.const !== undefined)) return { ...s, enum: real.map((b) => b.const), anyOf: undefined, oneOf: undefined };
  }
  return s;
}

/**
 * A union of objects told apart by one constant property (zod's discriminatedUnion: the rest
 * connector's `auth` by `type`): the form shows a choice of that property, then the chosen
 * branch's fields, so a secret inside (a bearer token) is a password field like any other.
 */
function discriminated(s: JsonSchema): { key: string; branches: Array<{ value: string; schema: JsonSchema }> } | undefined {
  const branches = (s.anyOf ?? s.oneOf)?.filter((b) => b.type !== 'null');
  if (!branches || branches.length < 2 || !branches.every((b) => b.properties)) return undefined;
  for (const key of Object.keys(branches[0].properties!)) {
    if (branches.every((b) => b.properties?.[key]?.const !== undefined)) return { key, branches: branches.map((b) => ({ value: String(b.properties![key].const), schema: b })) };
  }
  return undefined;
}

function typeOf(s: JsonSchema): string | undefined {
  return Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
}

function subHelp(help: FieldHelp | undefined, prefix: string): FieldHelp | undefined {
  if (!help) return undefined;
  return Object.fromEntries(Object.entries(help).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
}

function setAt(value: FormValue, path: string[], v: unknown): FormValue {
  const [head, ...rest] = path;
  const copy = { ...value };
  if (rest.length === 0) {
    if (v === undefined) delete copy[head];
    else copy[head] = v;
  } else {
    copy[head] = setAt((copy[head] as FormValue | undefined) ?? {}, rest, v);
  }
  return copy;
}

function getAt(value: FormValue | undefined, path: string[]): unknown {
  let node: unknown = value;
  for (const p of path) node = node && typeof node === 'object' ? (node as FormValue)[p] : undefined;
  return node;
}

/** Labels and hints the schema does not carry (zod keeps doc comments out of JSON Schema). */
export type FieldHelp = Record<string, { label?: string; hint?: string }>;

interface FieldProps {
  help?: FieldHelp;
  schema: JsonSchema;
  path: string[];
  required: boolean;
  value: FormValue;
  onChange: (v: FormValue) => void;
  secrets: SecretState[];
  disabled?: boolean;
  errorPath?: string;
  error?: string;
}

function SchemaField(props: FieldProps) {
  const id = useId();
  const [openAtStart] = useState(() => getAt(props.value, props.path) !== undefined);
  const s = simplify(props.schema);
  const key = props.path[props.path.length - 1];
  const dotted = props.path.join('.');
  const help = props.help?.[dotted];
  const label = help?.label ?? s.title ?? humanize(key);
  const current = getAt(props.value, props.path);
  const set = (v: unknown) => props.onChange(setAt(props.value, props.path, v));
  const t = typeOf(s);
  const hintId = `${id}-hint`;
  const errorHere = props.errorPath === dotted ? props.error : undefined;
  // Fields with a default are not marked: leaving them alone is the normal case.
  const optional = !props.required && s.default === undefined;
  const labelText = (
    <>
      {label}
      {optional && <span class="optional"> (optional)</span>}
    </>
  );
  const hint = (extra?: string) => {
    const text = [help?.hint ?? s.description, extra].filter(Boolean).join(' ');
    return text ? (
      <p class="hint" id={hintId}>
        {text}
      </p>
    ) : null;
  };
  const common = { id, disabled: props.disabled, 'aria-describedby': hintId, 'aria-invalid': errorHere ? ('true' as const) : undefined, name: dotted };
  const wrap = (control: preact.ComponentChildren, extra?: string) => (
    <div class={`field${errorHere ? ' field-invalid' : ''}`}>
      <label for={id}>{labelText}</label>
      {control}
      {hint(extra)}
      {errorHere && <p class="field-error">{errorHere}</p>}
    </div>
  );

  if (s.secret) {
    // Write-only: the form says whether a value is stored, never what it is.
    const state = props.secrets.find((x) => x.path === dotted);
    const placeholder = state?.env ? `from environment variable ${state.env}` : state?.set ? '•••••••• (stored: leave empty to keep)' : '';
    const status = state?.env ? `from $${state.env}` : state?.set ? 'set' : 'not set';
    return (
      <div class={`field${errorHere ? ' field-invalid' : ''}`}>
        <label for={id}>
          {labelText}{' '}
          <span class={`secret-state secret-${state?.set || state?.env ? 'set' : 'unset'}`} data-testid={`secret-state-${dotted}`}>
            {status}
          </span>
        </label>
        <input
          {...common}
          class="input"
          type="password"
          autocomplete="new-password"
          placeholder={placeholder}
          value={typeof current === 'string' ? current : ''}
          onInput={(e) => set((e.currentTarget as HTMLInputElement).value || undefined)}
        />
        {hint('Kept in the secret store, never shown again.')}
        {errorHere && <p class="field-error">{errorHere}</p>}
      </div>
    );
  }
  if (s.enum) {
    return wrap(
      <select {...common} class="input" value={current === undefined ? (s.default !== undefined ? String(s.default) : '') : String(current)} onChange={(e) => set((e.currentTarget as HTMLSelectElement).value || undefined)}>
        {optional && <option value="">{s.default !== undefined ? `Default (${String(s.default)})` : '—'}</option>}
        {s.enum.map((o) => (
          <option key={String(o)} value={String(o)}>
            {String(o)}
          </option>
        ))}
      </select>,
    );
  }
  if (t === 'boolean') {
    const checked = current === undefined ? s.default === true : current === true;
    return (
      <div class="field field-check">
        <input {...common} type="checkbox" checked={checked} onChange={(e) => set((e.currentTarget as HTMLInputElement).checked)} />
        <label for={id}>{label}</label>
        {hint()}
      </div>
    );
  }
  if (t === 'number' || t === 'integer') {
    return wrap(
      <input
        {...common}
        class="input input-short"
        type="number"
        step={t === 'integer' ? 1 : 'any'}
        min={s.minimum}
        max={s.maximum}
        placeholder={s.default !== undefined ? String(s.default) : ''}
        value={typeof current === 'number' ? String(current) : ''}
        onInput={(e) => {
          const raw = (e.currentTarget as HTMLInputElement).value;
          set(raw === '' ? undefined : Number(raw));
        }}
      />,
    );
  }
  const union = discriminated(s);
  if (union) {
    const fallback = (s.default && typeof s.default === 'object' ? (s.default as FormValue)[union.key] : undefined) ?? union.branches[0].value;
    const chosen = String((current && typeof current === 'object' ? (current as FormValue)[union.key] : undefined) ?? fallback);
    const branch = union.branches.find((b) => b.value === chosen) ?? union.branches[0];
    const rest: JsonSchema = { ...branch.schema, properties: Object.fromEntries(Object.entries(branch.schema.properties ?? {}).filter(([k]) => k !== union.key)) };
    const choiceId = `${id}-${union.key}`;
    return (
      <fieldset class="fieldset">
        <legend>{labelText}</legend>
        {(help?.hint ?? s.description) && <p class="hint">{help?.hint ?? s.description}</p>}
        <div class="field">
          <label for={choiceId}>{humanize(union.key)}</label>
          <select
            id={choiceId}
            class="input input-short"
            name={`${dotted}.${union.key}`}
            disabled={props.disabled}
            value={branch.value}
            // Another kind starts empty: the old kind's settings do not apply to it.
            onChange={(e) => set({ [union.key]: (e.currentTarget as HTMLSelectElement).value })}
          >
            {union.branches.map((b) => (
              <option key={b.value} value={b.value}>
                {b.value}
              </option>
            ))}
          </select>
        </div>
        <SchemaFields {...props} value={current === undefined ? setAt(props.value, props.path, { [union.key]: branch.value }) : props.value} schema={rest} />
      </fieldset>
    );
  }
  if (t === 'object' && s.properties) {
    // An optional group (the rest connector's optional operations) is folded unless it was
    // filled in when the form opened: what must be set comes first, the rest on demand. It stays
    // a <details> while being typed into, so the focus never jumps.
    if (optional) {
      return (
        <details class="details optional-group" open={openAtStart}>
          <summary>{labelText}</summary>
          {s.description && <p class="hint">{s.description}</p>}
          <div class="stack">
            <SchemaFields {...props} schema={s} />
          </div>
        </details>
      );
    }
    return (
      <fieldset class="fieldset">
        <legend>{labelText}</legend>
        {s.description && <p class="hint">{s.description}</p>}
        <SchemaFields {...props} schema={s} />
      </fieldset>
    );
  }
  if (t === 'array' && s.items && typeOf(simplify(s.items)) === 'string') {
    const list = Array.isArray(current) ? (current as string[]) : [];
    return wrap(
      <textarea
        {...common}
        class="input"
        rows={3}
        value={list.join('\n')}
        onInput={(e) => {
          const lines = (e.currentTarget as HTMLTextAreaElement).value.split('\n').map((l) => l.trim()).filter(Boolean);
          set(lines.length ? lines : undefined);
        }}
      />,
      'One per line.',
    );
  }
  if (t === 'array' && s.items && typeOf(simplify(s.items)) === 'object' && simplify(s.items).properties) {
    const list = Array.isArray(current) ? (current as FormValue[]) : [];
    const item = simplify(s.items);
    return (
      <fieldset class="fieldset">
        <legend>{labelText}</legend>
        {hint()}
        {list.length === 0 && <p class="muted small">None.</p>}
        {list.map((entry, i) => (
          <div class="array-row" key={i}>
            <SchemaFields
              schema={item}
              path={[]}
              value={entry}
              onChange={(v) => set(list.map((x, j) => (j === i ? v : x)))}
              secrets={[]}
              disabled={props.disabled}
              help={subHelp(props.help, `${dotted}[].`)}
            />
            <Button small variant="ghost" onClick={() => set(list.filter((_, j) => j !== i).length ? list.filter((_, j) => j !== i) : undefined)} aria-label={`Remove ${label} ${i + 1}`}>
              Remove
            </Button>
          </div>
        ))}
        <Button small onClick={() => set([...list, {}])} disabled={props.disabled}>
          Add
        </Button>
      </fieldset>
    );
  }
  if (t === 'string') {
    return wrap(
      <input
        {...common}
        class="input"
        type="text"
        inputMode={s.format === 'uri' ? 'url' : undefined}
        placeholder={s.default !== undefined ? String(s.default) : ''}
        value={typeof current === 'string' ? current : ''}
        onInput={(e) => set((e.currentTarget as HTMLInputElement).value || undefined)}
      />,
    );
  }
  // Anything the form cannot model is edited as JSON.
  return wrap(
    <textarea
      {...common}
      class="input mono"
      rows={4}
      value={current === undefined ? '' : JSON.stringify(current, null, 2)}
      onChange={(e) => {
        const raw = (e.currentTarget as HTMLTextAreaElement).value.trim();
        try {
          set(raw === '' ? undefined : JSON.parse(raw));
        } catch {
          /* keep the text until it parses; the server names the problem on save */
        }
      }}
    />,
    'JSON.',
  );
}

export function SchemaFields(props: Omit<FieldProps, 'required'> & { schema: JsonSchema }) {
  const s = simplify(props.schema);
  const required = new Set(s.required ?? []);
  return (
    <>
      {Object.entries(s.properties ?? {}).map(([key, child]) => (
        <SchemaField key={key} {...props} schema={child} path={[...props.path, key]} required={required.has(key)} />
      ))}
    </>
  );
}

/** The whole config form of a connector type. */
export function SchemaForm(props: { schema: JsonSchema; value: FormValue; onChange: (v: FormValue) => void; secrets?: SecretState[]; disabled?: boolean; errorPath?: string; error?: string; help?: FieldHelp }) {
  if (!props.schema.properties || Object.keys(props.schema.properties).length === 0) return <p class="hint">This connector type has no settings.</p>;
  return <SchemaFields schema={props.schema} path={[]} value={props.value} onChange={props.onChange} secrets={props.secrets ?? []} disabled={props.disabled} errorPath={props.errorPath} error={props.error} help={props.help} />;
}

/** Removes secret placeholders the server sends (`{ $secret: true }`) so they are not sent back as values. */
export function editableConfig(config: FormValue): FormValue {
  const out: FormValue = {};
  for (const [k, v] of Object.entries(config)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      if ('$secret' in (v as FormValue)) continue;
      if ('$env' in (v as FormValue)) {
        out[k] = v;
        continue;
      }
      out[k] = editableConfig(v as FormValue);
    } else out[k] = v;
  }
  return out;
}
