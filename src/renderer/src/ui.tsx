/** The console's building blocks: one look for buttons, cards, badges, fields, dialogs and states. */
import type { AnchorHTMLAttributes, ButtonHTMLAttributes, ComponentChildren } from 'preact';
import { useCallback, useEffect, useId, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';

type Tone = 'ok' | 'warn' | 'bad' | 'neutral' | 'info';

export function Button(
  props: Omit<ButtonHTMLAttributes<HTMLButtonElement>, 'type'> & { variant?: 'primary' | 'secondary' | 'danger' | 'ghost'; busy?: boolean; type?: 'button' | 'submit'; disabled?: boolean; small?: boolean },
) {
  const { variant = 'secondary', busy, small, class: cls, children, disabled, type = 'button', ...rest } = props;
  return (
    <button {...rest} type={type} class={`btn btn-${variant}${small ? ' btn-small' : ''}${cls ? ` ${cls}` : ''}`} disabled={disabled || busy} aria-busy={busy ? 'true' : undefined}>
      {busy && <span class="spinner" aria-hidden="true" />}
      {children}
    </button>
  );
}

export function LinkButton(props: AnchorHTMLAttributes<HTMLAnchorElement> & { variant?: 'primary' | 'secondary' | 'ghost'; small?: boolean; href: string }) {
  const { variant = 'secondary', small, class: cls, children, ...rest } = props;
  return (
    <a {...rest} class={`btn btn-${variant}${small ? ' btn-small' : ''}${cls ? ` ${cls}` : ''}`}>
      {children}
    </a>
  );
}

export function PageHeader(props: { title: string; description?: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <header class="page-header">
      <div>
        <h1 id="page-title" tabIndex={-1}>
          {props.title}
        </h1>
        {props.description && <p class="page-description">{props.description}</p>}
      </div>
      {props.actions && <div class="page-actions">{props.actions}</div>}
    </header>
  );
}

export function Card(props: { title?: ComponentChildren; actions?: ComponentChildren; children: ComponentChildren; class?: string; labelledBy?: string }) {
  const id = useId();
  return (
    <section class={`card${props.class ? ` ${props.class}` : ''}`} aria-labelledby={props.title ? id : props.labelledBy}>
      {(props.title || props.actions) && (
        <div class="card-header">
          {props.title && <h2 id={id}>{props.title}</h2>}
          {props.actions && <div class="card-actions">{props.actions}</div>}
        </div>
      )}
      {props.children}
    </section>
  );
}

export function Badge(props: { tone?: Tone; children: ComponentChildren; dot?: boolean }) {
  return (
    <span class={`badge badge-${props.tone ?? 'neutral'}`}>
      {props.dot !== false && <span class="badge-dot" aria-hidden="true" />}
      {props.children}
    </span>
  );
}

export function Notice(props: { tone?: Tone; title?: ComponentChildren; children?: ComponentChildren; live?: boolean }) {
  const tone = props.tone ?? 'info';
  return (
    <div class={`notice notice-${tone}`} role={tone === 'bad' ? 'alert' : props.live ? 'status' : undefined}>
      <span class="notice-icon" aria-hidden="true">
        {tone === 'ok' ? '✓' : tone === 'bad' ? '!' : tone === 'warn' ? '!' : 'i'}
      </span>
      <div>
        {props.title && <p class="notice-title">{props.title}</p>}
        {props.children && <div class="notice-body">{props.children}</div>}
      </div>
    </div>
  );
}

export function EmptyState(props: { title: string; children?: ComponentChildren; action?: ComponentChildren }) {
  return (
    <div class="empty">
      <p class="empty-title">{props.title}</p>
      {props.children && <div class="empty-body">{props.children}</div>}
      {props.action && <div class="empty-action">{props.action}</div>}
    </div>
  );
}

/** A labelled form control; the child gets the id. */
export function Field(props: { label: string; hint?: ComponentChildren; error?: string; children: (id: string, describedBy?: string) => ComponentChildren; class?: string }) {
  const id = useId();
  const hintId = props.hint ? `${id}-hint` : undefined;
  const errorId = props.error ? `${id}-error` : undefined;
  const describedBy = [hintId, errorId].filter(Boolean).join(' ') || undefined;
  return (
    <div class={`field${props.error ? ' field-invalid' : ''}${props.class ? ` ${props.class}` : ''}`}>
      <label for={id}>{props.label}</label>
      {props.children(id, describedBy)}
      {props.hint && (
        <p class="hint" id={hintId}>
          {props.hint}
        </p>
      )}
      {props.error && (
        <p class="field-error" id={errorId}>
          {props.error}
        </p>
      )}
    </div>
  );
}

async function copyText(text: string, fallbackInput?: HTMLInputElement | null): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    /* fall back */
  }
  if (fallbackInput) {
    fallbackInput.select();
    // execCommand is the only copy available outside a secure context (http on a server name).
    return document.execCommand('copy');
  }
  return false;
}

