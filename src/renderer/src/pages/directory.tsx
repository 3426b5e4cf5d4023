/** Users and groups of a connection: search, page, and one resource with its links, deliveries and audit trail. */
import { useEffect, useState } from 'preact/hooks';
import type { AuditRecordInfo, ConnectionInfo, ResourceDetail, ResourcePage, UserEditBody } from '../../../gateway/admin/api-types';
import { api, ApiError, query } from '../api';
import { formatDateTime, relative } from '../format';
import { href, navigate } from '../router';
import { Badge, Button, Card, ChoiceGroup, EmptyState, ErrorNotice, Field, Loading, Notice, PageHeader, Pager, Segmented, StateBadge, useLoad, useToast } from '../ui';

const PAGE = 25;

export function AuditTrail(props: { records: AuditRecordInfo[] }) {
  if (props.records.length === 0) return <p class="muted">No audit records.</p>;
  return (
    <ol class="timeline">
      {props.records.map((r) => (
        <li key={r.seq}>
          <div class="timeline-head">
            <span class="mono">{r.action}</span> <StateBadge state={r.result} />
            <span class="muted small" title={formatDateTime(r.time)}>
              {formatDateTime(r.time)}
            </span>
          </div>
          <p class="small">
            by {r.actor.kind} <strong>{r.actor.name ?? r.actor.id}</strong>
            {r.detail && <> — {r.detail}</>}
          </p>
          {r.changes && r.changes.length > 0 && (
            <ul class="changes">
              {r.changes.map((c, i) => (
                <li key={i}>
                  <span class="mono">{c.attribute}</span>: {c.before !== undefined && <del>{short(c.before)}</del>} {c.after !== undefined && <ins>{short(c.after)}</ins>}
                </li>
              ))}
            </ul>
          )}
        </li>
      ))}
    </ol>
  );
}

function short(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > 120 ? `${s.slice(0, 117)}…` : s;
}

/**
 * Role, user type and active state of a user, changed by the admin. The change goes through the
 * connection's policies like the identity provider's; the later change wins, from either side.
 */
function UserEditCard(props: { connection: string; detail: ResourceDetail; onSaved: (d: ResourceDetail) => void }) {
  const { summary, edit } = props.detail;
  const [role, setRole] = useState(summary.role ?? '');
  const [userType, setUserType] = useState(summary.userType ?? '');
  const [active, setActive] = useState<'active' | 'inactive'>(summary.active === false ? 'inactive' : 'active');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [toast, show] = useToast();
  if (!edit) return null;
  const listId = `roles-${summary.id}`;
  const changes: UserEditBody = {};
  if (!edit.roleFromGroups && role.trim() && role.trim() !== (summary.role ?? '')) changes.role = role.trim();
  if (userType.trim() && userType.trim() !== (summary.userType ?? '')) changes.userType = userType.trim();
  if ((active === 'active') !== (summary.active !== false)) changes.active = active === 'active';
  const dirty = Object.keys(changes).length > 0;
  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const next = await api.patch<ResourceDetail>(`/connections/${encodeURIComponent(props.connection)}/users/${encodeURIComponent(summary.id)}`, changes);
      setRole(next.summary.role ?? '');
      setUserType(next.summary.userType ?? '');
      setActive(next.summary.active === false ? 'inactive' : 'active');
      show(next.links.length ? 'Saved. The connectors receive the change through the outbox.' : 'Saved. This connection has no connector to send it to.');
      props.onSaved(next);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card title="Role and state">
      {toast}
      {!edit.available ? (
        <p class="muted">Editing users is not available in this gateway.</p>
      ) : (
        <form class="stack" onSubmit={save}>
          <p class="hint">
            The change goes through the connection's policies (last-owner protection, role rules, its hook) and its connectors, and is in the audit log under your name, like a change from the identity provider. There is no lock between the two: the later change wins, so the identity provider may set these again on its next update of this user.
          </p>
          <div class="form-grid">
            <Field
              label="Role"
              hint={
                edit.roleFromGroups
                  ? 'This connection gives roles from groups (role rules or synthetic groups): change the groups in the identity provider.'
                  : edit.lastOwnerRole && summary.role === edit.lastOwnerRole
                    ? `The last active user with role "${edit.lastOwnerRole}" keeps it and stays active (the connection's last-owner protection).`
                    : undefined
              }
              error={error instanceof ApiError && error.field === 'role' ? error.message : undefined}
            >
              {(id, d) => (
                <>
                  <input id={id} aria-describedby={d} class="input" list={listId} value={role} disabled={edit.roleFromGroups} onInput={(e) => setRole(e.currentTarget.value)} />
                  <datalist id={listId}>
                    {edit.knownRoles.map((r) => (
                      <option key={r} value={r} />
                    ))}
                  </datalist>
                </>
              )}
            </Field>
            <Field label="User type">
              {(id) => <input id={id} class="input" value={userType} placeholder="Internal" onInput={(e) => setUserType(e.currentTarget.value)} />}
            </Field>
          </div>
          <ChoiceGroup
            legend="State"
            value={active}
            onChange={setActive}
            options={[
              { value: 'active', label: 'Active', hint: 'Can sign in to the target systems.' },
              { value: 'inactive', label: 'Deactivated', hint: 'Deactivated in the target systems; the record and its role are kept.' },
            ]}
          />
          {error !== undefined && !(error instanceof ApiError && error.field === 'role') && (
            <Notice tone="bad" title="Not saved">
              {(error as Error).message}
            </Notice>
          )}
          <div class="form-actions">
            <Button type="submit" variant="primary" busy={busy} disabled={!dirty}>
              Save changes
            </Button>
          </div>
        </form>
      )}
    </Card>
  );
}

