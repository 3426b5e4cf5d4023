/** Connectors: state and last error of each instance, configure from the type's schema, Test connection, dry-run, reconcile. */
import { useState } from 'preact/hooks';
import type { ConnectionInfo, ConnectorInfo, ConnectorSaved, ConnectorTypeInfo, DriftReportInfo, DryRunOutcome, JobInfo, MappingRuleView, ProvisionReport, ResourcePage, TestOutcome } from '../../../gateway/admin/api-types';
import { api, ApiError, followJob, query } from '../api';
import { formatDateTime, humanize, plural, relative } from '../format';
import { MappingEditor } from '../mapping-editor';
import { editableConfig, SchemaForm, type FormValue, type JsonSchema, type SecretState } from '../schema-form';
import { Badge, Button, Card, ChoiceGroup, Dialog, EmptyState, ErrorNotice, Field, Loading, Notice, PageHeader, Progress, StateBadge, fieldError, useLoad, useToast } from '../ui';

export type ConnectorRow = ConnectorInfo;

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

const MODE_CHOICES = [
  { value: 'async', label: 'Async (default)', hint: 'The SCIM response is sent once the change is safe in the gateway; the outbox delivers it right after, with retries. A target that is down never fails the identity provider.' },
  { value: 'sync', label: 'Sync', hint: "The SCIM response waits for the target; its refusal becomes the IdP's error, and nothing is kept. Down: 503, retried by the IdP." },
] as const;

