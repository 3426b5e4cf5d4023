/**
 * The console shell: who is signed in decides between the first-run wizard, the sign-in page and
 * the pages; a skip link, a navigation that collapses on a narrow window, focus moved to each
 * page's title on navigation.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { SessionInfo } from '../../gateway/admin/api-types';
import { api, rememberSession, whenSignedOut } from './api';
import { href, navigate, useRoute, type Route } from './router';
import { sessionStore } from './state';
import { Button, Loading, Notice } from './ui';
import { AccountPage } from './pages/account';
import { AdminsPage } from './pages/admins';
import { AuditPage } from './pages/audit';
import { ConnectionsPage } from './pages/connections';
import { ConnectorsPage } from './pages/connectors';
import { DirectoryPage } from './pages/directory';
import { GuidesPage } from './pages/guides';
import { LoginPage } from './pages/login';
import { OutboxPage } from './pages/outbox';
import { StatusPage } from './pages/status';
import { TokensPage } from './pages/tokens';
import { WizardPage } from './pages/wizard';

const NAV: Array<{ key: string; label: string; icon: string }> = [
  { key: '', label: 'Status', icon: 'M3 12h4l3-8 4 16 3-8h4' },
  { key: 'guides', label: 'Setup guides', icon: 'M4 5h7a3 3 0 0 1 3 3v12a2 2 0 0 0-2-2H4zM20 5h-7a3 3 0 0 0-3 3' },
  { key: 'tokens', label: 'Tokens', icon: 'M15 7a4 4 0 1 1-3.9 5H4v3H2v-5h9.1A4 4 0 0 1 15 7z' },
  { key: 'connections', label: 'Connections', icon: 'M5 12h4m6 0h4M9 8v8a3 3 0 0 0 6 0V8a3 3 0 0 0-6 0z' },
  { key: 'connectors', label: 'Connectors', icon: 'M4 6h16v5H4zM4 13h16v5H4zM7 8.5h.01M7 15.5h.01' },
  { key: 'directory', label: 'Users and groups', icon: 'M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm-7 10a7 7 0 0 1 14 0M17 11a3 3 0 1 0-1-5.8M22 21a6 6 0 0 0-4-5.6' },
  { key: 'outbox', label: 'Outbox', icon: 'M4 13h4l2 3h4l2-3h4M4 13l2-8h12l2 8v6H4z' },
  { key: 'audit', label: 'Audit log', icon: 'M8 4h10v16H6V6zM9 9h6M9 13h6M9 17h3' },
  { key: 'admins', label: 'Admin accounts', icon: 'M12 3l7 3v5c0 4.5-3 8-7 10-4-2-7-5.5-7-10V6zM12 9a2 2 0 1 0 0 4 2 2 0 0 0 0-4z' },
];

function Icon(props: { d: string }) {
  return (
    <svg class="nav-icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      <path d={props.d} />
    </svg>
  );
}

function Page(props: { route: Route }) {
  const [first, second, third, fourth] = props.route.parts;
  switch (first ?? '') {
    case '':
      return <StatusPage />;
    case 'guides':
      return <GuidesPage idp={second} />;
    case 'tokens':
      return <TokensPage />;
    case 'connections':
      return <ConnectionsPage />;
    case 'connectors':
      return <ConnectorsPage />;
    case 'directory':
      return <DirectoryPage key={`${second ?? ''}/${third ?? ''}`} connection={second} type={third === 'groups' ? 'groups' : 'users'} id={fourth} params={props.route.params} />;
    case 'outbox':
      return <OutboxPage />;
    case 'audit':
      return <AuditPage params={props.route.params} />;
    case 'account':
      return <AccountPage />;
    case 'admins':
      return <AdminsPage />;
    case 'setup':
      return <WizardPage />;
    default:
      return (
        <Notice tone="warn" title="There is no such page">
          <a href="#/">Go to the status page</a>.
        </Notice>
      );
  }
}

function Shell(props: { session: SessionInfo; route: Route; children: ComponentChildren }) {
  const [menuOpen, setMenuOpen] = useState(false);
  const current = props.route.parts[0] ?? '';
  useEffect(() => setMenuOpen(false), [props.route]);
  const signOut = async () => {
    await api.post('/session/logout').catch(() => undefined);
    sessionStore.set({ authenticated: false, setupRequired: false });
    navigate('#/login');
  };
  return (
    <div class="shell">
      <a class="skip-link" href="#main" onClick={(e) => {
        e.preventDefault();
        document.getElementById('main')?.focus();
      }}>
        Skip to main content
      </a>
      <header class="topbar">
        <a class="brand" href="#/">
          <img src="/favicon.svg" alt="" width="26" height="26" />
          <span>SCIM Bridge</span>
        </a>
        <button type="button" class="menu-button" aria-expanded={menuOpen ? 'true' : 'false'} aria-controls="nav" onClick={() => setMenuOpen(!menuOpen)}>
          Menu
        </button>
        <div class="topbar-user">
          <a href="#/account" class="user-link">
            <span class="visually-hidden">Signed in as </span>
            {props.session.user?.username}
          </a>
          <Button small variant="ghost" onClick={signOut}>
            Sign out
          </Button>
        </div>
      </header>
      <nav id="nav" class={`sidebar${menuOpen ? ' open' : ''}`} aria-label="Console">
        <ul>
          {NAV.map((n) => (
            <li key={n.key}>
              <a href={n.key ? href(n.key) : '#/'} aria-current={current === n.key ? 'page' : undefined}>
                <Icon d={n.icon} />
                {n.label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1} class="main">
        {props.session.user && !props.session.user.hasPassword && current !== 'account' && (
          <Notice tone="info" title="This account has no password yet">
            You were signed in by the desktop app. <a href="#/account">Set a password</a> to sign in from a browser too.
          </Notice>
        )}
        {props.children}
      </main>
    </div>
  );
}

export function App() {
  const route = useRoute();
  const session = sessionStore.use();
  const [error, setError] = useState<string>();
  const lastPage = useRef<string>('');

  const refresh = async () => {
    try {
      const s = await api.get<SessionInfo>('/session');
      rememberSession(s);
      sessionStore.set(s);
      setError(undefined);
    } catch (err) {
      setError((err as Error).message);
    }
  };

  useEffect(() => {
    void refresh();
    whenSignedOut((reason) => {
      sessionStore.set({ authenticated: false, setupRequired: false });
      navigate(`#/login${reason === 'expired' ? '?expired=1' : ''}`);
    });
  }, []);

  // Each page's title takes the focus, so a screen reader announces where the admin arrived.
  useEffect(() => {
    const key = route.parts.slice(0, 2).join('/');
    if (lastPage.current && lastPage.current !== key) {
      requestAnimationFrame(() => document.getElementById('page-title')?.focus());
    }
    lastPage.current = key;
    document.title = `${NAV.find((n) => n.key === (route.parts[0] ?? ''))?.label ?? 'SCIM Bridge'} · SCIM Bridge`;
  }, [route]);

  if (error && !session) {
    return (
      <main class="center-page">
        <Notice tone="bad" title="The gateway cannot be reached">
          <p>{error}</p>
          <Button onClick={refresh}>Try again</Button>
        </Notice>
      </main>
    );
  }
  if (!session) return <main class="center-page"><Loading /></main>;

  const page = route.parts[0] ?? '';
  if (!session.authenticated) {
    if (session.setupRequired) return <WizardPage />;
    return <LoginPage params={route.params} onSignedIn={refresh} />;
  }
  if (page === 'login') {
    navigate('#/');
    return null;
  }
  if (page === 'setup') return <WizardPage />;
  return (
    <Shell session={session} route={route}>
      <Page route={route} />
    </Shell>
  );
}