function Detail(props: { connection: string; type: 'users' | 'groups'; id: string }) {
  const d = useLoad(() => api.get<ResourceDetail>(`/connections/${encodeURIComponent(props.connection)}/${props.type}/${encodeURIComponent(props.id)}`), [props.connection, props.type, props.id]);
  const [saved, setSaved] = useState<ResourceDetail>();
  const data = saved ?? d.data;
  if (!data) return d.error ? <ErrorNotice error={d.error} retry={d.reload} /> : <Loading />;
  const { summary, links } = data;
  return (
    <>
      <PageHeader
        title={summary.name}
        description={
          <>
            {summary.type} in connection <strong>{props.connection}</strong>
            {summary.displayName && ` · ${summary.displayName}`}
          </>
        }
        actions={<a href={href('directory', props.connection, props.type)}>Back to the list</a>}
      />
      <div class="summary-grid">
        <Card title="State">
          {summary.type === 'User' ? (
            summary.active ? (
              <Badge tone="ok">Active</Badge>
            ) : (
              <>
                <Badge tone="warn">Deactivated</Badge>
                {summary.deactivatedAt && <p class="small muted">since {formatDateTime(summary.deactivatedAt)}</p>}
              </>
            )
          ) : (
            <p>{summary.memberCount} members</p>
          )}
          {summary.role && (
            <p class="small">
              Role <strong>{summary.role}</strong>
              {summary.userType && (
                <>
                  {' '}
                  · {summary.userType}
                </>
              )}
            </p>
          )}
          <p class="small muted">Last changed {formatDateTime(summary.lastModified)}</p>
          {summary.email && <p class="small">{summary.email}</p>}
          {summary.externalId && <p class="small muted">External id: <span class="mono">{summary.externalId}</span></p>}
          <p class="small muted">
            SCIM id: <span class="mono">{summary.id}</span>
          </p>
        </Card>
        <Card title="In your systems">
          {links.length === 0 ? (
            <p class="muted">This connection has no connectors.</p>
          ) : (
            <ul class="link-list">
              {links.map((l) => (
                <li key={l.connector}>
                  <strong>{l.connector}</strong>:{' '}
                  {l.key ? <span class="mono">{l.key}</span> : <span class="muted">not provisioned yet</span>}
                  {l.pending > 0 && <Badge tone="info">{l.pending} waiting</Badge>}
                  {l.dead > 0 && <Badge tone="bad">{l.dead} dead</Badge>}
                </li>
              ))}
            </ul>
          )}
          {links.some((l) => l.pending + l.dead > 0) && <a href="#/outbox">See the outbox</a>}
        </Card>
      </div>
      {summary.type === 'User' && data.edit && <UserEditCard key={summary.id} connection={props.connection} detail={data} onSaved={setSaved} />}
      {data.groups && data.groups.length > 0 && (
        <Card title="Groups">
          <ul class="inline-list">
            {data.groups.map((g) => (
              <li key={g.value}>
                <a href={href('directory', props.connection, 'groups', g.value)}>{g.display ?? g.value}</a>
              </li>
            ))}
          </ul>
        </Card>
      )}
      {data.members && (
        <Card title={`Members (${data.membersTotal})`}>
          {data.members.length === 0 ? (
            <p class="muted">No members.</p>
          ) : (
            <ul class="inline-list">
              {data.members.map((m) => (
                <li key={m.value}>
                  <a href={href('directory', props.connection, m.type === 'Group' ? 'groups' : 'users', m.value)}>{m.display ?? m.value}</a>
                </li>
              ))}
            </ul>
          )}
          {(data.membersTotal ?? 0) > data.members.length && <p class="muted small">Showing the first {data.members.length}.</p>}
        </Card>
      )}
      <Card title="Audit trail">
        <AuditTrail records={data.audit} />
      </Card>
      <details class="details">
        <summary>As SCIM returns it</summary>
        <pre class="code small">{JSON.stringify(data.resource, null, 2)}</pre>
      </details>
    </>
  );
}

