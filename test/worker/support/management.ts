import { SELF, createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { createApp } from "../../../src/app";

import { TERAPI as BASE, auth as AUTH } from "../../harness/connections";

export { AUTH, BASE };
export { simRequests, type SimRequest } from "../../harness/connections";

/** A short unique suffix so tests never see each other's rows (storage is shared within a file). */
export const uid = () => crypto.randomUUID().slice(0, 8);

export type Json = Record<string, unknown>;

/** One management API call through the deployed Worker (SELF). */
export async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await SELF.fetch(`${BASE}${path}`, {
    method,
    headers: { ...AUTH, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const json = text ? (JSON.parse(text) as Json) : null;
  return { status: res.status, json, text, headers: res.headers };
}

/** The same app with a modified environment (e.g. a rotated master key), still in workerd with the real bindings. */
export async function callWithEnv(overrides: Partial<Env>, method: string, path: string, body?: unknown) {
  const app = createApp();
  const ctx = createExecutionContext();
  const res = await app.fetch(
    new Request(`${BASE}${path}`, {
      method,
      headers: { ...AUTH, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
    { ...env, ...overrides },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Json) : null };
}

export async function createIntegration(provider = "openai") {
  const key = `int-${uid()}`;
  const res = await call("POST", "/integrations", { unique_key: key, provider });
  if (res.status !== 201) throw new Error(`integration setup failed: ${res.status} ${res.text}`);
  return key;
}

export async function createConnection(pck: string, body: Json = {}) {
  return call("POST", "/connections", {
    provider_config_key: pck,
    connection_id: `conn-${uid()}`,
    credentials: { type: "API_KEY", apiKey: "sk-test-good" },
    ...body,
  });
}

/** 32 random bytes, base64: a fresh master key. */
export function newMasterKey(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
}
