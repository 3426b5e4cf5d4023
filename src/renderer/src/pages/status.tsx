/** Status at a glance: per connection whether the IdP is talking to us and how it goes; outbox, secrets, audit chain. */
import { useState } from 'preact/hooks';
import type { ConnectionStatus, StatusInfo, VerifyOutcome } from '../../../gateway/admin/api-types';
import { api } from '../api';
import { TrafficChart } from '../chart';
import { formatDateTime, plural, relative } from '../format';
import { href } from '../router';
import { Badge, Button, Card, CopyField, EmptyState, ErrorNotice, LinkButton, Loading, Notice, PageHeader, StateBadge, useLoad } from '../ui';

function statusTone(status: number): 'ok' | 'warn' | 'bad' {
  if (status < 400) return 'ok';
  if (status >= 500 || status === 401 || status === 403) return 'bad';
  return 'warn';
}

function ConnectionCard(props: { c: ConnectionStatus }) {
  const { c } = props;
  const failing = c.outbox.failing + c.outbox.dead;
  return (
    <Card
      class="connection-card"
      title={
        <>
          <span class="mono-name">{c.name}</span>{' '}
          {c.connected ? (
            <Badge tone="ok">Connected</Badge>
          ) : (
            <Badge tone="neutral">Waiting for the first call</Badge>
          )}
        </>
      }
      actions={
        <LinkButton small variant="ghost" href={href('directory', c.name, 'users')}>
          Users and groups
        </LinkButton>
      }
    >
      {!c.connected && (
        <p class="muted">
          {c.activeTokens === 0 ? (
            <>
              No token yet. <a href="#/tokens">Create a token</a>, then follow a <a href="#/guides">setup guide</a>.
            </>
          ) : (
            <>
              The identity provider has not called yet. Check its provisioning settings with a <a href="#/guides">setup guide</a>.
            </>
          )}
        </p>
      )}
      <dl class="facts">
        <div>
          <dt>Connected since</dt>
          <dd>{c.firstRequestAt ? formatDateTime(c.firstRequestAt) : '—'}</dd>
        </div>
        <div>
          <dt>Last request</dt>
          <dd>
            {c.lastRequest ? (
              <>
                <Badge tone={statusTone(c.lastRequest.status)} dot={false}>
                  {c.lastRequest.status}
                </Badge>{' '}
                <span class="mono">
                  {c.lastRequest.method} {c.lastRequest.path}
                </span>{' '}
                <span class="muted" title={formatDateTime(c.lastRequest.at)}>
                  {relative(c.lastRequest.at)}
                </span>
                {c.lastRequest.detail && <p class="detail-text">{c.lastRequest.detail}</p>}
              </>
            ) : (
              <span class="muted">none since the gateway started</span>
            )}
          </dd>
        </div>
        <div>
          <dt>Users / groups</dt>
          <dd>
            {c.users.toLocaleString()} / {c.groups.toLocaleString()}
          </dd>
        </div>
        <div>
          <dt>Outbox</dt>
          <dd>
            {c.outbox.pending === 0 && c.outbox.dead === 0 ? (
              <span class="muted">empty</span>
            ) : (
              <a href="#/outbox">
                {plural(c.outbox.pending, 'waiting', 'waiting')}
                {failing > 0 && `, ${c.outbox.failing} failing, ${c.outbox.dead} dead`}
              </a>
            )}
          </dd>
        </div>
        <div>
          <dt>Connectors</dt>
          <dd>
            {c.connectors.length === 0 ? (
              <span class="muted">
                none: changes are kept here only. <a href="#/connectors">Add one</a>
              </span>
            ) : (
              <ul class="connector-states">
                {c.connectors.map((k) => (
                  <li key={k.id}>
                    <span class="mono-name">{k.id}</span> <StateBadge state={k.state} />
                    {k.error && <p class="detail-text">{k.error}</p>}
                  </li>
                ))}
              </ul>
            )}
          </dd>
        </div>
      </dl>
      <TrafficChart points={c.traffic} label={`Connection ${c.name}`} height={56} compact />
    </Card>
  );
}

