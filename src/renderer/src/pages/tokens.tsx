/** SCIM tokens: create (shown once, with copy), list with last use and expiry, revoke, rotate with a grace period. */
import { useState } from 'preact/hooks';
import type { ConnectionInfo, CreatedTokenInfo, TokenInfo } from '../../../gateway/admin/api-types';
import { api, ApiError } from '../api';
import { formatDateTime, relative } from '../format';
import { freshTokenStore } from '../state';
import { Button, Card, CopyField, Dialog, EmptyState, ErrorNotice, Field, LinkButton, Loading, Notice, PageHeader, StateBadge, fieldError, useLoad, useToast } from '../ui';

/** The one time a token is shown. */
export function TokenReveal(props: { created: CreatedTokenInfo; guide?: boolean; onDismiss?: () => void }) {
  const { created } = props;
  return (
    <div class="stack token-reveal">
      <Notice tone="warn" title="Copy the token now">
        It is shown only this once. The gateway keeps only a hash of it.
      </Notice>
      <CopyField label={`Token "${created.token.name}" for connection ${created.token.connection}`} value={created.value} secret testId="token-value" hint="Paste it into the identity provider as the bearer token or secret token." />
      {created.previous && (
        <p class="muted">
          The previous token {created.previous.state === 'revoked' ? 'was revoked.' : `keeps working until ${formatDateTime(created.previous.expiresAt)}: update the identity provider before then.`}
        </p>
      )}
      {(props.guide !== false || props.onDismiss) && (
        <div class="inline-actions">
          {props.guide !== false && (
            <LinkButton small href="#/guides">
              Open a setup guide with this token
            </LinkButton>
          )}
          {props.onDismiss && (
            <Button small variant="ghost" onClick={props.onDismiss}>
              I have copied it: hide
            </Button>
          )}
        </div>
      )}
    </div>
  );
}

export function CreateTokenForm(props: { connections: string[]; defaultConnection?: string; defaultName?: string; onCreated: (c: CreatedTokenInfo) => void; compact?: boolean }) {
  const [name, setName] = useState(props.defaultName ?? '');
  const [connection, setConnection] = useState(props.defaultConnection ?? props.connections[0] ?? 'default');
  const [expires, setExpires] = useState('');
  const [revokeOthers, setRevokeOthers] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const created = await api.post<CreatedTokenInfo>('/tokens', { name, connection, expiresInDays: expires ? Number(expires) : null, revokeOthers });
      freshTokenStore.set({ id: created.token.id, value: created.value, name: created.token.name, connection: created.token.connection, createdAt: Date.now() });
      props.onCreated(created);
      setName('');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} class={props.compact ? 'stack' : 'form-grid'}>
      <Field label="Name" hint='Who uses it, e.g. "Okta" or "Entra provisioning".' error={fieldError(error, 'name')}>
        {(id, d) => <input id={id} aria-describedby={d} class="input" required maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} />}
      </Field>
      <Field label="Connection" error={fieldError(error, 'connection')}>
        {(id) => (
          <select id={id} class="input" value={connection} onChange={(e) => setConnection(e.currentTarget.value)}>
            {props.connections.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Expires" hint="Entra ID quarantines the app when its token expires: prefer rotating.">
        {(id, d) => (
          <select id={id} aria-describedby={d} class="input" value={expires} onChange={(e) => setExpires(e.currentTarget.value)}>
            <option value="">Never</option>
            <option value="30">In 30 days</option>
            <option value="90">In 90 days</option>
            <option value="365">In a year</option>
          </select>
        )}
      </Field>
      <div class="field field-check">
        <input id="revoke-others" type="checkbox" checked={revokeOthers} onChange={(e) => setRevokeOthers(e.currentTarget.checked)} />
        <label for="revoke-others">Revoke this connection's other tokens</label>
      </div>
      {error !== undefined && !(error instanceof ApiError && error.field) && <ErrorNotice error={error} />}
      <div class="form-actions">
        <Button type="submit" variant="primary" busy={busy}>
          Create token
        </Button>
      </div>
    </form>
  );
}

function RotateDialog(props: { token?: TokenInfo; onClose: () => void; onDone: () => void }) {
  const [grace, setGrace] = useState('24');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [created, setCreated] = useState<CreatedTokenInfo>();
  const close = () => {
    setCreated(undefined);
    setError(undefined);
    props.onClose();
  };
  const rotate = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const c = await api.post<CreatedTokenInfo>(`/tokens/${props.token!.id}/rotate`, grace === 'now' ? { revokeNow: true } : { graceHours: Number(grace) });
      freshTokenStore.set({ id: c.token.id, value: c.value, name: c.token.name, connection: c.token.connection, createdAt: Date.now() });
      setCreated(c);
      props.onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog open={Boolean(props.token)} title={`Rotate "${props.token?.name ?? ''}"`} onClose={close}>
      {created ? (
        <>
          <TokenReveal created={created} />
          <div class="form-actions">
            <Button variant="primary" onClick={close}>
              Done
            </Button>
          </div>
        </>
      ) : (
        <div class="stack">
          <p>A new token replaces this one. Paste the new token into the identity provider; the old one can keep working meanwhile.</p>
          <Field label="The old token">
            {(id) => (
              <select id={id} class="input" value={grace} onChange={(e) => setGrace(e.currentTarget.value)}>
                <option value="1">keeps working for 1 hour</option>
                <option value="24">keeps working for 24 hours</option>
                <option value="168">keeps working for 7 days</option>
                <option value="now">stops working now</option>
              </select>
            )}
          </Field>
          {error !== undefined && <ErrorNotice error={error} />}
          <div class="form-actions">
            <Button onClick={close}>Cancel</Button>
            <Button variant="primary" busy={busy} onClick={rotate}>
              Rotate
            </Button>
          </div>
        </div>
      )}
    </Dialog>
  );
}

