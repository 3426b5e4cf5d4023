/** Connections and their policies: config-file ones read-only, console-managed ones editable. */
import { useState } from 'preact/hooks';
import type { ConnectionInfo } from '../../../gateway/admin/api-types';
import { api, ApiError } from '../api';
import { formatDateTime, plural } from '../format';
import { href } from '../router';
import { hookDraftOf, hookValueOf, INLINE_POLICY_ERRORS, PolicyForm, type Policies } from '../policy-form';
import { Badge, Button, Card, Dialog, ErrorNotice, Field, LinkButton, Loading, Notice, PageHeader, fieldError, useLoad, useToast } from '../ui';

function PolicyEditor(props: { connection?: ConnectionInfo; creating: boolean; readOnly?: boolean; defaults: Policies; onClose: () => void; onSaved: (name: string) => void }) {
  const [name, setName] = useState('');
  // A new connection starts from the gateway's defaults, so the form shows what will apply.
  const [value, setValue] = useState<Policies>(() => structuredClone(props.connection?.policies ?? props.defaults));
  const [hook, setHook] = useState(() => hookDraftOf(props.connection?.policies.hook));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const target = props.creating ? name.trim() : props.connection!.name;
    try {
      // The whole set goes back (the gateway merges it over what it has); null removes the hook.
      await api.put(`/connections/${encodeURIComponent(target)}`, { policies: { ...value, hook: hookValueOf(hook) } });
      props.onSaved(target);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const field = error instanceof ApiError && error.field && INLINE_POLICY_ERRORS.test(error.field) ? error.field : undefined;
  return (
    <form onSubmit={save} class="stack">
      {props.readOnly && (
        <Notice tone="info" title="Read-only: declared in the config file">
          This connection comes from the gateway's config file (or <span class="mono">SCIM_BRIDGE_CONNECTIONS</span>). Change its policies there and restart the gateway; the console shows them as they are.
        </Notice>
      )}
      {props.creating && (
        <Field label="Name" hint='Lower-case letters, digits, "-" or "_", e.g. "okta" or "entra-hr".' error={fieldError(error, 'name')}>
          {(id, d) => <input id={id} aria-describedby={d} class="input" required pattern="[a-z0-9][a-z0-9_\-]{0,62}" value={name} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
      )}
      <PolicyForm value={value} onChange={setValue} hook={hook} onHookChange={setHook} disabled={props.readOnly} errorField={field} errorMessage={field ? (error as Error).message : undefined} />
      {error !== undefined && !field && !fieldError(error, 'name') && <ErrorNotice error={error} />}
      {field && <p class="field-error" role="alert">The policies were not saved: {(error as Error).message}</p>}
      <div class="form-actions sticky-actions">
        {props.readOnly ? (
          <Button variant="primary" onClick={props.onClose}>
            Close
          </Button>
        ) : (
          <>
            <Button onClick={props.onClose}>Cancel</Button>
            <Button type="submit" variant="primary" busy={busy}>
              {props.creating ? 'Create connection' : 'Save policies'}
            </Button>
          </>
        )}
      </div>
    </form>
  );
}

/** The policies that differ from the defaults, in a few words each. */
export function policySummary(p: Record<string, unknown>): string[] {
  const out: string[] = [];
  out.push(p.deleteMode === 'hard' ? 'Deletes are hard' : 'Deletes are soft');
  if (p.allowCreate === false) out.push('Creates refused');
  if (Array.isArray(p.allowedDomains) && p.allowedDomains.length) out.push(`Domains: ${(p.allowedDomains as string[]).join(', ')}`);
  if (p.emailImmutable) out.push('Email immutable');
  if (typeof p.defaultRole === 'string') out.push(`Default role: ${p.defaultRole}`);
  if (p.lastOwnerRole === '') out.push('Last-owner protection off');
  if (p.syntheticGroups === true) out.push('Synthetic Admins and Users');
  if (Array.isArray(p.roleRules) && p.roleRules.length) out.push(plural(p.roleRules.length, 'role rule'));
  if (p.existingAccounts === 'link') out.push('Existing accounts linked');
  if (p.principal === 'userName') out.push('Matched by userName');
  if (p.hook && typeof p.hook === 'object') out.push(`Hook: ${'module' in (p.hook as object) ? 'module' : 'command'}`);
  return out;
}

export function ConnectionsPage() {
  const list = useLoad(() => api.get<{ connections: ConnectionInfo[]; managed: boolean }>('/connections'), []);
  const policyInfo = useLoad(() => api.get<{ defaults: Policies }>('/connection-policy-schema'), []);
  const [editing, setEditing] = useState<{ connection?: ConnectionInfo; creating: boolean; readOnly?: boolean }>();
  const [removing, setRemoving] = useState<ConnectionInfo>();
  const [busy, setBusy] = useState(false);
  const [toast, show] = useToast();
  const remove = async () => {
    if (!removing) return;
    setBusy(true);
    try {
      await api.delete(`/connections/${encodeURIComponent(removing.name)}`);
      show(`Connection ${removing.name} removed. Its users and groups stay in the gateway; revoke its tokens on the Tokens page.`);
      setRemoving(undefined);
      void list.reload();
    } catch (err) {
      show((err as Error).message, 'bad');
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <PageHeader
        title="Connections and policies"
        description="A connection is one identity provider integration: its tokens, its own users and groups, its policies and the connectors its changes go to."
        actions={
          list.data?.managed && (
            <Button variant="primary" onClick={() => setEditing({ creating: true })}>
              New connection
            </Button>
          )
        }
      />
      {toast}
      {list.data && !list.data.managed && <Notice tone="info" title="Read-only">This gateway manages connections from its config file only.</Notice>}
      {list.error !== undefined && <ErrorNotice error={list.error} retry={list.reload} />}
      {!list.data && !list.error && <Loading />}
      <div class="connection-grid">
        {list.data?.connections.map((c) => (
          <Card
            key={c.name}
            title={
              <>
                <span class="mono-name">{c.name}</span> {c.source === 'config' ? <Badge tone="info" dot={false}>Config file</Badge> : <Badge dot={false}>Console</Badge>}
              </>
            }
            actions={
              c.source === 'runtime' && list.data?.managed ? (
                <>
                  <Button small onClick={() => setEditing({ connection: c, creating: false })} aria-label={`Edit policies of ${c.name}`}>
                    Edit policies
                  </Button>
                  {!c.implicit && (
                    <Button small variant="ghost" onClick={() => setRemoving(c)} aria-label={`Remove ${c.name}`}>
                      Remove
                    </Button>
                  )}
                </>
              ) : (
                <Button small onClick={() => setEditing({ connection: c, creating: false, readOnly: true })} aria-label={`View policies of ${c.name}`}>
                  View policies
                </Button>
              )
            }
          >
            {c.source === 'config' && <p class="muted small">Declared in the config file, so read-only here: change it there and restart the gateway.</p>}
            <ul class="tag-list">
              {policySummary(c.policies).map((s) => (
                <li key={s}>{s}</li>
              ))}
            </ul>
            <dl class="facts">
              <div>
                <dt>Tokens</dt>
                <dd>
                  <a href="#/tokens">{plural(c.activeTokens, 'active token')}</a>
                </dd>
              </div>
              <div>
                <dt>Connectors</dt>
                <dd>{c.connectors.length ? c.connectors.map((k) => `${k.id} (${k.type})`).join(', ') : <a href="#/connectors">none yet</a>}</dd>
              </div>
              <div>
                <dt>First call</dt>
                <dd>{c.firstRequestAt ? formatDateTime(c.firstRequestAt) : <span class="muted">not yet</span>}</dd>
              </div>
            </dl>
            <p>
              <LinkButton small variant="ghost" href={href('directory', c.name, 'users')}>
                Users and groups
              </LinkButton>
            </p>
          </Card>
        ))}
      </div>
      <Dialog open={Boolean(editing)} wide title={editing?.creating ? 'New connection' : `Policies of ${editing?.connection?.name ?? ''}`} onClose={() => setEditing(undefined)}>
        {editing && policyInfo.data && (
          <PolicyEditor
            {...editing}
            defaults={policyInfo.data.defaults}
            onClose={() => setEditing(undefined)}
            onSaved={(name) => {
              show(editing.creating ? `Connection ${name} created. Create a token for it on the Tokens page.` : `Policies of ${name} saved; they apply to the next request.`);
              setEditing(undefined);
              void list.reload();
            }}
          />
        )}
      </Dialog>
      <Dialog open={Boolean(removing)} title={`Remove connection ${removing?.name ?? ''}?`} onClose={() => setRemoving(undefined)}>
        <p>Its policies and connectors are removed and its connectors stop. Its users, groups and tokens stay: revoke the tokens to stop the identity provider.</p>
        <div class="form-actions">
          <Button onClick={() => setRemoving(undefined)}>Cancel</Button>
          <Button variant="danger" busy={busy} onClick={remove}>
            Remove
          </Button>
        </div>
      </Dialog>
    </>
  );
}