/** A read-only value with a Copy button (URLs, tokens shown once). */
export function CopyField(props: { label: string; value: string; secret?: boolean; hint?: ComponentChildren; testId?: string }) {
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<'yes' | 'no' | undefined>();
  const id = useId();
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <div class={`copy-field${props.secret ? ' copy-secret' : ''}`}>
        <input id={id} ref={input} class="input mono" readOnly value={props.value} data-testid={props.testId} onFocus={(e) => (e.currentTarget as HTMLInputElement).select()} />
        <Button
          onClick={async () => {
            setCopied((await copyText(props.value, input.current)) ? 'yes' : 'no');
            setTimeout(() => setCopied(undefined), 2500);
          }}
        >
          {copied === 'yes' ? 'Copied' : 'Copy'}
        </Button>
      </div>
      <p class="hint" aria-live="polite">
        {copied === 'no' ? 'Copying was blocked by the browser: select the text and press Ctrl+C.' : props.hint}
      </p>
    </div>
  );
}

/** A modal dialog (native <dialog>: focus stays inside, Escape closes). */
export function Dialog(props: { open: boolean; title: string; onClose: () => void; children: ComponentChildren; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) d.showModal();
    if (!props.open && d.open) d.close();
  }, [props.open]);
  return (
    <dialog ref={ref} class={`dialog${props.wide ? ' dialog-wide' : ''}`} aria-labelledby={titleId} onClose={props.onClose} onCancel={props.onClose}>
      {props.open && (
        <>
          <div class="dialog-header">
            <h2 id={titleId}>{props.title}</h2>
            <button type="button" class="icon-button" aria-label="Close" onClick={props.onClose}>
              ×
            </button>
          </div>
          <div class="dialog-body">{props.children}</div>
        </>
      )}
    </dialog>
  );
}

export function Progress(props: { value: number; max: number; label: string }) {
  const pct = props.max > 0 ? Math.round((props.value / props.max) * 100) : undefined;
  return (
    <div class="progress-wrap">
      <div class="progress-label">
        <span>{props.label}</span>
        {pct !== undefined && <span>{pct}%</span>}
      </div>
      <progress class="progress" value={props.max > 0 ? props.value : undefined} max={props.max > 0 ? props.max : undefined} aria-label={props.label} />
    </div>
  );
}

export function Pager(props: { startIndex: number; count: number; total: number; onPage: (startIndex: number) => void; label: string }) {
  const { startIndex, count, total } = props;
  if (total === 0) return null;
  const last = Math.min(total, startIndex + count - 1);
  return (
    <nav class="pager" aria-label={`${props.label} pages`}>
      <span>
        {startIndex.toLocaleString()}–{last.toLocaleString()} of {total.toLocaleString()}
      </span>
      <div class="pager-buttons">
        <Button small disabled={startIndex <= 1} onClick={() => props.onPage(Math.max(1, startIndex - count))}>
          Previous
        </Button>
        <Button small disabled={last >= total} onClick={() => props.onPage(startIndex + count)}>
          Next
        </Button>
      </div>
    </nav>
  );
}

/** Segmented choice (tabs of a list): buttons with aria-pressed. */
export function Segmented<T extends string>(props: { label: string; value: T; options: Array<{ value: T; label: ComponentChildren }>; onChange: (v: T) => void }) {
  return (
    <div class="segmented" role="group" aria-label={props.label}>
      {props.options.map((o) => (
        <button type="button" key={o.value} class="segment" aria-pressed={o.value === props.value ? 'true' : 'false'} onClick={() => props.onChange(o.value)}>
          {o.label}
        </button>
      ))}
    </div>
  );
}

export function Loading(props: { label?: string }) {
  return (
    <p class="loading" role="status">
      <span class="spinner" aria-hidden="true" /> {props.label ?? 'Loading…'}
    </p>
  );
}