export function DirectoryPage(props: { connection?: string; type: 'users' | 'groups'; id?: string; params: URLSearchParams }) {
  const connections = useLoad(() => api.get<{ connections: ConnectionInfo[] }>('/connections'), []);
  const connection = props.connection ?? connections.data?.connections[0]?.name;
  const [text, setText] = useState(props.params.get('q') ?? '');
  const [mode, setMode] = useState<'text' | 'filter'>(props.params.get('filter') ? 'filter' : 'text');
  const [filter, setFilter] = useState(props.params.get('filter') ?? '');
  const [applied, setApplied] = useState({ q: text, filter });
  const [start, setStart] = useState(1);
  useEffect(() => setStart(1), [connection, props.type, applied]);
  const page = useLoad(
    () => (connection ? api.get<ResourcePage>(`/connections/${encodeURIComponent(connection)}/${props.type}${query({ q: applied.q, filter: applied.filter, startIndex: start, count: PAGE })}`) : Promise.resolve(undefined)),
    [connection, props.type, applied, start],
  );
  if (props.id && connection) return <Detail connection={connection} type={props.type} id={props.id} />;
  const search = (e: Event) => {
    e.preventDefault();
    setApplied(mode === 'text' ? { q: text, filter: '' } : { q: '', filter });
  };
  const users = props.type === 'users';
  return (
    <>
      <PageHeader title="Users and groups" description="What the identity providers have provisioned, per connection. Open a user to change its role or state." />
      <Card>
        <div class="toolbar">
          <Field label="Connection">
            {(id) => (
              <select id={id} class="input" value={connection} onChange={(e) => navigate(href('directory', e.currentTarget.value, props.type))}>
                {connections.data?.connections.map((c) => (
                  <option key={c.name} value={c.name}>
                    {c.name}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Segmented
            label="Show"
            value={props.type}
            options={[
              { value: 'users', label: 'Users' },
              { value: 'groups', label: 'Groups' },
            ]}
            onChange={(v) => connection && navigate(href('directory', connection, v))}
          />
        </div>
        <form class="search-form" onSubmit={search} role="search">
          {mode === 'text' ? (
            <Field label={users ? 'Search users' : 'Search groups'} hint={users ? 'Matches user name, name, email; external id exactly.' : 'Matches the display name; external id exactly.'}>
              {(id, d) => <input id={id} aria-describedby={d} class="input" type="search" value={text} onInput={(e) => setText(e.currentTarget.value)} />}
            </Field>
          ) : (
            <Field label="SCIM filter" hint='As an IdP sends it, e.g. userName eq "ada@example.com" or active eq false.'>
              {(id, d) => <input id={id} aria-describedby={d} class="input mono" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />}
            </Field>
          )}
          <div class="search-actions">
            <Button type="submit" variant="primary">
              Search
            </Button>
            <Button variant="ghost" onClick={() => setMode(mode === 'text' ? 'filter' : 'text')}>
              {mode === 'text' ? 'Use a SCIM filter' : 'Use text search'}
            </Button>
          </div>
        </form>
        {page.error !== undefined && <ErrorNotice error={page.error} />}
        {!page.data && !page.error && <Loading />}
        {page.data && page.data.items.length === 0 && (
          <EmptyState title={applied.q || applied.filter ? 'Nothing matches' : users ? 'No users yet' : 'No groups yet'}>
            {applied.q || applied.filter
              ? 'Try another search.'
              : `The identity provider has not provisioned any ${props.type} to connection ${connection} yet. Assign ${props.type} to the app in the identity provider; see the setup guides.`}
          </EmptyState>
        )}
        {page.data && page.data.items.length > 0 && (
          <>
            <div class="table-wrap">
              <table class="table">
                <thead>
                  <tr>
                    <th scope="col">{users ? 'User name' : 'Name'}</th>
                    {users && <th scope="col">Name</th>}
                    {users && <th scope="col">Email</th>}
                    {users ? <th scope="col">State</th> : <th scope="col">Members</th>}
                    <th scope="col">Last changed</th>
                  </tr>
                </thead>
                <tbody>
                  {page.data.items.map((r) => (
                    <tr key={r.id}>
                      <th scope="row">
                        <a href={href('directory', connection!, props.type, r.id)}>{r.name}</a>
                      </th>
                      {users && <td>{r.displayName}</td>}
                      {users && <td>{r.email}</td>}
                      {users ? <td>{r.active ? <Badge tone="ok">Active</Badge> : <Badge tone="warn">Deactivated</Badge>}</td> : <td>{r.memberCount}</td>}
                      <td title={formatDateTime(r.lastModified)}>{relative(r.lastModified)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager label={props.type} startIndex={page.data.startIndex} count={PAGE} total={page.data.totalResults} onPage={setStart} />
          </>
        )}
      </Card>
    </>
  );
}
