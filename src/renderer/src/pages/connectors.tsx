/** Connectors: state and last error of each instance, configure from the type's schema, Test connection, dry-run, reconcile. */
import { useState } from 'preact/hooks';
import type { ConnectionInfo, ConnectorInfo, ConnectorTypeInfo, DriftReportInfo, DryRunOutcome, JobInfo, ResourcePage, TestOutcome } from '../../../gateway/admin/api-types';
import { api, ApiError, followJob, query } from '../api';
import { formatDateTime, humanize, plural, relative } from '../format';
import { editableConfig, SchemaForm, type FormValue, type JsonSchema, type SecretState } from '../schema-form';
import { Badge, Button, Card, Dialog, EmptyState, ErrorNotice, Field, Loading, Notice, PageHeader, Progress, StateBadge, fieldError, useLoad, useToast } from '../ui';

export type ConnectorRow = ConnectorInfo & { secrets: SecretState[] };

export function TestResultView(props: { result: TestOutcome }) {
  const r = props.result;
  return (
    <div data-testid="connector-test-result">
      <Notice tone={r.ok ? 'ok' : 'bad'} title={r.ok ? 'Connection works' : 'Connection failed'} live>
        <p>{r.message}</p>
        {r.details && (
          <p class="muted small">
            {Object.entries(r.details)
              .map(([k, v]) => `${humanize(k)}: ${String(v)}`)
              .join(' · ')}
          </p>
        )}
        <p class="muted small">{r.durationMs} ms</p>
      </Notice>
    </div>
  );
}