export function StatusPage() {
  const { data, error, reload } = useLoad((o) => api.get<StatusInfo>('/status', o), [], 10_000);
  const [verify, setVerify] = useState<{ busy: boolean; result?: VerifyOutcome; error?: string }>({ busy: false });
  if (!data) return error ? <ErrorNotice error={error} retry={reload} /> : <Loading />;
  const noTokens = data.connections.every((c) => c.activeTokens === 0);
  const failedConnectors = data.connections.flatMap((c) => c.connectors.filter((k) => k.state === 'failed').map((k) => ({ ...k, connection: c.name })));
  const runVerify = async () => {
    setVerify({ busy: true });
    try {
      setVerify({ busy: false, result: await api.post<VerifyOutcome>('/audit/verify') });
      void reload();
    } catch (err) {
      setVerify({ busy: false, error: (err as Error).message });
    }
  };
  return (
    <>
      <PageHeader title="Status" description="Whether each identity provider is reaching the gateway, and whether changes reach your systems. Refreshes every 10 seconds." />
      {data.keychain.warning && (
        <Notice tone="warn" title={data.keychain.state === 'file' ? 'Connector secrets are not in an OS keychain' : 'Connector secrets cannot be kept'}>
          {data.keychain.message}
        </Notice>
      )}
      {failedConnectors.length > 0 && (
        <Notice tone="bad" title={failedConnectors.length === 1 ? `Connector ${failedConnectors[0].id} is not running` : `${failedConnectors.length} connectors are not running`}>
          <ul class="plain-list">
            {failedConnectors.map((k) => (
              <li key={k.id}>
                <strong class="mono">{k.id}</strong> ({k.connection}): {k.error ?? 'stopped'}
              </li>
            ))}
          </ul>
          <p class="small">
            Their deliveries wait in the outbox until they start. <a href="#/connectors">Open Connectors</a>
          </p>
        </Notice>
      )}
      {data.sharedTargets.length > 0 && (
        <Notice tone="warn" title={data.sharedTargets.length === 1 ? 'Connectors of different connections write to the same target' : `${data.sharedTargets.length} targets are written by more than one connection`}>
          <ul class="plain-list">
            {data.sharedTargets.map((s) => (
              <li key={s.target}>{s.message}</li>
            ))}
          </ul>
          <p class="small">
            <a href="#/connectors">Open Connectors</a>
          </p>
        </Notice>
      )}
      {!data.audit.ok && (
        <Notice tone="bad" title="The audit log's hash chain is broken">
          {data.audit.problem} Records from that point on may have been altered. See docs/operations.md.
        </Notice>
      )}
      {(data.auditHealth.behind || data.auditHealth.lost > 0 || data.auditHealth.leftOut > 0) && (
        <Notice tone="bad" title={data.auditHealth.behind ? 'The audit log is not keeping up' : 'Audit records could not be written'}>
          <ul class="plain-list">
            {data.auditHealth.behind && (
              <li>The audit log refuses records. The store keeps the records of every change in its journal and writes them to the audit log as soon as it accepts them again: nothing is lost while the gateway runs.</li>
            )}
            {data.auditHealth.lost > 0 && (
              <li>
                {plural(data.auditHealth.lost, 'audit record')} of refused requests or admin actions could not be written since the gateway started and {data.auditHealth.lost === 1 ? 'is' : 'are'} missing from the audit log; the gateway log has each one, as <span class="mono">AUDIT RECORD LOST</span>.
              </li>
            )}
            {data.auditHealth.leftOut > 0 && <li>{plural(data.auditHealth.leftOut, 'audit record')} {data.auditHealth.leftOut === 1 ? 'was' : 'were'} not valid and were left out of their change: a defect, please report it with the gateway log.</li>}
          </ul>
          <p class="small">
            Usually the disk is full: free space in <span class="mono">{data.dataDir}</span>. See docs/troubleshooting.md.
          </p>
        </Notice>
      )}
      {noTokens && (
        <Card class="getting-started">
          <EmptyState title="Connect your first identity provider" action={<LinkButton variant="primary" href="#/setup">Start the setup</LinkButton>}>
            Create a token, paste the SCIM base URL and the token into Okta, Entra ID, Google Workspace, OneLogin or JumpCloud, and add a connector for the system to provision.
          </EmptyState>
        </Card>
      )}
      <Card class="gateway-card">
        <CopyField label="SCIM base URL" value={data.scimUrl} hint={`The URL identity providers call, with a token. Version ${data.version}, running since ${formatDateTime(data.startedAt)}.`} />
      </Card>
      <div class="summary-grid">
        <Card title="Outbox" actions={<LinkButton small variant="ghost" href="#/outbox">Open</LinkButton>}>
          <p class="big-number">{data.store.outboxPending.toLocaleString()}</p>
          <p class="muted">changes waiting for delivery</p>
          {data.store.outboxDead > 0 ? <Badge tone="bad">{plural(data.store.outboxDead, 'dead letter')}</Badge> : <Badge tone="ok">No dead letters</Badge>}
        </Card>
        <Card title="Secrets">
          <p>
            <Badge tone={data.keychain.warning ? 'warn' : 'ok'}>{data.keychain.state === 'keychain' ? 'OS keychain' : data.keychain.state === 'file' ? 'Encrypted file' : data.keychain.state === 'not-configured' ? 'Not configured' : data.keychain.state}</Badge>
            {data.keychain.fallbackReason && <span class="muted small"> fallback</span>}
          </p>
          <p class="muted small break">{data.keychain.location ?? data.keychain.message}</p>
          {data.keychain.fallbackReason && <p class="small">Why not the keychain: {data.keychain.fallbackReason}.</p>}
          {data.keychain.requested && <p class="muted small">Configured: secretsBackend {data.keychain.requested}</p>}
        </Card>
        <Card title="Audit log">
          <p>{data.audit.ok ? <Badge tone="ok">Chain intact</Badge> : <Badge tone="bad">Chain broken</Badge>}</p>
          <p class="muted small">
            {data.audit.fromStart ? 'Checked when the gateway started.' : `${plural(data.audit.records ?? 0, 'record')} verified ${relative(data.audit.checkedAt)}.`}
          </p>
          <Button small onClick={runVerify} busy={verify.busy}>
            Verify now
          </Button>
          <span aria-live="polite" class="small">
            {verify.result && (verify.result.ok ? ` Verified ${plural(verify.result.records ?? 0, 'record')}.` : ` Broken at ${verify.result.file} line ${verify.result.line}.`)}
            {verify.error}
          </span>
        </Card>
      </div>
      <Card title="SCIM requests, all connections">
        <TrafficChart points={data.traffic} label="All connections" />
      </Card>
      <h2 class="section-title">Connections</h2>
      <div class="connection-grid">
        {data.connections.map((c) => (
          <ConnectionCard key={c.name} c={c} />
        ))}
      </div>
    </>
  );
}