export function ErrorNotice(props: { error: unknown; retry?: () => void }) {
  const message = props.error instanceof Error ? props.error.message : String(props.error);
  return (
    <Notice tone="bad" title="Something went wrong">
      <p>{message}</p>
      {props.retry && (
        <p>
          <Button small onClick={props.retry}>
            Try again
          </Button>
        </p>
      )}
    </Notice>
  );
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function fieldError(err: unknown, field: string): string | undefined {
  return err instanceof ApiError && err.field === field ? err.message : undefined;
}

/**
 * Loads data, with reload and optional polling; keeps the last data while reloading. A poll calls
 * `load({ background: true })`: pass it to api.get so that it does not count as the admin's activity.
 */
export function useLoad<T>(load: (opts: { background: boolean }) => Promise<T>, deps: unknown[], pollMs?: number): { data?: T; error?: unknown; loading: boolean; reload: () => Promise<void> } {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const seq = useRef(0);
  const run = useCallback(async (background: boolean) => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    try {
      const data = await load({ background });
      if (mine === seq.current) setState({ data, loading: false });
    } catch (error) {
      if (mine === seq.current) setState((s) => ({ data: s.data, error, loading: false }));
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  const reload = useCallback(() => run(false), [run]);
  useEffect(() => {
    void run(false);
    if (!pollMs) return;
    const t = setInterval(() => {
      if (document.visibilityState === 'visible') void run(true);
    }, pollMs);
    return () => clearInterval(t);
  }, [run, pollMs]);
  return { ...state, reload };
}

/** Announces a message to screen readers and shows it briefly (saved, deleted, ...). */
export function useToast(): [ComponentChildren, (message: string, tone?: Tone) => void] {
  const [toast, setToast] = useState<{ message: string; tone: Tone } | undefined>();
  const timer = useRef<number | undefined>(undefined);
  const show = useCallback((message: string, tone: Tone = 'ok') => {
    setToast({ message, tone });
    clearTimeout(timer.current);
    timer.current = window.setTimeout(() => setToast(undefined), 5000);
  }, []);
  const node = (
    <div class="toast-region" aria-live="polite" role="status">
      {toast && <div class={`toast toast-${toast.tone}`}>{toast.message}</div>}
    </div>
  );
  return [node, show];
}

export function StateBadge(props: { state: string }) {
  const map: Record<string, [Tone, string]> = {
    running: ['ok', 'Running'],
    failed: ['bad', 'Not running'],
    stopped: ['neutral', 'Stopped'],
    active: ['ok', 'Active'],
    grace: ['warn', 'Rotated (grace period)'],
    expired: ['neutral', 'Expired'],
    revoked: ['neutral', 'Revoked'],
    pending: ['info', 'Waiting'],
    dead: ['bad', 'Dead letter'],
    success: ['ok', 'Success'],
    failure: ['bad', 'Failure'],
  };
  const [tone, text] = map[props.state] ?? ['neutral', props.state];
  return <Badge tone={tone}>{text}</Badge>;
}

/**
 * A choice among a few explained options (radio buttons in a fieldset): each option says what it
 * does, so the admin does not need the docs to pick one.
 */
export function ChoiceGroup<T extends string>(props: {
  legend: ComponentChildren;
  hint?: ComponentChildren;
  value: T;
  options: ReadonlyArray<{ value: T; label: ComponentChildren; hint?: ComponentChildren }>;
  onChange: (v: T) => void;
  disabled?: boolean;
  error?: string;
  testId?: string;
}) {
  const name = useId();
  const hintId = `${name}-hint`;
  return (
    <fieldset class={`subfield${props.error ? ' field-invalid' : ''}`} aria-describedby={props.hint ? hintId : undefined} data-testid={props.testId}>
      <legend>{props.legend}</legend>
      {props.hint && (
        <p class="hint" id={hintId}>
          {props.hint}
        </p>
      )}
      <div class="choice-grid choice-grid-described">
        {props.options.map((o) => (
          // The whole card selects; the option's name is its label, its explanation a description.
          <label key={o.value} class="choice choice-described">
            <input
              type="radio"
              name={name}
              value={o.value}
              checked={props.value === o.value}
              disabled={props.disabled}
              aria-labelledby={`${name}-${o.value}`}
              aria-describedby={o.hint ? `${name}-${o.value}-hint` : undefined}
              onChange={() => props.onChange(o.value)}
            />
            <span>
              <span class="choice-label" id={`${name}-${o.value}`}>
                {o.label}
              </span>
              {o.hint && (
                <span class="choice-hint" id={`${name}-${o.value}-hint`}>
                  {o.hint}
                </span>
              )}
            </span>
          </label>
        ))}
      </div>
      {props.error && <p class="field-error">{props.error}</p>}
    </fieldset>
  );
}

/** A checkbox with its label and an explanation under it. */
export function Check(props: { label: ComponentChildren; hint?: ComponentChildren; checked: boolean; onChange: (v: boolean) => void; disabled?: boolean }) {
  const id = useId();
  return (
    <div class="field field-check">
      <input id={id} type="checkbox" checked={props.checked} disabled={props.disabled} aria-describedby={props.hint ? `${id}-hint` : undefined} onChange={(e) => props.onChange((e.currentTarget as HTMLInputElement).checked)} />
      <label for={id}>{props.label}</label>
      {props.hint && (
        <p class="hint" id={`${id}-hint`}>
          {props.hint}
        </p>
      )}
    </div>
  );
}
