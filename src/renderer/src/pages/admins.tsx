/**
 * The console's admin accounts: every account with who added it and its last sign-in, so an admin
 * nobody expected stands out; add one, remove one. Both ask for your own password.
 */
import { useState } from 'preact/hooks';
import type { AdminAccountInfo } from '../../../gateway/admin/api-types';
import { api, ApiError } from '../api';
import { formatDateTime, relative } from '../format';
import { sessionStore } from '../state';
import { Badge, Button, Card, Dialog, ErrorNotice, Field, Loading, PageHeader, fieldError, useLoad, useToast } from '../ui';

/** "Your password", when your account has one (the desktop app's may not yet). */
function ConfirmPasswordField(props: { value: string; onInput: (v: string) => void; error: unknown }) {
  const session = sessionStore.use();
  if (session?.user?.hasPassword === false) return null;
  return (
    <Field label="Your password" hint="Changing who can administer the gateway needs your own password." error={fieldError(props.error, 'currentPassword')}>
      {(id, d) => <input id={id} aria-describedby={d} class="input" type="password" autocomplete="current-password" required value={props.value} onInput={(e) => props.onInput(e.currentTarget.value)} />}
    </Field>
  );
}

function AddAdminForm(props: { onAdded: (a: AdminAccountInfo) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [current, setCurrent] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const { account } = await api.post<{ account: AdminAccountInfo }>('/admins', { username, password, currentPassword: current });
      setUsername('');
      setPassword('');
      setCurrent('');
      props.onAdded(account);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} class="form-grid">
      <Field label="User name" hint='Letters, digits, ".", "_", "@" or "-".' error={fieldError(error, 'username')}>
        {(id, d) => <input id={id} aria-describedby={d} class="input" required maxLength={64} autocomplete="off" value={username} onInput={(e) => setUsername(e.currentTarget.value)} />}
      </Field>
      <Field label="Their password" hint="At least 12 characters; tell it to them in person, they can change it under their account." error={fieldError(error, 'password')}>
        {(id, d) => <input id={id} aria-describedby={d} class="input" type="password" autocomplete="new-password" required minLength={12} value={password} onInput={(e) => setPassword(e.currentTarget.value)} />}
      </Field>
      <ConfirmPasswordField value={current} onInput={setCurrent} error={error} />
      {error !== undefined && !(error instanceof ApiError && error.field) && <ErrorNotice error={error} />}
      <div class="form-actions">
        <Button type="submit" variant="primary" busy={busy}>
          Add admin
        </Button>
      </div>
    </form>
  );
}

function RemoveDialog(props: { account?: AdminAccountInfo; onClose: () => void; onRemoved: (username: string) => void }) {
  const [current, setCurrent] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const close = () => {
    setCurrent('');
    setError(undefined);
    props.onClose();
  };
  const remove = async (e: Event) => {
    e.preventDefault();
    if (!props.account) return;
    setBusy(true);
    setError(undefined);
    try {
      await api.delete(`/admins/${encodeURIComponent(props.account.username)}`, { currentPassword: current });
      props.onRemoved(props.account.username);
      close();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog open={Boolean(props.account)} title={`Remove "${props.account?.username ?? ''}"?`} onClose={close}>
      <form onSubmit={remove} class="stack">
        <p>This admin is signed out everywhere and can no longer sign in to the console. The audit log keeps what they did.</p>
        <ConfirmPasswordField value={current} onInput={setCurrent} error={error} />
        {error !== undefined && !(error instanceof ApiError && error.field) && <ErrorNotice error={error} />}
        <div class="form-actions">
          <Button onClick={close}>Cancel</Button>
          <Button type="submit" variant="danger" busy={busy}>
            Remove admin
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

export function AdminsPage() {
  const admins = useLoad(() => api.get<{ accounts: AdminAccountInfo[] }>('/admins'), []);
  const [removing, setRemoving] = useState<AdminAccountInfo>();
  const [toast, showToast] = useToast();
  const list = admins.data?.accounts ?? [];
  return (
    <>
      <PageHeader title="Admin accounts" description="Everyone who can sign in to this console. An account you do not recognise, or a sign-in you did not make, is worth a look at the audit log." />
      {toast}
      <Card title="Accounts">
        {admins.error !== undefined && <ErrorNotice error={admins.error} retry={admins.reload} />}
        {!admins.data && !admins.error && <Loading />}
        {list.length > 0 && (
          <div class="table-wrap">
            <table class="table" data-testid="admin-accounts">
              <thead>
                <tr>
                  <th scope="col">User name</th>
                  <th scope="col">Added</th>
                  <th scope="col">Last sign-in</th>
                  <th scope="col">Password</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.map((a) => (
                  <tr key={a.username}>
                    <th scope="row">
                      {a.username} {a.you && <Badge tone="info">you</Badge>}
                    </th>
                    <td title={formatDateTime(a.createdAt)}>
                      {relative(a.createdAt)}
                      {a.createdBy ? ` by ${a.createdBy}` : ''}
                    </td>
                    <td title={formatDateTime(a.lastSignInAt)}>{a.lastSignInAt ? `${relative(a.lastSignInAt)} from ${a.lastSignInFrom ?? 'an unknown address'}` : <span class="muted">never</span>}</td>
                    <td>{a.hasPassword ? 'set' : <span class="muted">none (desktop app only)</span>}</td>
                    <td class="row-actions">
                      {!a.you && list.length > 1 && (
                        <Button small variant="danger" onClick={() => setRemoving(a)} aria-label={`Remove ${a.username}`}>
                          Remove
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
      <Card title="Add an admin">
        <AddAdminForm
          onAdded={(a) => {
            showToast(`Admin "${a.username}" added: they can sign in now.`);
            void admins.reload();
          }}
        />
      </Card>
      <RemoveDialog
        account={removing}
        onClose={() => setRemoving(undefined)}
        onRemoved={(username) => {
          showToast(`Admin "${username}" removed and signed out.`);
          void admins.reload();
        }}
      />
      <p class="muted">
        Locked out after too many failed sign-ins? On the gateway's machine, <code>scim-bridge admin unlock NAME</code> lifts it; <code>scim-bridge admin list</code> shows these accounts too.
      </p>
    </>
  );
}
