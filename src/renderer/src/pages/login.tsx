/** Sign-in: user name and password; the lockout's message says how long to wait. */
import { useState } from 'preact/hooks';
import type { SessionInfo } from '../../../gateway/admin/api-types';
import { api, ApiError, rememberSession } from '../api';
import { sessionStore } from '../state';
import { Button, Field, Notice } from '../ui';

export function LoginPage(props: { params: URLSearchParams; onSignedIn: () => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<ApiError | Error>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const s = await api.post<SessionInfo>('/session/login', { username, password });
      rememberSession(s);
      sessionStore.set(s);
      setPassword('');
      if (location.hash.startsWith('#/login')) location.hash = '#/';
    } catch (err) {
      setError(err as Error);
      setPassword('');
    } finally {
      setBusy(false);
    }
  };
  const locked = error instanceof ApiError && error.code === 'locked';
  return (
    <main class="center-page" id="main">
      <div class="auth-card">
        <div class="auth-brand">
          <img src="/favicon.svg" alt="" width="36" height="36" />
          <span>SCIM Bridge</span>
        </div>
        <h1 id="page-title" tabIndex={-1}>
          Sign in to the console
        </h1>
        {props.params.get('expired') && <Notice tone="info" title="Your session has ended">Sign in again to continue.</Notice>}
        {props.params.get('link') === 'expired' && (
          <Notice tone="warn" title="That sign-in link has expired">
            Links from the desktop app work once, for one minute. Open the console from the app again, or sign in with your password.
          </Notice>
        )}
        {error && (
          <Notice tone={locked ? 'warn' : 'bad'} title={locked ? 'Sign-in is locked for now' : 'Could not sign in'}>
            {error.message}
          </Notice>
        )}
        <form onSubmit={submit} class="stack">
          <Field label="User name">
            {(id) => <input id={id} class="input" autocomplete="username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />}
          </Field>
          <Field label="Password">
            {(id) => <input id={id} class="input" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />}
          </Field>
          <Button type="submit" variant="primary" busy={busy} class="btn-block">
            Sign in
          </Button>
        </form>
        <p class="hint auth-foot">Forgot the password? On the gateway's host, move <code>admin.json</code> out of the data directory and restart: the console will ask for a new setup code.</p>
      </div>
    </main>
  );
}
