import { describe, expect, it } from 'vitest';
import { PermanentError, createConnectorHost, validateConnector } from '../sdk/index.js';
import { createTemplateConnector } from './index.js';

describe('template connector', () => {
  it('meets the connector contract', () => {
    expect(() => validateConnector(createTemplateConnector())).not.toThrow();
  });

  it('says plainly that an operation is not implemented yet', async () => {
    const host = await createConnectorHost(createTemplateConnector(async () => new Response(null, { status: 200 })), {
      config: { baseUrl: 'https://legacy.example.org/api/' },
      secrets: { apiKey: 'k-123456' },
    });
    const err = await host
      .apply({ kind: 'deleteUser', operationId: 'op', key: '42' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as Error).message).toContain("not implemented: replace with your target's call");
  });
});
