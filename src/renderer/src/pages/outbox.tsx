/** The outbox: changes on their way to the connectors; what keeps failing and why; retry and discard. */
import { useState } from 'preact/hooks';
import type { JobInfo, OutboxItem, OutboxPage as Page } from '../../../gateway/admin/api-types';
import { api, followJob, query } from '../api';
import { formatDateTime, humanize, relative } from '../format';
import { href } from '../router';
import { Button, Card, Dialog, EmptyState, ErrorNotice, Loading, PageHeader, Progress, Segmented, StateBadge, useLoad, useToast } from '../ui';

type View = 'failing' | 'dead' | 'pending' | 'all';
const LIMIT = 50;

export function OutboxPage() {
  const [view, setView] = useState<View>('failing');
  const [offset, setOffset] = useState(0);
  const page = useLoad((o) => api.get<Page>(`/outbox${query({ state: view, offset, limit: LIMIT })}`, o), [view, offset], 5_000);
  const [busy, setBusy] = useState<string>();
  const [discarding, setDiscarding] = useState<OutboxItem>();
  const [job, setJob] = useState<JobInfo>();
  const [toast, show] = useToast();

  const retry = async (e: OutboxItem) => {
    setBusy(e.id);
    try {
      await api.post(`/outbox/${encodeURIComponent(e.id)}/retry`);
      show(`Retrying ${humanize(e.kind).toLowerCase()} of ${e.resourceName ?? e.resourceId} now.`);
      setTimeout(() => void page.reload(), 700);
    } catch (err) {
      show((err as Error).message, 'bad');
    } finally {
      setBusy(undefined);
    }
  };
  const discard = async () => {
    if (!discarding) return;
    try {
      await api.post(`/outbox/${encodeURIComponent(discarding.id)}/discard`);
      show('Discarded: this change will not reach the connector.');
      void page.reload();
    } catch (err) {
      show((err as Error).message, 'bad');
    }
    setDiscarding(undefined);
  };
  const retryAll = async (state: 'dead' | 'failing') => {
    try {
      const started = await api.post<JobInfo>('/outbox/retry', { state });
      const done = await followJob(started, setJob);
      const r = done.result as { retried: number } | undefined;
      show(done.state === 'done' ? `Retrying ${r?.retried ?? 0} entries.` : done.error ?? 'The retry failed.', done.state === 'done' ? 'ok' : 'bad');
      void page.reload();
    } catch (err) {
      show((err as Error).message, 'bad');
    }
  };
  const counts = page.data?.counts;
  const changeView = (v: View) => {
    setView(v);
    setOffset(0);
  };
  return (
    <>
      <PageHeader
        title="Outbox"
        description="Every accepted change waits here until each connector of its connection has applied it, in order per user or group. Failures are retried with backoff; a refusal becomes a dead letter."
      />
      {toast}
      <Card>
        <div class="toolbar">
          <Segmented
            label="Show"
            value={view}
            onChange={changeView}
            options={[
              { value: 'failing', label: `Failing${counts ? ` (${counts.failing})` : ''}` },
              { value: 'dead', label: `Dead letters${counts ? ` (${counts.dead})` : ''}` },
              { value: 'pending', label: `Waiting${counts ? ` (${counts.pending})` : ''}` },
              { value: 'all', label: 'All' },
            ]}
          />
          <div class="toolbar-actions">
            {view === 'dead' && (counts?.dead ?? 0) > 0 && (
              <Button onClick={() => retryAll('dead')} busy={job?.state === 'running'}>
                Retry all dead letters
              </Button>
            )}
            {view === 'failing' && (counts?.failing ?? 0) > 0 && (
              <Button onClick={() => retryAll('failing')} busy={job?.state === 'running'}>
                Retry all failing now
              </Button>
            )}
          </div>
        </div>
        {job?.state === 'running' && <Progress value={job.done} max={job.total} label={job.step} />}
        {page.error !== undefined && <ErrorNotice error={page.error} retry={page.reload} />}
        {!page.data && !page.error && <Loading />}
        {page.data && page.data.items.length === 0 && (
          <EmptyState title={view === 'dead' ? 'No dead letters' : view === 'failing' ? 'Nothing is failing' : 'The outbox is empty'}>
            {view === 'dead'
              ? 'Changes a connector refused would wait here for you to fix the cause and retry them, or discard them.'
              : view === 'failing'
                ? 'Every connector accepted its changes. Entries that fail show here with the error, while they are retried.'
                : 'Every change has reached its connectors.'}
          </EmptyState>
        )}
        {page.data && page.data.items.length > 0 && (
          <div class="table-wrap">
            <table class="table outbox-table">
              <thead>
                <tr>
                  <th scope="col">Change</th>
                  <th scope="col">Connector</th>
                  <th scope="col">State</th>
                  <th scope="col">Error</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {page.data.items.map((e) => (
                  <tr key={e.id}>
                    <th scope="row">
                      {humanize(e.kind)}{' '}
                      <a href={href('directory', e.connection, e.resourceType === 'Group' ? 'groups' : 'users', e.resourceId)}>{e.resourceName ?? e.resourceId}</a>
                      <div class="muted small" title={formatDateTime(e.createdAt)}>
                        accepted {relative(e.createdAt)}
                      </div>
                    </th>
                    <td>{e.connector}</td>
                    <td>
                      <StateBadge state={e.state} />
                      <div class="muted small">
                        {e.attempts} {e.attempts === 1 ? 'attempt' : 'attempts'}
                        {e.state === 'pending' && e.attempts > 0 && `, next ${relative(e.nextAttemptAt)}`}
                      </div>
                    </td>
                    <td class="error-cell">{e.lastError ?? <span class="muted">—</span>}</td>
                    <td class="row-actions">
                      <Button small onClick={() => retry(e)} busy={busy === e.id} aria-label={`Retry ${e.kind} of ${e.resourceName ?? e.resourceId}`}>
                        Retry now
                      </Button>
                      <Button small variant="ghost" onClick={() => setDiscarding(e)} aria-label={`Discard ${e.kind} of ${e.resourceName ?? e.resourceId}`}>
                        Discard
                      </Button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {page.data && page.data.total > LIMIT && (
          <nav class="pager" aria-label="Outbox pages">
            <span>
              {offset + 1}–{Math.min(page.data.total, offset + LIMIT)} of {page.data.total}
            </span>
            <div class="pager-buttons">
              <Button small disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - LIMIT))}>
                Previous
              </Button>
              <Button small disabled={offset + LIMIT >= page.data.total} onClick={() => setOffset(offset + LIMIT)}>
                Next
              </Button>
            </div>
          </nav>
        )}
      </Card>
      <Dialog open={Boolean(discarding)} title="Discard this change?" onClose={() => setDiscarding(undefined)}>
        <p>
          <strong>{discarding && humanize(discarding.kind)}</strong> of <strong>{discarding?.resourceName ?? discarding?.resourceId}</strong> will never reach <strong>{discarding?.connector}</strong>. The next changes of the same {discarding?.resourceType === 'Group' ? 'group' : 'user'} are delivered. A reconciliation can repair the difference later.
        </p>
        <div class="form-actions">
          <Button onClick={() => setDiscarding(undefined)}>Cancel</Button>
          <Button variant="danger" onClick={discard}>
            Discard
          </Button>
        </div>
      </Dialog>
    </>
  );
}
