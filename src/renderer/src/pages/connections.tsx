/** Connections and their policies: config-file ones read-only, console-managed ones editable. */
import { useState } from 'preact/hooks';
import type { ConnectionInfo } from '../../../gateway/admin/api-types';
import { api, ApiError } from '../api';
import { formatDateTime, plural } from '../format';
import { href } from '../router';
import { SchemaForm, type FieldHelp, type FormValue, type JsonSchema } from '../schema-form';
import { Badge, Button, Card, Dialog, ErrorNotice, Field, LinkButton, Loading, Notice, PageHeader, fieldError, useLoad, useToast } from '../ui';

export const POLICY_HELP: FieldHelp = {
  deleteMode: { label: 'When the IdP deletes a user', hint: 'soft: deactivate in your systems and keep the record; hard: delete everywhere.' },
  allowCreate: { label: 'Allow the IdP to create users', hint: 'Off: only existing users are updated; creates are refused with 403.' },
  defaultRole: { label: 'Default role', hint: 'Given to a new user whose IdP sends no role.' },
  defaultUserType: { label: 'Default user type', hint: 'Given to a new user whose IdP sends no user type.' },
  allowedDomains: { label: 'Allowed email domains', hint: 'Users with an email outside these domains are refused. Empty: any. *.example.org allows subdomains.' },
  emailImmutable: { label: 'Email addresses cannot change', hint: 'A change of email is refused with 400 mutability.' },
  lastOwnerRole: { label: 'Protect the last user with role', hint: 'Refuses to deactivate, delete or demote the last active user with this role. Empty: off.' },
  roleRules: { label: 'Group to role rules', hint: 'A user gets the role of the first rule whose group they are in; otherwise the default role.' },
  'roleRules[].group': { label: 'Group (display name)' },
  'roleRules[].role': { label: 'Role' },
  syntheticGroups: { label: 'Synthetic Admins and Users groups', hint: 'Creates the groups Admins and Users, mapped to the roles below.' },
  syntheticRoles: { label: 'Roles of the synthetic groups' },
  existingAccounts: { label: 'Accounts that already exist in a target', hint: 'refuse: the create is refused (409); link: the account is taken over and updated.' },
  principal: { label: 'Identify users to targets by', hint: 'externalId is the IdP\'s immutable id; userName may change.' },
  hook: { label: 'Provisioning hook', hint: 'A JS module or command that may amend or veto each write (docs/connections.md).' },
};

function PolicyEditor(props: { connection?: ConnectionInfo; creating: boolean; schema: JsonSchema; onClose: () => void; onSaved: (name: string) => void }) {
  const [name, setName] = useState('');
  const [value, setValue] = useState<FormValue>(() => structuredClone(props.connection?.policies ?? {}));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const target = props.creating ? name.trim() : props.connection!.name;
    try {
      await api.put(`/connections/${encodeURIComponent(target)}`, { policies: value });
      props.onSaved(target);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const field = error instanceof ApiError && error.field ? error.field.replace(/^policies\./, '') : undefined;
  return (
    <form onSubmit={save} class="stack">
      {props.creating && (
        <Field label="Name" hint='Lower-case letters, digits, "-" or "_", e.g. "okta" or "entra-hr".' error={fieldError(error, 'name')}>
          {(id, d) => <input id={id} aria-describedby={d} class="input" required pattern="[a-z0-9][a-z0-9_\-]{0,62}" value={name} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
      )}
      <SchemaForm schema={props.schema} value={value} onChange={setValue} help={POLICY_HELP} errorPath={field} error={field ? (error as Error).message : undefined} />
      {error !== undefined && !field && <ErrorNotice error={error} />}
      <div class="form-actions">
        <Button onClick={props.onClose}>Cancel</Button>
        <Button type="submit" variant="primary" busy={busy}>
          {props.creating ? 'Create connection' : 'Save policies'}
        </Button>
      </div>
    </form>
  );
}

function policySummary(p: Record<string, unknown>): string[] {
  const out: string[] = [];
  out.push(p.deleteMode === 'hard' ? 'Deletes are hard' : 'Deletes are soft');
  if (p.allowCreate === false) out.push('Creates refused');
  if (Array.isArray(p.allowedDomains) && p.allowedDomains.length) out.push(`Domains: ${(p.allowedDomains as string[]).join(', ')}`);
  if (p.emailImmutable) out.push('Email immutable');
  if (typeof p.defaultRole === 'string') out.push(`Default role: ${p.defaultRole}`);
  if (Array.isArray(p.roleRules) && p.roleRules.length) out.push(plural(p.roleRules.length, 'role rule'));
  return out;
}

export function ConnectionsPage() {
  const list = useLoad(() => api.get<{ connections: ConnectionInfo[]; managed: boolean }>('/connections'), []);
  const schema = useLoad(() => api.get<{ schema: JsonSchema }>('/connection-policy-schema'), []);
  const [editing, setEditing] = useState<{ connection?: ConnectionInfo; creating: boolean }>();
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
              ) : undefined
            }
          >
            {c.source === 'config' && <p class="muted small">Declared in the config file: change it there and restart the gateway.</p>}
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
        {editing && schema.data && (
          <PolicyEditor
            {...editing}
            schema={schema.data.schema}
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
