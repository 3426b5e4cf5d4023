/**
 * Public surface of admin/: the console's JSON API (/api, every route behind a session) and the
 * console itself, mounted by server.ts on the admin listener; the first-run setup code; the
 * desktop app's one-time local login link; the SCIM traffic recorder behind the status chart.
 */
import express, { Router, type Request } from 'express';
import { AdminAccounts, AdminSessions, LocalLoginTokens, LoginThrottle, SetupCode } from '../auth/index.js';
import type { AdminContext, AdminDeps, AdminOptions } from './context.js';
import { sessionOf } from './context.js';
import { adminErrorHandler, errorBody } from './errors.js';
import { JobRunner } from './jobs.js';
import { adminAccountRoutes } from './routes/admins.js';
import { auditRoutes } from './routes/audit.js';
import { connectionRoutes } from './routes/connections.js';
import { connectorRoutes } from './routes/connectors.js';
import { directoryRoutes } from './routes/directory.js';
import { guideRoutes } from './routes/guides.js';
import { outboxRoutes } from './routes/outbox.js';
import { reconcileRoutes } from './routes/reconcile.js';
import { localLoginRoute, sessionRoutes } from './routes/session.js';
import { statusRoutes } from './routes/status.js';
import { tokenRoutes } from './routes/tokens.js';
import { requireJson, requireSession, securityHeaders } from './security.js';
import { consoleRoutes, defaultConsoleDir } from './static.js';
import { TrafficRecorder, type ScimOutcome } from './traffic.js';

export type * from './api-types.js';
export type { AdminDeps, AdminOptions, ConnectionsApi, SecretsApi, ConnectorInstanceLike, OutboxApi, TokenActivity } from './context.js';
export { TrafficRecorder, isErrorOutcome, type ScimOutcome } from './traffic.js';
export { AdminError } from './errors.js';
export { adminHostCheck, CONTENT_SECURITY_POLICY, SESSION_COOKIE } from './security.js';
export { defaultConsoleDir } from './static.js';

export interface AdminConsole {
  /** Mount on the admin listener's express app. */
  app: Router;
  /** Feeds the status page (requests per minute, errors, last request per connection). */
  recordScimResponse(outcome: ScimOutcome): void;
  /**
   * A one-time (60 s) URL on the admin listener that signs the local admin in without a password,
   * creating the account on first run: what the desktop app opens. The URL carries a secret.
   */
  issueLocalLogin(): { url: string };
  /** The first-run setup code while no admin account exists and it is still valid (`serve` prints it). */
  setupCode(): { code: string; expiresAt: Date } | undefined;
  /** Whether an admin account exists. */
  hasAdmin(): boolean;
}

export function createAdminConsole(deps: AdminDeps, options: AdminOptions = {}): AdminConsole {
  const now = options.now ?? Date.now;
  const accounts = new AdminAccounts(deps.config.dataDir);
  const setup = new SetupCode(options.setupCodeTtlMs, now);
  // A new code on each start while no admin exists.
  if (!accounts.hasAdmin()) setup.issue();

  const ctx: AdminContext = {
    deps,
    accounts,
    sessions: new AdminSessions({ idleMs: options.sessionIdleMs, absoluteMs: options.sessionAbsoluteMs, now }),
    throttle: new LoginThrottle({ ...options.lockout, now, dataDir: deps.config.dataDir }),
    setup,
    localLogins: new LocalLoginTokens(options.localLoginTtlMs, now),
    // Traffic keeps the wall clock: its minutes are what the admin's browser shows.
    traffic: new TrafficRecorder(),
    jobs: new JobRunner(deps.logger),
    startedAt: new Date(now()),
    async record(req: Request, draft) {
      const session = sessionOf(req);
      try {
        await deps.audit.append([{ actor: { kind: 'admin', id: session.username }, ...draft }]);
      } catch (err) {
        deps.logger.error({ err, action: draft.action }, 'AUDIT RECORD LOST: the audit log could not be written');
      }
    },
  };

  const app = Router();
  app.use(securityHeaders());

  const api = Router();
  api.use(requireJson());
  api.use(express.json({ limit: '256kb' }));
  api.use(sessionRoutes(ctx));
  api.use(requireSession(ctx));
  for (const routes of [statusRoutes, adminAccountRoutes, tokenRoutes, connectionRoutes, connectorRoutes, directoryRoutes, outboxRoutes, auditRoutes, reconcileRoutes, guideRoutes]) api.use(routes(ctx));
  api.use((req, res) => {
    res.status(404).json(errorBody('not_found', `There is no admin API route ${req.method} /api${req.path}. docs/console.md lists them.`));
  });
  api.use(adminErrorHandler(deps.logger));
  app.use('/api', api);

  app.use(localLoginRoute(ctx));
  app.use(consoleRoutes(options.consoleDir ?? defaultConsoleDir()));
  app.use(adminErrorHandler(deps.logger));

  return {
    app,
    recordScimResponse: (o) => ctx.traffic.record(o),
    issueLocalLogin() {
      return { url: `${deps.adminUrl()}/auth/local/${ctx.localLogins.issue()}` };
    },
    setupCode: () => (accounts.hasAdmin() ? undefined : setup.current()),
    hasAdmin: () => accounts.hasAdmin(),
  };
}
