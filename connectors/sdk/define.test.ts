import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CAPABILITY_METHODS, ConnectorContractError, defineConnector, secret, validateConnector } from './index.js';
import type { Capability, Connector, ConnectorCapabilities, ConnectorManifest } from './index.js';

const noop = async (): Promise<never> => {
  throw new Error('not called');
};
const ALL_METHODS = [...new Set(Object.values(CAPABILITY_METHODS).flat())];

function manifest(capabilities: ConnectorCapabilities, extra: Partial<ConnectorManifest<unknown>> = {}): ConnectorManifest<unknown> {
  return {
    type: 'fake-target',
    displayName: 'Fake',
    version: '1.2.3',
    description: 'test double',
    configSchema: z.object({ host: z.string() }),
    capabilities,
    ...extra,
  };
}

function connector(without: string[] = []): Connector<unknown> {
  const c: Record<string, unknown> = { init: noop, test: noop, dispose: noop };
  for (const m of ALL_METHODS) c[m] = noop;
  for (const m of without) delete c[m];
  return c as unknown as Connector<unknown>;
}

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectorContractError);
    return (err as ConnectorContractError).problems;
  }
  return [];
}

describe('validateConnector', () => {
  it('accepts a definition that implements every declared capability', () => {
    const caps = Object.fromEntries(Object.keys(CAPABILITY_METHODS).map((c) => [c, true]));
    expect(() => validateConnector(defineConnector(manifest(caps), () => connector()))).not.toThrow();
  });

  const cases = (Object.entries(CAPABILITY_METHODS) as [Capability, readonly string[]][]).flatMap(([cap, methods]) =>
    methods.map((method) => ({ cap, method })),
  );
  it.each(cases)('names $method when capability $cap is declared without it', ({ cap, method }) => {
    const caps: ConnectorCapabilities = { [cap]: true, ...(cap === 'membership' ? { groups: true } : {}) };
    const problems = problemsOf(() => validateConnector(defineConnector(manifest(caps), () => connector([method]))));
    expect(problems).toEqual([`capability "${cap}" requires method ${method}`]);
  });

  it('does not require methods of undeclared capabilities', () => {
    const def = defineConnector(manifest({ create: true }), () => connector(ALL_METHODS.filter((m) => m !== 'createUser')));
    expect(() => validateConnector(def)).not.toThrow();
  });

  it.each(['init', 'test', 'dispose'])('requires lifecycle method %s', (method) => {
    expect(problemsOf(() => validateConnector(defineConnector(manifest({}), () => connector([method]))))).toEqual([
      `method ${method} is missing`,
    ]);
  });

  it('reports every manifest problem at once, with the connector type in the message', () => {
    const bad = manifest({ membership: true }, { type: 'Bad_Type', version: 'v1', displayName: ' ' });
    let message = '';
    const problems = problemsOf(() => {
      try {
        validateConnector(defineConnector(bad, () => connector()));
      } catch (err) {
        message = (err as Error).message;
        throw err;
      }
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('kebab-case'),
        expect.stringContaining('semver'),
        'displayName is empty',
        'capability "membership" requires capability "groups"',
      ]),
    );
    expect(message).toContain('connector "Bad_Type"');
  });

  it('refuses a secret inside an array (no stable keychain account)', () => {
    const schema = z.object({ servers: z.array(z.object({ password: secret(z.string()) })) });
    expect(problemsOf(() => validateConnector(defineConnector(manifest({}, { configSchema: schema }), () => connector())))).toEqual([
      'secret field "servers[].password" is inside an array',
    ]);
  });

  it('refuses an unknown capability name', () => {
    const caps = { create: true, teleport: true } as ConnectorCapabilities;
    expect(problemsOf(() => validateConnector(defineConnector(manifest(caps), () => connector())))).toEqual([
      'unknown capability "teleport"',
    ]);
  });
});
