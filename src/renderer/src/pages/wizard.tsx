/**
 * First run: the setup code and the admin account, then a connection, its first token (shown
 * once), and a first connector with Test connection (skippable); it ends on the IdP's guide.
 */
import { useEffect, useState } from 'preact/hooks';
import type { ConnectionInfo, ConnectorTypeInfo, CreatedTokenInfo, SessionInfo } from '../../../gateway/admin/api-types';
import { api, ApiError, rememberSession } from '../api';
import { GUIDES } from '../guides';
import { href, navigate } from '../router';
import { sessionStore } from '../state';
import { Button, ErrorNotice, Field, LinkButton, Loading, Notice, fieldError } from '../ui';
import { ConnectorEditor } from './connectors';
import { CreateTokenForm, TokenReveal } from './tokens';

const STEPS = ['Admin account', 'Connection', 'Token', 'Connector', 'Done'];

function Stepper(props: { step: number }) {
  return (
    <ol class="stepper" aria-label="Setup steps">
      {STEPS.map((s, i) => (
        <li key={s} class={i < props.step ? 'done' : i === props.step ? 'current' : ''} aria-current={i === props.step ? 'step' : undefined}>
          <span class="step-number" aria-hidden="true">
            {i < props.step ? '✓' : i + 1}
          </span>
          <span class="step-label">
            {s}
            {i < props.step && <span class="visually-hidden"> (done)</span>}
          </span>
        </li>
      ))}
    </ol>
  );
}

