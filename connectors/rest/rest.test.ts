/**
 * The conformance kit against the legacy HR API (test/servers/legacy-api.ts), a real HTTP server
 * on 127.0.0.1: once with HTTP Basic auth, once with OAuth2 client credentials. The kit reads the
 * API's own state, never through the connector.
 */
import { runConnectorConformance } from '../sdk/conformance.js';
import { startLegacyApi, type LegacyApi, type LegacyAuth } from '../../test/servers/legacy-api.js';
import { createRestConnector } from './index.js';
import { legacyApiConfig, legacyTarget } from './legacy-api.fixture.js';

const variants: Array<{ name: string; auth: LegacyAuth; config: (url: string) => Record<string, unknown>; secrets: Record<string, string>; wrong: Record<string, string> }> = [
  {
    name: 'basic auth',
    auth: { kind: 'basic', username: 'svc-scim', password: 'Basic-Pa55word!' },
    config: (url) => legacyApiConfig(url, { type: 'basic', username: 'svc-scim' }),
    secrets: { 'auth.password': 'Basic-Pa55word!' },
    wrong: { 'auth.password': 'not-the-password' },
  },
  {
    name: 'OAuth2 client credentials',
    auth: { kind: 'oauth2', clientId: 'scim-bridge', clientSecret: 'client-S3cret-value', scope: 'accounts:write', tokenTtlSeconds: 600 },
    config: (url) => legacyApiConfig(url, { type: 'oauth2', tokenUrl: `${url}/oauth/token`, clientId: 'scim-bridge', scope: 'accounts:write' }),
    secrets: { 'auth.clientSecret': 'client-S3cret-value' },
    wrong: { 'auth.clientSecret': 'wrong-client-secret' },
  },
];

for (const v of variants) {
  let api: LegacyApi;
  runConnectorConformance(
    `rest (legacy HR API, ${v.name})`,
    async () => {
      api = await startLegacyApi({ auth: v.auth });
      return {
        definition: createRestConnector(),
        config: v.config(api.url),
        secrets: v.secrets,
        wrongSecrets: v.wrong,
        hostLabel: api.url,
        teardown: async () => api.close(),
      };
    },
    legacyTarget(() => api),
  );
}
