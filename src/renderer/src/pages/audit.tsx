/** The audit log: filter by time, token, actor, resource, action; page; export CSV or JSON Lines; verify the chain. */
import { useState } from 'preact/hooks';
import type { AuditPageInfo, AuditRecordInfo, TokenInfo, VerifyOutcome } from '../../../gateway/admin/api-types';
import { api, download, query } from '../api';
import { bytes, formatPrecise, plural } from '../format';
import { Button, Card, EmptyState, ErrorNotice, Field, Loading, Notice, PageHeader, Progress, StateBadge, useLoad } from '../ui';

interface Filters {
  from: string;
  to: string;
  tokenId: string;
  actor: string;
  resourceId: string;
  action: string;
  connection: string;
  result: string;
}

const EMPTY: Filters = { from: '', to: '', tokenId: '', actor: '', resourceId: '', action: '', connection: '', result: '' };

/** datetime-local (local time, no zone) -> ISO. */
function iso(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

function params(f: Filters): Record<string, string | undefined> {
  return { from: iso(f.from), to: iso(f.to), tokenId: f.tokenId, actor: f.actor.trim(), resourceId: f.resourceId.trim(), action: f.action.trim(), connection: f.connection.trim(), result: f.result };
}

function Row(props: { r: AuditRecordInfo }) {
  const { r } = props;
  const [open, setOpen] = useState(false);
  const hasMore = Boolean(r.changes?.length || r.detail || r.requestId);
  return (
    <>
      <tr>
        <td class="nowrap">{formatPrecise(r.time)}</td>
        <td>
          <span class="muted small">{r.actor.kind}</span>
          <div>{r.actor.name ?? r.actor.id}</div>
        </td>
        <td class="mono">{r.action}</td>
        <td>{r.resource ? <>{r.resource.display ?? r.resource.id} <span class="muted small">{r.resource.type}</span></> : <span class="muted">—</span>}</td>
        <td>{r.connection ?? <span class="muted">—</span>}</td>
        <td>
          <StateBadge state={r.result} />
        </td>
        <td>
          {hasMore && (
            <Button small variant="ghost" aria-expanded={open ? 'true' : 'false'} onClick={() => setOpen(!open)} aria-label={`${open ? 'Hide' : 'Show'} details of record ${r.seq}`}>
              {open ? 'Hide' : 'Details'}
            </Button>
          )}
        </td>
      </tr>
      {open && (
        <tr class="detail-row">
          <td colSpan={7}>
            <dl class="facts">
              {r.detail && (
                <div>
                  <dt>Detail</dt>
                  <dd>{r.detail}</dd>
                </div>
              )}
              {r.requestId && (
                <div>
                  <dt>Request</dt>
                  <dd class="mono">{r.requestId}</dd>
                </div>
              )}
              <div>
                <dt>Record</dt>
                <dd class="mono">#{r.seq}</dd>
              </div>
            </dl>
            {r.changes && r.changes.length > 0 && <pre class="code small">{JSON.stringify(r.changes, null, 2)}</pre>}
          </td>
        </tr>
      )}
    </>
  );
}

export function AuditPage(props: { params: URLSearchParams }) {
  const initial = { ...EMPTY, resourceId: props.params.get('resource') ?? '', action: props.params.get('action') ?? '' };
  const [form, setForm] = useState<Filters>(initial);
  const [applied, setApplied] = useState<Filters>(initial);
  const [pages, setPages] = useState<AuditRecordInfo[][]>([]);
  const [cursor, setCursor] = useState<string>();
  const [loadingMore, setLoadingMore] = useState(false);
  const [exporting, setExporting] = useState<{ format: string; bytes: number; done?: boolean; error?: string }>();
  const [verify, setVerify] = useState<{ busy: boolean; result?: VerifyOutcome }>({ busy: false });
  const tokens = useLoad(() => api.get<{ tokens: TokenInfo[] }>('/tokens'), []);
  const first = useLoad(async () => {
    const p = await api.get<AuditPageInfo>(`/audit${query({ ...params(applied), limit: 50 })}`);
    setPages([p.records]);
    setCursor(p.nextCursor);
    return p;
  }, [applied]);

  const set = (k: keyof Filters) => (e: Event) => setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value });
  const more = async () => {
    if (!cursor) return;
    setLoadingMore(true);
    try {
      const p = await api.get<AuditPageInfo>(`/audit${query({ ...params(applied), limit: 50, cursor })}`);
      setPages([...pages, p.records]);
      setCursor(p.nextCursor);
    } finally {
      setLoadingMore(false);
    }
  };
  const exportAs = async (format: 'csv' | 'jsonl') => {
    setExporting({ format, bytes: 0 });
    try {
      const n = await download(`/audit/export${query({ ...params(applied), format })}`, (b) => setExporting({ format, bytes: b }));
      setExporting({ format, bytes: n, done: true });
    } catch (err) {
      setExporting({ format, bytes: 0, error: (err as Error).message });
    }
  };
  const runVerify = async () => {
    setVerify({ busy: true });
    try {
      setVerify({ busy: false, result: await api.post<VerifyOutcome>('/audit/verify') });
    } catch (err) {
      setVerify({ busy: false, result: { ok: false, reason: (err as Error).message } });
    }
  };
  const records = pages.flat();
  const filtered = Object.values(applied).some(Boolean);
  return (
    <>
      <PageHeader
        title="Audit log"
        description="Every change, refusal, connector outcome and admin action, newest first. Each record carries the hash of the one before it, so an edit breaks the chain."
        actions={
          <>
            <Button onClick={runVerify} busy={verify.busy}>
              Verify chain
            </Button>
            <Button onClick={() => exportAs('csv')} disabled={exporting !== undefined && !exporting.done && !exporting.error}>
              Export CSV
            </Button>
            <Button onClick={() => exportAs('jsonl')} disabled={exporting !== undefined && !exporting.done && !exporting.error}>
              Export JSON
            </Button>
          </>
        }
      />
      <div aria-live="polite">
        {verify.result &&
          (verify.result.ok ? (
            <Notice tone="ok" title="The chain is intact">
              {plural(verify.result.records ?? 0, 'record')} verified.
            </Notice>
          ) : (
            <Notice tone="bad" title="The chain is broken">
              {verify.result.file && `${verify.result.file} line ${verify.result.line}: `}
              {verify.result.reason}
            </Notice>
          ))}
        {exporting && !exporting.done && !exporting.error && <Progress value={0} max={0} label={`Exporting ${exporting.format === 'csv' ? 'CSV' : 'JSON Lines'}: ${bytes(exporting.bytes)} received`} />}
        {exporting?.done && (
          <Notice tone="ok" title="Export ready">
            {bytes(exporting.bytes)} saved by your browser{filtered ? ', with the filters applied (newest first)' : ', the whole log oldest first (each JSON line verifiable on its own)'}.
          </Notice>
        )}
        {exporting?.error && <Notice tone="bad" title="The export failed">{exporting.error}</Notice>}
      </div>
      <Card title="Filter">
        <form
          class="filter-grid"
          onSubmit={(e) => {
            e.preventDefault();
            setApplied(form);
          }}
        >
          <Field label="From">{(id) => <input id={id} class="input" type="datetime-local" value={form.from} onInput={set('from')} />}</Field>
          <Field label="To">{(id) => <input id={id} class="input" type="datetime-local" value={form.to} onInput={set('to')} />}</Field>
          <Field label="Token">
            {(id) => (
              <select id={id} class="input" value={form.tokenId} onChange={set('tokenId')}>
                <option value="">Any</option>
                {tokens.data?.tokens.map((t) => (
                  <option key={t.id} value={t.id}>
                    {t.name} ({t.prefix}…)
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Actor" hint="Admin name, token id or connector id.">
            {(id, d) => <input id={id} aria-describedby={d} class="input" value={form.actor} onInput={set('actor')} />}
          </Field>
          <Field label="Resource id">{(id) => <input id={id} class="input" value={form.resourceId} onInput={set('resourceId')} />}</Field>
          <Field label="Action" hint="e.g. user.create, or user.* for all user actions.">
            {(id, d) => <input id={id} aria-describedby={d} class="input" value={form.action} onInput={set('action')} list="audit-actions" />}
          </Field>
          <datalist id="audit-actions">
            {['user.*', 'group.*', 'connector.*', 'token.*', 'admin.*', 'scim.*', 'outbox.*', 'connection.*'].map((a) => (
              <option key={a} value={a} />
            ))}
          </datalist>
          <Field label="Connection">{(id) => <input id={id} class="input" value={form.connection} onInput={set('connection')} />}</Field>
          <Field label="Result">
            {(id) => (
              <select id={id} class="input" value={form.result} onChange={set('result')}>
                <option value="">Any</option>
                <option value="success">Success</option>
                <option value="failure">Failure</option>
              </select>
            )}
          </Field>
          <div class="form-actions filter-actions">
            <Button
              variant="ghost"
              onClick={() => {
                setForm(EMPTY);
                setApplied(EMPTY);
              }}
            >
              Clear
            </Button>
            <Button type="submit" variant="primary">
              Apply filters
            </Button>
          </div>
        </form>
      </Card>
      <Card>
        {first.error !== undefined && <ErrorNotice error={first.error} retry={first.reload} />}
        {first.loading && records.length === 0 && <Loading />}
        {!first.loading && records.length === 0 && !first.error && (
          <EmptyState title={filtered ? 'No record matches these filters' : 'The audit log is empty'}>
            {filtered ? 'Widen the time range or clear a filter.' : 'Records appear as soon as an identity provider or an admin changes something.'}
          </EmptyState>
        )}
        {records.length > 0 && (
          <div class="table-wrap">
            <table class="table audit-table" aria-label="Audit records">
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Actor</th>
                  <th scope="col">Action</th>
                  <th scope="col">Resource</th>
                  <th scope="col">Connection</th>
                  <th scope="col">Result</th>
                  <th scope="col">
                    <span class="visually-hidden">Details</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {records.map((r) => (
                  <Row key={r.seq} r={r} />
                ))}
              </tbody>
            </table>
          </div>
        )}
        {cursor && (
          <div class="load-more">
            <Button onClick={more} busy={loadingMore}>
              Load older records
            </Button>
          </div>
        )}
      </Card>
    </>
  );
}