function AccountStep(props: { onDone: () => void }) {
  const [code, setCode] = useState('');
  const [username, setUsername] = useState('admin');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (password !== confirm) {
      setError(new ApiError(400, 'invalid', 'The two passwords differ.', 'confirm'));
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const s = await api.post<SessionInfo>('/session/setup', { code, username, password });
      rememberSession(s);
      // Signed in now: the wizard goes on at its own address, where the console shell does not take over.
      navigate('#/setup');
      sessionStore.set(s);
      props.onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const generic = error !== undefined && !(error instanceof ApiError && ['code', 'password', 'confirm', 'username'].includes(error.field ?? ''));
  return (
    <form onSubmit={submit} class="stack">
      <p>
        The gateway printed a one-time <strong>setup code</strong> when it started (<code>npm start</code> or <code>scim-bridge serve</code>). It proves you can run the gateway; it works once, for an hour.
      </p>
      <Field label="Setup code" hint="Like 7K2QD-XW9AF. Case and dashes do not matter." error={fieldError(error, 'code')}>
        {(id, d) => <input id={id} aria-describedby={d} class="input mono input-short" autocomplete="one-time-code" required value={code} onInput={(e) => setCode(e.currentTarget.value)} />}
      </Field>
      <Field label="Admin user name" error={fieldError(error, 'username')}>
        {(id) => <input id={id} class="input input-short" autocomplete="username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />}
      </Field>
      <Field label="Password" hint="At least 12 characters. A passphrase of a few words works well." error={fieldError(error, 'password')}>
        {(id, d) => <input id={id} aria-describedby={d} class="input input-short" type="password" autocomplete="new-password" required minLength={12} value={password} onInput={(e) => setPassword(e.currentTarget.value)} />}
      </Field>
      <Field label="Password again" error={fieldError(error, 'confirm')}>
        {(id) => <input id={id} class="input input-short" type="password" autocomplete="new-password" required value={confirm} onInput={(e) => setConfirm(e.currentTarget.value)} />}
      </Field>
      {generic && <ErrorNotice error={error} />}
      <div class="form-actions">
        <Button type="submit" variant="primary" busy={busy}>
          Create the admin account
        </Button>
      </div>
    </form>
  );
}

function ConnectionStep(props: { onDone: (connection: string, idp: string) => void }) {
  const [idp, setIdp] = useState('okta');
  const [choice, setChoice] = useState<'default' | 'new'>('default');
  const [name, setName] = useState('');
  const [list, setList] = useState<{ connections: ConnectionInfo[]; managed: boolean }>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    api.get<{ connections: ConnectionInfo[]; managed: boolean }>('/connections').then(setList, setError);
  }, []);
  useEffect(() => setName(idp === 'other' ? '' : idp.replace(/-.*/, '')), [idp]);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    if (choice === 'default') return props.onDone('default', idp);
    setBusy(true);
    try {
      const n = name.trim();
      if (!list?.connections.some((c) => c.name === n)) await api.put(`/connections/${encodeURIComponent(n)}`, { policies: {} });
      props.onDone(n, idp);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  if (!list) return error ? <ErrorNotice error={error} /> : <Loading />;
  return (
    <form onSubmit={submit} class="stack">
      <fieldset class="fieldset">
        <legend>Which identity provider will send users?</legend>
        <div class="choice-grid">
          {[...GUIDES.map((g) => ({ id: g.id, name: g.name })), { id: 'other', name: 'Another SCIM 2.0 client' }].map((g) => (
            <label key={g.id} class="choice">
              <input type="radio" name="idp" value={g.id} checked={idp === g.id} onChange={() => setIdp(g.id)} />
              <span>{g.name}</span>
            </label>
          ))}
        </div>
      </fieldset>
      <fieldset class="fieldset">
        <legend>Connection</legend>
        <p class="hint">A connection has its own tokens, users, groups and policies. One identity provider needs only the default connection.</p>
        <label class="choice">
          <input type="radio" name="conn" checked={choice === 'default'} onChange={() => setChoice('default')} />
          <span>
            Use the <strong>default</strong> connection
          </span>
        </label>
        <label class="choice">
          <input type="radio" name="conn" checked={choice === 'new'} onChange={() => setChoice('new')} disabled={!list.managed} />
          <span>Create a separate connection{!list.managed && ' (not available: connections come from the config file)'}</span>
        </label>
        {choice === 'new' && (
          <Field label="Connection name" hint='Lower-case letters, digits, "-" or "_".' error={fieldError(error, 'name')}>
            {(id, d) => <input id={id} aria-describedby={d} class="input input-short" required pattern="[a-z0-9][a-z0-9_\-]{0,62}" value={name} onInput={(e) => setName(e.currentTarget.value)} />}
          </Field>
        )}
      </fieldset>
      {error !== undefined && !fieldError(error, 'name') && <ErrorNotice error={error} />}
      <div class="form-actions">
        <Button type="submit" variant="primary" busy={busy}>
          Continue
        </Button>
      </div>
    </form>
  );
}

function TokenStep(props: { connection: string; idp: string; onDone: () => void }) {
  const [created, setCreated] = useState<CreatedTokenInfo>();
  const guide = GUIDES.find((g) => g.id === props.idp);
  return (
    <div class="stack">
      <p>
        The identity provider sends this token with every request. It belongs to connection <strong>{props.connection}</strong>.
      </p>
      {!created && <CreateTokenForm compact connections={[props.connection]} defaultConnection={props.connection} defaultName={guide?.tokenName ?? 'SCIM client'} onCreated={setCreated} />}
      {created && (
        <>
          <TokenReveal created={created} guide={false} />
          <p class="muted small">You can also copy it from the setup guide at the end, while this tab stays open.</p>
          <div class="form-actions">
            <Button variant="primary" onClick={props.onDone}>
              I have copied it: continue
            </Button>
          </div>
        </>
      )}
    </div>
  );
}

function ConnectorStep(props: { connection: string; onDone: (skipped: boolean) => void }) {
  const [types, setTypes] = useState<ConnectorTypeInfo[]>();
  const [error, setError] = useState<unknown>();
  const [managed, setManaged] = useState(true);
  useEffect(() => {
    api.get<{ types: ConnectorTypeInfo[] }>('/connector-types').then((t) => setTypes(t.types), setError);
    api.get<{ managed: boolean }>('/connections').then((c) => setManaged(c.managed), () => undefined);
  }, []);
  if (!types) return error ? <ErrorNotice error={error} /> : <Loading />;
  if (!managed) {
    return (
      <div class="stack">
        <Notice tone="info">Connectors of this gateway are configured in its config file (docs/connections.md).</Notice>
        <div class="form-actions">
          <Button variant="primary" onClick={() => props.onDone(true)}>
            Continue
          </Button>
        </div>
      </div>
    );
  }
  return (
    <div class="stack">
      <p>A connector applies the connection's changes to a system that speaks no SCIM. Test it before saving. You can skip this and add connectors later.</p>
      <ConnectorEditor types={types} connections={[props.connection]} defaultConnection={props.connection} onSaved={() => props.onDone(false)} onCancel={() => props.onDone(true)} cancelLabel="Skip for now" />
    </div>
  );
}

export function WizardPage() {
  const session = sessionStore.use();
  const [step, setStep] = useState(session?.authenticated ? 1 : 0);
  const [connection, setConnection] = useState('default');
  const [idp, setIdp] = useState('okta');
  const [skipped, setSkipped] = useState(false);
  const guide = GUIDES.find((g) => g.id === idp);
  useEffect(() => {
    requestAnimationFrame(() => document.getElementById('page-title')?.focus());
  }, [step]);
  const titles = ['Welcome to SCIM Bridge', 'Connect an identity provider', 'Create its token', 'Add a connector', 'Ready'];
  return (
    <main class="wizard-page" id="main">
      <div class="wizard">
        <div class="auth-brand">
          <img src="/favicon.svg" alt="" width="32" height="32" />
          <span>SCIM Bridge</span>
        </div>
        <Stepper step={step} />
        <section class="wizard-card" aria-labelledby="page-title">
          <h1 id="page-title" tabIndex={-1}>
            {titles[step]}
          </h1>
          {step === 0 && <AccountStep onDone={() => setStep(1)} />}
          {step === 1 && (
            <ConnectionStep
              onDone={(c, i) => {
                setConnection(c);
                setIdp(i);
                setStep(2);
              }}
            />
          )}
          {step === 2 && <TokenStep connection={connection} idp={idp} onDone={() => setStep(3)} />}
          {step === 3 && (
            <ConnectorStep
              connection={connection}
              onDone={(s) => {
                setSkipped(s);
                setStep(4);
              }}
            />
          )}
          {step === 4 && (
            <div class="stack">
              <Notice tone="ok" title="The gateway is set up">
                Connection <strong>{connection}</strong> has a token{skipped ? '' : ' and a connector'}.{skipped && ' Add a connector on the Connectors page when you are ready.'}
              </Notice>
              <p>Now give the base URL and the token to {guide?.name ?? 'your SCIM client'}. The Status page shows <strong>Connected</strong> once it makes its first call.</p>
              <div class="form-actions">
                <Button onClick={() => navigate('#/')}>Go to the status page</Button>
                {guide ? (
                  <LinkButton variant="primary" href={href('guides', guide.id)}>
                    Open the {guide.name} guide
                  </LinkButton>
                ) : (
                  <LinkButton variant="primary" href="#/guides">
                    Open the setup guides
                  </LinkButton>
                )}
              </div>
            </div>
          )}
        </section>
        {step > 0 && step < 4 && (
          <p class="wizard-foot">
            <a href="#/">Leave the setup</a> — you can do each step later from the console.
          </p>
        )}
      </div>
    </main>
  );
}
