/** Replays the Entra ID and Okta request sequences of docs/idp/wire-behaviour.md (test/fixtures/idp/) as they arrive. */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

interface Step {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
  expect: { status: number; body?: unknown; bodyLacks?: string[]; textLacks?: string[]; membersExactly?: string[] };
  save?: Record<string, string>;
}

function substitute<T>(value: T, vars: Map<string, string>): T {
  const text = JSON.stringify(value).replace(/\$\{(\w+)\}/g, (_m, k: string) => {
    const v = vars.get(k);
    if (v === undefined) throw new Error(`fixture variable ${k} is not set yet`);
    return v;
  });
  return JSON.parse(text) as T;
}

function pick(obj: any, path: string): string {
  return path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

for (const idp of ['entra', 'okta']) {
  describe(`${idp} sequence`, () => {
    const fixture = JSON.parse(readFileSync(new URL(`../fixtures/idp/${idp}.json`, import.meta.url), 'utf8')) as { steps: Step[] };
    let gw: TestGateway;
    const vars = new Map<string, string>();
    beforeAll(async () => {
      gw = await startTestGateway();
    });
    afterAll(async () => gw.stop());

    for (const step of fixture.steps) {
      it(step.name, async () => {
        const s = substitute(step, vars);
        const r = await gw.client.request(s.method, s.path, s.body, s.headers ?? {});
        expect(r.status, r.text).toBe(s.expect.status);
        if (r.body !== undefined) expect(r.headers.get('content-type')).toMatch(/^application\/scim\+json/);
        if (s.expect.body) expect(r.body).toMatchObject(s.expect.body as object);
        for (const key of s.expect.bodyLacks ?? []) expect(r.body).not.toHaveProperty(key);
        for (const text of s.expect.textLacks ?? []) expect(r.text).not.toContain(text);
        if (s.expect.membersExactly) {
          expect((r.body.members ?? []).map((m: { value: string }) => m.value).sort()).toEqual([...s.expect.membersExactly].sort());
        }
        for (const [name, path] of Object.entries(s.save ?? {})) vars.set(name, pick(r.body, path));
      });
    }
  });
}
