/** Setup guides with the real base URL and a fresh token filled in, and the "send a test request" check. */
import { useState } from 'preact/hooks';
import type { GuideContext, TestRequestOutcome } from '../../../gateway/admin/api-types';
import { api } from '../api';
import { GUIDES, type Guide } from '../guides';
import { href } from '../router';
import { freshTokenStore } from '../state';
import { Badge, Button, Card, CopyField, ErrorNotice, Field, Loading, Notice, PageHeader, useLoad } from '../ui';
import { CreateTokenForm } from './tokens';

export function TestRequest(props: { initialToken?: string }) {
  const [token, setToken] = useState(props.initialToken ?? '');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<TestRequestOutcome>();
  const [error, setError] = useState<unknown>();
  const run = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setResult(undefined);
    try {
      setResult(await api.post<TestRequestOutcome>('/guides/test-request', { token }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={run} class="stack test-request">
      <Field label="Token to test" hint="The gateway calls its own SCIM base URL with it, from this machine: GET /ServiceProviderConfig and GET /Users?count=1.">
        {(id, d) => <input id={id} aria-describedby={d} class="input mono" type="password" autocomplete="off" required value={token} onInput={(e) => setToken(e.currentTarget.value)} placeholder="scb_…" />}
      </Field>
      <div>
        <Button type="submit" busy={busy}>
          Send a test request
        </Button>
      </div>
      <div aria-live="polite">
        {error !== undefined && <ErrorNotice error={error} />}
        {result && (
          <div class="stack" data-testid="test-request-result">
            <Notice tone={result.ok ? 'ok' : 'bad'} title={result.ok ? 'The URL and token work from this machine' : 'The test request failed'}>
              {result.ok
                ? `The token belongs to connection ${result.connection ?? '?'}. Now paste the same values into the identity provider.`
                : 'Fix what is named below, then test again.'}
            </Notice>
            <ul class="check-list">
              {result.checks.map((c) => (
                <li key={c.name} class={c.ok ? 'check-ok' : 'check-bad'}>
                  <span class="check-mark" aria-hidden="true">
                    {c.ok ? '✓' : '✗'}
                  </span>
                  <div>
                    <p>
                      <strong>{c.name}</strong> {c.status !== undefined && <Badge tone={c.ok ? 'ok' : 'bad'} dot={false}>{c.status}</Badge>} <span class="muted small">{c.durationMs} ms</span>
                    </p>
                    <p class="muted small mono">{c.url}</p>
                    {c.ok ? c.summary && <p class="small">{c.summary}</p> : <p class="small error-text">{c.error}</p>}
                  </div>
                </li>
              ))}
            </ul>
          </div>
        )}
      </div>
    </form>
  );
}

function GuideView(props: { guide: Guide; ctx: GuideContext }) {
  const { guide, ctx } = props;
  const fresh = freshTokenStore.use();
  const [creating, setCreating] = useState(false);
  const token = fresh?.value;
  const steps = guide.steps({ url: ctx.scimUrl, token: token ?? '<the token from step 1>' });
  return (
    <>
      <PageHeader title={`Set up ${guide.name}`} description={guide.summary} actions={<a href="#/guides">All guides</a>} />
      {!ctx.https && (
        <Notice tone="warn" title="The base URL is not HTTPS">
          {guide.name} calls the gateway from its cloud and needs an HTTPS URL it can reach, with a publicly trusted certificate. Put the gateway behind a TLS proxy and start it with <code>--public-url https://…</code> (docs/install.md). The test below still proves the token.
        </Notice>
      )}
      {guide.before && <Notice tone="info" title="Before you start">{guide.before}</Notice>}
      <ol class="guide-steps">
        <li>
          <Card title="Step 1: the base URL and a token">
            <CopyField label="SCIM base URL" value={ctx.scimUrl} />
            {token ? (
              <>
                <CopyField label={`Token "${fresh!.name}" (connection ${fresh!.connection})`} value={token} secret testId="guide-token" hint="Created in this session; it is not shown again after you leave the console." />
                <Button small variant="ghost" onClick={() => setCreating(!creating)}>
                  Create another token
                </Button>
              </>
            ) : (
              <p>Create a token for {guide.name}: it is filled into the steps below.</p>
            )}
            {(!token || creating) && <CreateTokenForm compact connections={ctx.connections} defaultName={guide.tokenName} onCreated={() => setCreating(false)} />}
          </Card>
        </li>
        {steps.map((s, i) => (
          <li key={s.title}>
            <Card title={`Step ${i + 2}: ${s.title}`}>
              <div class="prose">{s.body}</div>
            </Card>
          </li>
        ))}
        <li>
          <Card title={`Step ${steps.length + 2}: test`}>
            <div class="prose">
              <p>
                <strong>In {guide.name}:</strong> {guide.verify}
              </p>
              <p>
                <strong>From this machine:</strong> send a test request with the token to prove the URL and the token work.
              </p>
            </div>
            <TestRequest key={token} initialToken={token} />
          </Card>
        </li>
      </ol>
      <p class="muted small">
        The full guide, with deprovisioning and the IdP's known behaviour, is in <code>{guide.docs}</code>. The Status page shows <strong>Connected</strong> once {guide.name} makes its first call.
      </p>
    </>
  );
}

export function GuidesPage(props: { idp?: string }) {
  const ctx = useLoad(() => api.get<GuideContext>('/guides/context'), []);
  if (!ctx.data) return ctx.error ? <ErrorNotice error={ctx.error} retry={ctx.reload} /> : <Loading />;
  const guide = GUIDES.find((g) => g.id === props.idp);
  if (guide) return <GuideView guide={guide} ctx={ctx.data} />;
  return (
    <>
      <PageHeader title="Setup guides" description="Step by step for each identity provider, with this gateway's base URL and a fresh token filled in." />
      <div class="guide-grid">
        {GUIDES.map((g) => (
          <a key={g.id} class="guide-tile" href={href('guides', g.id)}>
            <span class="guide-name">{g.name}</span>
            <span class="muted small">{g.summary}</span>
          </a>
        ))}
      </div>
      <Card title="Send a test request">
        <p class="muted">Any SCIM 2.0 client works with the same base URL and a token. Check a token from here:</p>
        <CopyField label="SCIM base URL" value={ctx.data.scimUrl} />
        <TestRequest initialToken={freshTokenStore.get()?.value} />
      </Card>
    </>
  );
}