export function TokensPage() {
  const tokens = useLoad(() => api.get<{ tokens: TokenInfo[] }>('/tokens'), []);
  const connections = useLoad(() => api.get<{ connections: ConnectionInfo[] }>('/connections'), []);
  const [created, setCreated] = useState<CreatedTokenInfo>();
  const [revoking, setRevoking] = useState<TokenInfo>();
  const [rotating, setRotating] = useState<TokenInfo>();
  const [busy, setBusy] = useState(false);
  const [toast, showToast] = useToast();
  const [showAll, setShowAll] = useState(false);

  const revoke = async () => {
    if (!revoking) return;
    setBusy(true);
    try {
      await api.post(`/tokens/${revoking.id}/revoke`);
      if (created?.token.id === revoking.id) setCreated(undefined);
      // A guide must not offer a token that no longer works.
      if (freshTokenStore.get()?.id === revoking.id) freshTokenStore.set(undefined);
      showToast(`Token "${revoking.name}" revoked: requests with it are refused from now on.`);
      setRevoking(undefined);
      void tokens.reload();
    } catch (err) {
      showToast((err as Error).message, 'bad');
    } finally {
      setBusy(false);
    }
  };
  const list = tokens.data?.tokens ?? [];
  const shown = showAll ? list : list.filter((t) => t.state === 'active' || t.state === 'grace');
  const hidden = list.length - shown.length;
  return (
    <>
      <PageHeader title="Tokens" description="Bearer tokens identity providers use to call the SCIM base URL. Each belongs to one connection and sees only its users and groups." />
      {toast}
      <Card title="Create a token">
        {connections.data ? (
          <CreateTokenForm
            connections={connections.data.connections.map((c) => c.name)}
            onCreated={(c) => {
              setCreated(c);
              void tokens.reload();
            }}
          />
        ) : (
          <Loading />
        )}
        {created && <TokenReveal created={created} onDismiss={() => setCreated(undefined)} />}
      </Card>
      <Card
        title="Tokens"
        actions={
          hidden > 0 || showAll ? (
            <Button small variant="ghost" onClick={() => setShowAll(!showAll)}>
              {showAll ? 'Hide revoked and expired' : `Show revoked and expired (${hidden})`}
            </Button>
          ) : undefined
        }
      >
        {tokens.error !== undefined && <ErrorNotice error={tokens.error} retry={tokens.reload} />}
        {!tokens.data && !tokens.error && <Loading />}
        {tokens.data && shown.length === 0 && (
          <EmptyState title="No active tokens">Create one above for each identity provider. The token is shown once: paste it straight into the provider.</EmptyState>
        )}
        {shown.length > 0 && (
          <div class="table-wrap">
            <table class="table">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Connection</th>
                  <th scope="col">Token</th>
                  <th scope="col">State</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Expires</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {shown.map((t) => (
                  <tr key={t.id}>
                    <th scope="row">{t.name}</th>
                    <td>{t.connection}</td>
                    <td class="mono">{t.prefix}…</td>
                    <td>
                      <StateBadge state={t.state} />
                    </td>
                    <td title={formatDateTime(t.lastUsedAt)}>{t.lastUsedAt ? relative(t.lastUsedAt) : <span class="muted">never</span>}</td>
                    <td title={formatDateTime(t.expiresAt)}>{t.expiresAt ? (t.state === 'expired' ? formatDateTime(t.expiresAt) : relative(t.expiresAt)) : <span class="muted">never</span>}</td>
                    <td class="row-actions">
                      {t.state === 'active' && (
                        <Button small onClick={() => setRotating(t)} aria-label={`Rotate ${t.name}`}>
                          Rotate
                        </Button>
                      )}
                      {(t.state === 'active' || t.state === 'grace') && (
                        <Button small variant="danger" onClick={() => setRevoking(t)} aria-label={`Revoke ${t.name}`}>
                          Revoke
                        </Button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      <Dialog open={Boolean(revoking)} title={`Revoke "${revoking?.name ?? ''}"?`} onClose={() => setRevoking(undefined)}>
        <p>
          The identity provider using this token is refused from now on, and its provisioning stops until you give it a new token. Connection <strong>{revoking?.connection}</strong> keeps its users and groups.
        </p>
        <div class="form-actions">
          <Button onClick={() => setRevoking(undefined)}>Cancel</Button>
          <Button variant="danger" busy={busy} onClick={revoke}>
            Revoke token
          </Button>
        </div>
      </Dialog>
      <RotateDialog token={rotating} onClose={() => setRotating(undefined)} onDone={() => void tokens.reload()} />
    </>
  );
}
