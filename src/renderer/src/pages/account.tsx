/** The admin's own account: set or change the password, see the session. */
import { useState } from 'preact/hooks';
import type { SessionInfo } from '../../../gateway/admin/api-types';
import { api, ApiError, rememberSession } from '../api';
import { formatDateTime } from '../format';
import { sessionStore } from '../state';
import { Button, Card, ErrorNotice, Field, Notice, PageHeader, fieldError } from '../ui';

export function AccountPage() {
  const session = sessionStore.use();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const hasPassword = session?.user?.hasPassword ?? true;
  const submit = async (e: Event) => {
    e.preventDefault();
    setDone(false);
    if (next !== confirm) {
      setError(new ApiError(400, 'invalid', 'The two new passwords differ.', 'confirm'));
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const s = await api.post<SessionInfo>('/session/password', { ...(hasPassword ? { currentPassword: current } : {}), newPassword: next });
      rememberSession(s);
      sessionStore.set(s);
      setCurrent('');
      setNext('');
      setConfirm('');
      setDone(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <PageHeader title="Your account" description={`Signed in as ${session?.user?.username ?? ''}.`} />
      <Card title={hasPassword ? 'Change the password' : 'Set a password'}>
        {!hasPassword && <p>The desktop app signed you in without a password. Set one to sign in from a browser as well.</p>}
        {done && <Notice tone="ok" title="Password saved" live>Other sessions of this account were signed out.</Notice>}
        <form onSubmit={submit} class="stack narrow-form">
          {hasPassword && (
            <Field label="Current password" error={fieldError(error, 'currentPassword')}>
              {(id) => <input id={id} class="input" type="password" autocomplete="current-password" required value={current} onInput={(e) => setCurrent(e.currentTarget.value)} />}
            </Field>
          )}
          <Field label="New password" hint="At least 12 characters." error={fieldError(error, 'newPassword')}>
            {(id, d) => <input id={id} aria-describedby={d} class="input" type="password" autocomplete="new-password" required minLength={12} value={next} onInput={(e) => setNext(e.currentTarget.value)} />}
          </Field>
          <Field label="New password again" error={fieldError(error, 'confirm')}>
            {(id) => <input id={id} class="input" type="password" autocomplete="new-password" required value={confirm} onInput={(e) => setConfirm(e.currentTarget.value)} />}
          </Field>
          {error !== undefined && !(error instanceof ApiError && error.field) && <ErrorNotice error={error} />}
          <div class="form-actions">
            <Button type="submit" variant="primary" busy={busy}>
              Save password
            </Button>
          </div>
        </form>
      </Card>
      <Card title="Session">
        <p>
          The session ends after {session?.idleMinutes ?? 30} minutes without activity
          {session?.expiresAt && <> (now: at {formatDateTime(session.expiresAt)} if idle)</>}, and always 12 hours after sign-in.
        </p>
      </Card>
    </>
  );
}