/** Add or change a connector; also the wizard's last step. */
export function ConnectorEditor(props: {
  types: ConnectorTypeInfo[];
  connections: string[];
  existing?: ConnectorRow;
  defaultConnection?: string;
  /** `warnings`: what the admin should know about the saved connector (it shares its target with another connection's). */
  onSaved: (id: string, warnings: string[]) => void;
  onCancel?: () => void;
  cancelLabel?: string;
}) {
  const { existing } = props;
  const [connection, setConnection] = useState(existing?.connection ?? props.defaultConnection ?? props.connections[0] ?? 'default');
  const [type, setType] = useState(existing?.type ?? props.types[0]?.type ?? '');
  const [id, setId] = useState(existing?.id ?? '');
  const [config, setConfig] = useState<FormValue>(() => editableConfig(existing?.config ?? {}));
  const [mode, setMode] = useState<'async' | 'sync'>(existing?.mode ?? 'async');
  const [mapping, setMapping] = useState<Record<string, MappingRuleView>>(() => existing?.mapping ?? {});
  const [mappingProblem, setMappingProblem] = useState<string>();
  const [testing, setTesting] = useState(false);
  const [result, setResult] = useState<TestOutcome>();
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<unknown>();
  // Saved, but the connector did not start: stay here to fix it (later saves change the same connector).
  const [notStarted, setNotStarted] = useState<{ id: string; error?: string; secrets: SecretState[] }>();
  const t = props.types.find((x) => x.type === type);
  const suggestedId = `${type}-${connection}`.replace(/[^a-z0-9_-]/g, '-').slice(0, 63);
  const locked = Boolean(existing || notStarted);

  const test = async () => {
    setTesting(true);
    setResult(undefined);
    try {
      const savedId = existing?.id ?? notStarted?.id;
      setResult(await api.post<TestOutcome>('/connectors/test', { type, config, ...(savedId ? { id: savedId } : {}) }));
    } catch (err) {
      setResult({ ok: false, message: (err as Error).message, durationMs: 0 });
    } finally {
      setTesting(false);
    }
  };
  const save = async (e: Event) => {
    e.preventDefault();
    if (mappingProblem) {
      setError(new ApiError(400, 'invalid', mappingProblem, 'mapping'));
      return;
    }
    setSaving(true);
    setError(undefined);
    const finalId = (notStarted?.id ?? (id || suggestedId)).trim();
    try {
      const saved = await api.put<ConnectorSaved>(`/connections/${encodeURIComponent(connection)}/connectors/${encodeURIComponent(finalId)}`, { type, config, mode, mapping });
      if (saved.connector.state === 'failed') {
        // Which secrets are stored now (set / not set), for the form.
        const rows = await api.get<{ connectors: ConnectorRow[] }>('/connectors').catch(() => undefined);
        const secrets = rows?.connectors.find((c) => c.id === finalId)?.secrets ?? [];
        setNotStarted({ id: finalId, ...(saved.connector.error ? { error: saved.connector.error } : {}), secrets });
        // Typed secrets are stored now: clear them from the form, as on any saved connector.
        setConfig((c) => withoutSecrets(c, t));
      } else props.onSaved(finalId, saved.warnings ?? []);
    } catch (err) {
      setError(err);
    } finally {
      setSaving(false);
    }
  };
  if (props.types.length === 0) return <Notice tone="warn">No connector types are installed.</Notice>;
  // A path that does not exist is found when the connector starts: its row is marked too.
  const startMapping = /^mapping for "([^"]+)"/.exec(notStarted?.error ?? '')?.[1];
  const mappingField = error instanceof ApiError && error.field?.startsWith('mapping') ? error.field : startMapping ? `mapping.${startMapping}` : undefined;
  const mappingMessage = error instanceof ApiError && error.field?.startsWith('mapping') ? error.message : startMapping ? notStarted?.error : undefined;
  const secretStates: SecretState[] = notStarted?.secrets ?? existing?.secrets ?? [];
  // A setting the gateway refused (a secret to type again for a new host) is marked in the form.
  const configError = error instanceof ApiError && error.field?.startsWith('config.') ? { path: error.field.slice('config.'.length), message: error.message } : undefined;
  return (
    <form onSubmit={save} class="stack">
      <div class="form-grid">
        <Field label="Connection" hint="Whose changes this connector receives.">
          {(fid, d) => (
            <select id={fid} aria-describedby={d} class="input" value={connection} disabled={locked} onChange={(e) => setConnection(e.currentTarget.value)}>
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
              disabled={locked}
              onChange={(e) => {
                setType(e.currentTarget.value);
                setConfig({});
                setMapping({});
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
            <input id={fid} aria-describedby={d} class="input" value={notStarted?.id ?? id} placeholder={suggestedId} disabled={locked} pattern="[a-z0-9][a-z0-9_\-]{0,62}" onInput={(e) => setId(e.currentTarget.value)} />
          )}
        </Field>
      </div>
      {t && <p class="muted small">{t.description}</p>}
      {t && (
        <fieldset class="fieldset">
          <legend>Settings</legend>
          <SchemaForm schema={t.configSchema as JsonSchema} value={config} onChange={setConfig} secrets={secretStates} errorPath={configError?.path} error={configError?.message} />
        </fieldset>
      )}
      <fieldset class="fieldset">
        <legend>Delivery</legend>
        <ChoiceGroup legend="When the identity provider hears back" value={mode} onChange={setMode} options={MODE_CHOICES} testId="connector-mode" />
      </fieldset>
      {t && (
        <details class="details" open={Object.keys(mapping).length > 0 || mappingField !== undefined}>
          <summary>
            Attribute mapping {Object.keys(mapping).length > 0 ? <span class="muted">({plural(Object.keys(mapping).length, 'change')})</span> : <span class="muted">(default)</span>}
          </summary>
          <p class="hint">
            Which SCIM attribute fills each attribute the connector receives. The rows here change or add to the default mapping; a SCIM path may be a sub-attribute, a value path (<span class="mono">emails[type eq "work"].value</span>) or an extension attribute with its URN.
          </p>
          <MappingEditor key={type} value={mapping} onChange={setMapping} onProblem={setMappingProblem} defaults={t.defaultMapping} errorField={mappingField} errorMessage={mappingMessage} />
        </details>
      )}
      {result && <TestResultView result={result} />}
      {notStarted && (
        <Notice tone="bad" title={`Saved, but ${notStarted.id} did not start`}>
          <p>{notStarted.error ?? 'The gateway could not start it.'}</p>
          <p class="small">Fix the setting it names and save again; until then its deliveries wait in the outbox.</p>
        </Notice>
      )}
      {error !== undefined && !(error instanceof ApiError && error.field === 'id') && <ErrorNotice error={error} />}
      <div class="form-actions">
        {props.onCancel && <Button onClick={props.onCancel}>{notStarted ? 'Close' : (props.cancelLabel ?? 'Cancel')}</Button>}
        <Button onClick={test} busy={testing}>
          Test connection
        </Button>
        <Button type="submit" variant="primary" busy={saving}>
          {locked ? 'Save' : 'Add connector'}
        </Button>
      </div>
    </form>
  );
}

/** The config without the secret values typed into it (they are in the secret store once saved). */
function withoutSecrets(config: FormValue, t: ConnectorTypeInfo | undefined): FormValue {
  const out = structuredClone(config);
  for (const f of t?.secretFields ?? []) {
    const parts = f.path.split('.');
    let node: FormValue | undefined = out;
    for (const p of parts.slice(0, -1)) node = node && typeof node[p] === 'object' ? (node[p] as FormValue) : undefined;
    if (node && typeof node[parts[parts.length - 1]] === 'string') delete node[parts[parts.length - 1]];
  }
  return out;
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

/**
 * The secrets worth a line on the card: those set, and those required. A type may offer several
 * optional ones of which its settings use one (rest: a password, or a token, or a key).
 */
function shownSecrets(c: ConnectorRow): ConnectorRow['secrets'] {
  return c.secrets.filter((x) => x.set || x.env || x.required);
}

/** Provision existing users: for a connector added after the users existed. */
function ProvisionDialog(props: { connector?: ConnectorRow; onClose: () => void; onDone: () => void }) {
  const c = props.connector;
  const [job, setJob] = useState<JobInfo>();
  const [error, setError] = useState<unknown>();
  const canRead = Boolean(c?.capabilities.read);
  const report = job?.state === 'done' ? (job.result as ProvisionReport) : undefined;
  const start = async () => {
    if (!c) return;
    setError(undefined);
    try {
      const started = await api.post<JobInfo>(`/connectors/${encodeURIComponent(c.id)}/provision-existing`);
      const done = await followJob(started, setJob);
      if (done.state === 'failed') setError(new Error(done.error));
      props.onDone();
    } catch (err) {
      setError(err);
    }
  };
  // Closing while it runs is fine: the job goes on in the gateway, and the list reloads when it ends.
  const close = () => {
    if (job?.state !== 'running') {
      setJob(undefined);
      setError(undefined);
    }
    props.onClose();
  };
  return (
    <Dialog open={Boolean(c)} wide={canRead} title={`Provision existing users to ${c?.id ?? ''}`} onClose={close}>
      {c && !canRead && (
        <>
          <Notice tone="info" title="This connector cannot list its accounts">
            The gateway cannot tell which users {c.id} lacks, so it cannot provision them all at once. Existing users of {c.connection} reach it on their next change from the identity provider (any update, e.g. a changed title, or unassigning and reassigning the app); new users reach it at once.
          </Notice>
          <div class="form-actions">
            <Button variant="primary" onClick={close}>
              Close
            </Button>
          </div>
        </>
      )}
      {c && canRead && (
        <>
          <p>
            The gateway compares the users of connection <strong>{c.connection}</strong> with the accounts {c.id} lists. It queues a create for each user the target lacks and an update for each that differs, through the outbox like any change. Accounts it does not manage are reported, never touched.
          </p>
          {job?.state === 'running' && <Progress value={job.done} max={job.total} label={job.step} />}
          {report && <ProvisionReportView report={report} />}
          {error !== undefined && <ErrorNotice error={error} />}
          <div class="form-actions">
            <Button onClick={close}>{report || job?.state === 'running' ? 'Close' : 'Cancel'}</Button>
            {!report && (
              <Button variant="primary" busy={job?.state === 'running'} onClick={start}>
                Provision existing users
              </Button>
            )}
          </div>
        </>
      )}
    </Dialog>
  );
}

function ProvisionReportView(props: { report: ProvisionReport }) {
  const r = props.report;
  const problems = r.failed + r.waiting;
  return (
    <div class="stack" data-testid="provision-report">
      <Notice tone={problems > 0 ? 'warn' : 'ok'} title={r.repairsQueued === 0 ? `${r.connector} already has every user` : problems > 0 ? `${plural(r.delivered, 'user')} provisioned; ${problems} did not arrive yet` : `${plural(r.delivered, 'user')} provisioned to ${r.connector}`} live>
        {problems > 0 && (
          <p>
            {r.failed > 0 && <>{plural(r.failed, 'change')} refused by the target. </>}
            {r.waiting > 0 && <>{plural(r.waiting, 'change')} still waiting (the target is slow or down). </>}
            <a href="#/outbox">See the outbox</a>.
          </p>
        )}
      </Notice>
      <dl class="stat-row">
        <div>
          <dt>Compared</dt>
          <dd>{r.checked}</dd>
        </div>
        <div>
          <dt>Missing</dt>
          <dd>{r.missing}</dd>
        </div>
        <div>
          <dt>Different</dt>
          <dd>{r.different}</dd>
        </div>
        <div>
          <dt>Not managed</dt>
          <dd>{r.extra}</dd>
        </div>
        <div>
          <dt>Repairs queued</dt>
          <dd>{r.repairsQueued}</dd>
        </div>
      </dl>
      {r.inFlight > 0 && <p class="muted small">{plural(r.inFlight, 'user')} had changes on their way already and were not compared.</p>}
    </div>
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
  const [provisioning, setProvisioning] = useState<ConnectorRow>();
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
  // A connector saved but not started is on the list too: look again whenever the form closes.
  const closeEditor = () => {
    setEditing(undefined);
    void list.reload();
  };
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
              {c.since && (
                <div>
                  <dt>{c.state === 'failed' ? 'Failed to start' : 'Started'}</dt>
                  <dd title={formatDateTime(c.since)}>{relative(c.since)}</dd>
                </div>
              )}
              <div>
                <dt>Delivery</dt>
                <dd>{c.mode === 'sync' ? <>Sync <span class="muted small">(the IdP waits for the target)</span></> : 'Async, through the outbox'}</dd>
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
                <dt>Mapping</dt>
                <dd>{Object.keys(c.mapping).length === 0 ? <span class="muted">default</span> : <span class="mono small">{Object.keys(c.mapping).join(', ')}</span>}</dd>
              </div>
              {shownSecrets(c).length > 0 && (
                <div>
                  <dt>Secrets</dt>
                  <dd>
                    <ul class="inline-list">
                      {shownSecrets(c).map((x) => (
                        <li key={x.path}>
                          <span class="mono small">{x.path}</span> <Badge tone={x.set ? 'ok' : x.required ? 'bad' : 'neutral'} dot={false}>{x.env ? `from $${x.env}` : x.set ? 'set' : 'not set'}</Badge>
                        </li>
                      ))}
                    </ul>
                  </dd>
                </div>
              )}
              <div>
                <dt>Can</dt>
                <dd class="small">{Object.keys(c.capabilities).map(humanize).join(', ') || '—'}</dd>
              </div>
              {c.state === 'running' && (
                <div>
                  <dt>Existing users</dt>
                  <dd>
                    {c.capabilities.read ? (
                      <Button small onClick={() => setProvisioning(c)} aria-label={`Provision existing users to ${c.id}`}>
                        Provision existing users
                      </Button>
                    ) : (
                      <span class="small">Reach it on their next change: it cannot list its accounts, so the gateway cannot tell which ones it lacks.</span>
                    )}
                  </dd>
                </div>
              )}
            </dl>
            {c.error && (
              <Notice tone="bad" title="Why it is not running">
                <p>{c.error}</p>
                {c.source === 'runtime' && <p class="small">Its deliveries wait in the outbox. <Button small variant="ghost" onClick={() => setEditing({ existing: c })}>Fix its configuration</Button></p>}
              </Notice>
            )}
            {c.sharedTarget && (
              <Notice tone="warn" title={`Shares its target with ${c.sharedTarget.with.map((x) => `${x.id} (${x.connection})`).join(', ')}`}>
                {c.sharedTarget.message}
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
      <Dialog open={Boolean(editing)} wide title={editing?.existing ? `Configure ${editing.existing.id}` : 'Add a connector'} onClose={closeEditor}>
        {editing && types.data && (
          <ConnectorEditor
            types={types.data.types}
            connections={editing.existing ? [editing.existing.connection] : runtimeConnections}
            existing={editing.existing}
            onCancel={closeEditor}
            onSaved={(id, warnings) => {
              if (warnings.length > 0) show(`Connector ${id} saved and restarted. It writes to the same target as a connector of another connection: see its card.`, 'warn');
              else show(`Connector ${id} saved and restarted.`);
              setEditing(undefined);
              void list.reload();
            }}
          />
        )}
      </Dialog>
      <DryRunDialog connector={dryRun} onClose={() => setDryRun(undefined)} />
      <ProvisionDialog connector={provisioning} onClose={() => setProvisioning(undefined)} onDone={() => void list.reload()} />
      <Dialog open={Boolean(removing)} title={`Remove connector ${removing?.id ?? ''}?`} onClose={() => setRemoving(undefined)}>
        <p>The connector stops and receives no more changes, and its saved secrets are deleted. Nothing is removed from the target system.</p>
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