/** Add or change a connector; also the wizard's last step. */
export function ConnectorEditor(props: {
  types: ConnectorTypeInfo[];
  connections: string[];
  existing?: ConnectorRow;
  defaultConnection?: string;
  onSaved: (id: string) => void;
  onCancel?: () => void;
  cancelLabel?: string;
}) {
  const { existing } = props;
  const [connection, setConnection] = useState(existing?.connection ?? props.defaultConnection ?? props.connections[0] ?? 'default');
  const [type, setType] = useState(existing?.type ?? props.types[0]?.type ?? '');
  const [id, setId] = useState(existing?.id ?? '');
  const [config, setConfig] = useState<FormValue>(() => editableConfig(existing?.config ?? {}));
  const [mapping, setMapping] = useState(existing && Object.keys(existing.mapping).length ? JSON.stringify(existing.mapping, null, 2) : '');
  const [testing, setTesting] = useState(false);
  const [result, setResult] = useState<TestOutcome>();
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<unknown>();
  const t = props.types.find((x) => x.type === type);
  const suggestedId = `${type}-${connection}`.replace(/[^a-z0-9_-]/g, '-').slice(0, 63);

  const test = async () => {
    setTesting(true);
    setResult(undefined);
    try {
      setResult(await api.post<TestOutcome>('/connectors/test', { type, config, ...(existing ? { id: existing.id } : {}) }));
    } catch (err) {
      setResult({ ok: false, message: (err as Error).message, durationMs: 0 });
    } finally {
      setTesting(false);
    }
  };
  const save = async (e: Event) => {
    e.preventDefault();
    setSaving(true);
    setError(undefined);
    let parsedMapping: unknown = {};
    try {
      parsedMapping = mapping.trim() ? JSON.parse(mapping) : {};
    } catch {
      setError(new ApiError(400, 'invalid', 'The attribute mapping is not valid JSON.', 'mapping'));
      setSaving(false);
      return;
    }
    const finalId = (id || suggestedId).trim();
    try {
      await api.put(`/connections/${encodeURIComponent(connection)}/connectors/${encodeURIComponent(finalId)}`, { type, config, mapping: parsedMapping });
      props.onSaved(finalId);
    } catch (err) {
      setError(err);
    } finally {
      setSaving(false);
    }
  };
  if (props.types.length === 0) return <Notice tone="warn">No connector types are installed.</Notice>;
  return (
    <form onSubmit={save} class="stack">
      <div class="form-grid">
        <Field label="Connection" hint="Whose changes this connector receives.">
          {(fid, d) => (
            <select id={fid} aria-describedby={d} class="input" value={connection} disabled={Boolean(existing)} onChange={(e) => setConnection(e.currentTarget.value)}>
              {props.connections.map((c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Type">
          {(fid) => (
            <select
              id={fid}
              class="input"
              value={type}
              disabled={Boolean(existing)}
              onChange={(e) => {
                setType(e.currentTarget.value);
                setConfig({});
                setResult(undefined);
              }}
            >
              {props.types.map((x) => (
                <option key={x.type} value={x.type}>
                  {x.displayName}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Id" hint="Names it in the outbox, the audit log and links; cannot change later." error={fieldError(error, 'id')}>
          {(fid, d) => (
            <input id={fid} aria-describedby={d} class="input" value={id} placeholder={suggestedId} disabled={Boolean(existing)} pattern="[a-z0-9][a-z0-9_\-]{0,62}" onInput={(e) => setId(e.currentTarget.value)} />
          )}
        </Field>
      </div>
      {t && <p class="muted small">{t.description}</p>}
      {t && (
        <fieldset class="fieldset">
          <legend>Settings</legend>
          <SchemaForm schema={t.configSchema as JsonSchema} value={config} onChange={setConfig} secrets={existing?.secrets} />
        </fieldset>
      )}
      <details class="details">
        <summary>Attribute mapping (advanced)</summary>
        <Field label="Mapping as JSON" hint='Target attribute -> SCIM path, merged over the default mapping, e.g. {"mail": "emails[type eq \"work\"].value"}.' error={fieldError(error, 'mapping')}>
          {(fid, d) => <textarea id={fid} aria-describedby={d} class="input mono" rows={5} value={mapping} onInput={(e) => setMapping(e.currentTarget.value)} />}
        </Field>
        {t?.defaultMapping && <pre class="code small">{JSON.stringify(t.defaultMapping, null, 2)}</pre>}
      </details>
      {result && <TestResultView result={result} />}
      {error !== undefined && !(error instanceof ApiError && (error.field === 'mapping' || error.field === 'id')) && <ErrorNotice error={error} />}
      <div class="form-actions">
        {props.onCancel && <Button onClick={props.onCancel}>{props.cancelLabel ?? 'Cancel'}</Button>}
        <Button onClick={test} busy={testing}>
          Test connection
        </Button>
        <Button type="submit" variant="primary" busy={saving}>
          {existing ? 'Save' : 'Add connector'}
        </Button>
      </div>
    </form>
  );
}

function DryRunDialog(props: { connector?: ConnectorRow; onClose: () => void }) {
  const c = props.connector;
  const [q, setQ] = useState('');
  const [users, setUsers] = useState<ResourcePage>();
  const [plan, setPlan] = useState<DryRunOutcome>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const search = async (e?: Event) => {
    e?.preventDefault();
    if (!c) return;
    try {
      setUsers(await api.get<ResourcePage>(`/connections/${encodeURIComponent(c.connection)}/users${query({ q, count: 8 })}`));
    } catch (err) {
      setError(err);
    }
  };
  const preview = async (userId: string) => {
    setBusy(true);
    setError(undefined);
    setPlan(undefined);
    try {
      setPlan(await api.post<DryRunOutcome>(`/connectors/${encodeURIComponent(c!.id)}/dry-run`, { userId }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const close = () => {
    setPlan(undefined);
    setUsers(undefined);
    setQ('');
    setError(undefined);
    props.onClose();
  };
  return (
    <Dialog open={Boolean(c)} wide title={`Dry run: ${c?.id ?? ''}`} onClose={close}>
      <p class="muted">What the connector would send for one user of connection {c?.connection}, without sending it.</p>
      <form onSubmit={search} class="inline-form">
        <Field label="Find a user">
          {(id) => <input id={id} class="input" value={q} onInput={(e) => setQ(e.currentTarget.value)} placeholder="name or email" />}
        </Field>
        <Button type="submit">Search</Button>
      </form>
      {users && users.items.length === 0 && <p class="muted">No user matches.</p>}
      {users && users.items.length > 0 && (
        <ul class="pick-list">
          {users.items.map((u) => (
            <li key={u.id}>
              <Button small variant="ghost" onClick={() => preview(u.id)}>
                {u.name}
              </Button>
              <span class="muted small">{u.displayName}</span>
            </li>
          ))}
        </ul>
      )}
      {busy && <Loading label="Asking the connector…" />}
      {error !== undefined && <ErrorNotice error={error} />}
      {plan && (
        <div class="stack" aria-live="polite">
          <h3>
            {humanize(plan.kind)}: {plan.summary}
          </h3>
          {!plan.detailed && <p class="muted small">This connector has no detailed preview; this is the operation it would receive.</p>}
          <ol class="stack">
            {plan.requests.map((r, i) => (
              <li key={i}>
                <p class="mono">{r.description}</p>
                {r.detail !== undefined && <pre class="code small">{JSON.stringify(r.detail, null, 2)}</pre>}
              </li>
            ))}
          </ol>
        </div>
      )}
    </Dialog>
  );
}

function ReconcilePanel(props: { connectors: ConnectorRow[] }) {
  const data = useLoad(() => api.get<{ reports: DriftReportInfo[]; running: JobInfo[] }>('/reconciliations'), []);
  const [job, setJob] = useState<JobInfo>();
  const [error, setError] = useState<unknown>();
  const [repair, setRepair] = useState(false);
  const readable = props.connectors.filter((c) => c.capabilities.read && c.state === 'running');
  const run = async (connector?: string) => {
    setError(undefined);
    try {
      const started = await api.post<JobInfo>('/reconciliations', { ...(connector ? { connector } : {}), repair });
      const done = await followJob(started, setJob);
      if (done.state === 'failed') setError(new Error(done.error));
      void data.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Card title="Reconciliation" actions={readable.length > 0 && <Button small onClick={() => run()} busy={job?.state === 'running'}>Reconcile all now</Button>}>
      <p class="muted">Compares what each target holds with the gateway. It runs nightly; run it now after fixing a target by hand.</p>
      <div class="field field-check">
        <input id="repair" type="checkbox" checked={repair} onChange={(e) => setRepair(e.currentTarget.checked)} />
        <label for="repair">Repair what differs (queue the operations that fix it)</label>
      </div>
      {readable.length === 0 && <p class="muted small">No running connector can list its users, so there is nothing to compare.</p>}
      {job?.state === 'running' && <Progress value={job.done} max={job.total} label={job.step} />}
      {error !== undefined && <ErrorNotice error={error} />}
      {data.data && data.data.reports.length > 0 && (
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr>
                <th scope="col">Connector</th>
                <th scope="col">When</th>
                <th scope="col">Checked</th>
                <th scope="col">Missing</th>
                <th scope="col">Different</th>
                <th scope="col">Not managed</th>
                <th scope="col">Repairs queued</th>
              </tr>
            </thead>
            <tbody>
              {data.data.reports.map((r) => (
                <tr key={r.connector}>
                  <th scope="row">{r.connector}</th>
                  <td title={formatDateTime(r.at)}>{relative(r.at)}</td>
                  <td>{r.checked}</td>
                  <td>{r.missing.length ? <Badge tone="warn">{r.missing.length}</Badge> : 0}</td>
                  <td>{r.different.length ? <Badge tone="warn">{r.different.length}</Badge> : 0}</td>
                  <td>{r.extra.length}</td>
                  <td>{r.repaired}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

export function ConnectorsPage() {
  const list = useLoad((o) => api.get<{ connectors: ConnectorRow[]; managed: boolean }>('/connectors', o), [], 15_000);
  const types = useLoad(() => api.get<{ types: ConnectorTypeInfo[] }>('/connector-types'), []);
  const connections = useLoad(() => api.get<{ connections: ConnectionInfo[] }>('/connections'), []);
  const [editing, setEditing] = useState<{ existing?: ConnectorRow }>();
  const [dryRun, setDryRun] = useState<ConnectorRow>();
  const [removing, setRemoving] = useState<ConnectorRow>();
  const [tests, setTests] = useState<Record<string, TestOutcome | 'busy'>>({});
  const [toast, show] = useToast();
  const runtimeConnections = (connections.data?.connections ?? []).filter((c) => c.source === 'runtime').map((c) => c.name);

  const test = async (c: ConnectorRow) => {
    setTests((t) => ({ ...t, [c.id]: 'busy' }));
    try {
      const r = await api.post<TestOutcome>(`/connectors/${encodeURIComponent(c.id)}/test`);
      setTests((t) => ({ ...t, [c.id]: r }));
    } catch (err) {
      setTests((t) => ({ ...t, [c.id]: { ok: false, message: (err as Error).message, durationMs: 0 } }));
    }
  };
  const remove = async () => {
    if (!removing) return;
    try {
      await api.delete(`/connections/${encodeURIComponent(removing.connection)}/connectors/${encodeURIComponent(removing.id)}`);
      show(`Connector ${removing.id} removed. Its pending outbox entries stay until retried or discarded.`);
      void list.reload();
    } catch (err) {
      show((err as Error).message, 'bad');
    }
    setRemoving(undefined);
  };
  const rows = list.data?.connectors ?? [];
  return (
    <>
      <PageHeader
        title="Connectors"
        description="Each connector applies a connection's changes to one system: a directory, a database, an API, a file."
        actions={
          list.data?.managed && (
            <Button variant="primary" onClick={() => setEditing({})} disabled={runtimeConnections.length === 0}>
              Add connector
            </Button>
          )
        }
      />
      {toast}
      {list.error !== undefined && <ErrorNotice error={list.error} retry={list.reload} />}
      {!list.data && !list.error && <Loading />}
      {list.data && rows.length === 0 && (
        <Card>
          <EmptyState title="No connectors yet" action={list.data.managed && <Button variant="primary" onClick={() => setEditing({})}>Add a connector</Button>}>
            Without a connector, users and groups are kept in the gateway only. Add one for the system to provision; the <strong>Demo</strong> type shows the whole flow without touching anything real.
          </EmptyState>
        </Card>
      )}
      {rows.map((c) => {
        const t = tests[c.id];
        return (
          <Card
            key={c.id}
            class="connector-card"
            title={
              <>
                <span class="mono-name">{c.id}</span> <StateBadge state={c.state} />
              </>
            }
            actions={
              <>
                <Button small onClick={() => test(c)} busy={t === 'busy'} aria-label={`Test connection of ${c.id}`}>
                  Test connection
                </Button>
                {c.state === 'running' && (
                  <Button small onClick={() => setDryRun(c)} aria-label={`Dry run of ${c.id}`}>
                    Dry run
                  </Button>
                )}
                {c.source === 'runtime' && (
                  <>
                    <Button small onClick={() => setEditing({ existing: c })} aria-label={`Configure ${c.id}`}>
                      Configure
                    </Button>
                    <Button small variant="ghost" onClick={() => setRemoving(c)} aria-label={`Remove ${c.id}`}>
                      Remove
                    </Button>
                  </>
                )}
              </>
            }
          >
            <dl class="facts">
              <div>
                <dt>Type</dt>
                <dd>{c.displayName}</dd>
              </div>
              <div>
                <dt>Connection</dt>
                <dd>
                  {c.connection} {c.source === 'config' && <span class="muted small">(config file)</span>}
                </dd>
              </div>
              <div>
                <dt>Outbox</dt>
                <dd>
                  {c.outbox.pending === 0 && c.outbox.dead === 0 ? (
                    <span class="muted">nothing waiting</span>
                  ) : (
                    <a href="#/outbox">
                      {c.outbox.pending} waiting, {c.outbox.failing} failing, {c.outbox.dead} dead
                    </a>
                  )}
                </dd>
              </div>
              <div>
                <dt>Can</dt>
                <dd class="small">{Object.keys(c.capabilities).map(humanize).join(', ') || '—'}</dd>
              </div>
              {c.secrets.length > 0 && (
                <div>
                  <dt>Secrets</dt>
                  <dd class="small">{c.secrets.map((s) => `${s.path}: ${s.env ? `from $${s.env}` : s.set ? 'set' : s.required ? 'NOT SET' : 'not set'}`).join(' · ')}</dd>
                </div>
              )}
            </dl>
            {c.error && (
              <Notice tone="bad" title="Not running">
                {c.error}
              </Notice>
            )}
            {c.lastDeliveryError && (
              <Notice tone="warn" title={`Last delivery error, ${relative(c.lastDeliveryError.at)}`}>
                {c.lastDeliveryError.message}
              </Notice>
            )}
            {t && t !== 'busy' && <TestResultView result={t} />}
          </Card>
        );
      })}
      {rows.length > 0 && <ReconcilePanel connectors={rows} />}
      <Dialog open={Boolean(editing)} wide title={editing?.existing ? `Configure ${editing.existing.id}` : 'Add a connector'} onClose={() => setEditing(undefined)}>
        {editing && types.data && (
          <ConnectorEditor
            types={types.data.types}
            connections={editing.existing ? [editing.existing.connection] : runtimeConnections}
            existing={editing.existing}
            onCancel={() => setEditing(undefined)}
            onSaved={(id) => {
              show(`Connector ${id} saved and restarted.`);
              setEditing(undefined);
              void list.reload();
            }}
          />
        )}
      </Dialog>
      <DryRunDialog connector={dryRun} onClose={() => setDryRun(undefined)} />
      <Dialog open={Boolean(removing)} title={`Remove connector ${removing?.id ?? ''}?`} onClose={() => setRemoving(undefined)}>
        <p>The connector stops and receives no more changes. Nothing is removed from the target system.</p>
        <div class="form-actions">
          <Button onClick={() => setRemoving(undefined)}>Cancel</Button>
          <Button variant="danger" onClick={remove}>
            Remove
          </Button>
        </div>
      </Dialog>
      {list.data && <p class="muted small">{plural(rows.length, 'connector')}.</p>}
    </>
  );
}
