/**
 * The `rest` connector configured for the legacy HR API (test/servers/legacy-api.ts), and the
 * conformance kit's direct view of that API's data. Shared by the connector's tests and the
 * end-to-end test; the README's example is the same configuration.
 */
import type { ConformanceTarget } from '../sdk/conformance.js';
import type { LegacyApi } from '../../test/servers/legacy-api.js';

/** How an admin would configure the connector for the legacy HR API (also used by the README). */
export function legacyApiConfig(baseUrl: string, auth: Record<string, unknown>) {
  const account = {
    login: '{{userName}}',
    email: '{{attributes.mail}}',
    first_name: '{{attributes.givenName}}',
    last_name: '{{attributes.sn}}',
    external_ref: '{{externalId}}',
  };
  return {
    baseUrl,
    auth,
    headers: { 'X-Request-Id': '{{operationId}}' },
    timeoutMs: 5_000,
    activeAs: { active: 'active', inactive: 'disabled' },
    health: { url: '/api/v1/accounts?per_page=1' },
    operations: {
      createUser: { method: 'POST', url: '/api/v1/accounts', body: { ...account, status: '{{active}}' }, key: { from: 'body', path: '/data/id' } },
      updateUser: { method: 'PUT', url: '/api/v1/accounts/{{key}}', body: { ...account, status: '{{active}}' } },
      deactivateUser: { method: 'POST', url: '/api/v1/accounts/{{key}}/disable' },
      reactivateUser: { method: 'POST', url: '/api/v1/accounts/{{key}}/enable' },
      deleteUser: { method: 'DELETE', url: '/api/v1/accounts/{{key}}' },
      findUser: { method: 'GET', url: '/api/v1/accounts?login={{userName}}', results: '/data' },
      findUserByExternalId: { method: 'GET', url: '/api/v1/accounts?external_ref={{externalId}}', results: '/data' },
      listUsers: {
        method: 'GET',
        url: '/api/v1/accounts?page=1&per_page=50',
        results: '/data',
        pagination: { type: 'nextLink', path: '/links/next' },
      },
      createGroup: { method: 'POST', url: '/api/v1/teams', body: { name: '{{displayName}}' }, key: { from: 'location' } },
      updateGroup: { method: 'PUT', url: '/api/v1/teams/{{key}}', body: { name: '{{displayName}}' } },
      deleteGroup: { method: 'DELETE', url: '/api/v1/teams/{{key}}' },
      addMembers: { method: 'PUT', url: '/api/v1/teams/{{key}}/members/{{member}}' },
      removeMembers: { method: 'DELETE', url: '/api/v1/teams/{{key}}/members/{{member}}' },
    },
    read: {
      key: '/id',
      userName: '/login',
      active: { path: '/status', activeValues: ['active'] },
      externalId: '/external_ref',
      attributes: { givenName: '/first_name', sn: '/last_name', mail: '/email' },
    },
  };
}

/** The kit's direct view of the API's data. */
export function legacyTarget(api: () => LegacyApi): ConformanceTarget {
  return {
    async readUser(key) {
      const a = api().readAccount(key);
      return (
        a && {
          userName: a.login,
          active: a.status === 'active',
          ...(a.external_ref ? { externalId: a.external_ref } : {}),
          attributes: { givenName: a.first_name, sn: a.last_name, mail: a.email },
        }
      );
    },
    async readGroup(key) {
      const t = api().teams.get(key);
      return t && { displayName: t.name };
    },
    async readGroupMembers(key) {
      const t = api().teams.get(key);
      return t && [...t.members].map(String);
    },
    countUsers: async (userName) => api().countLogin(userName),
    stop: async () => api().stop(),
    start: async () => api().start(),
    reset: async () => api().reset(),
  };
}

