import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { createApp } from "../../src/app";
import { api, auth, TERAPI, type Json } from "./api";

/** A short unique suffix so tests never see each other's rows (storage is shared within a file). */
export const uid = () => crypto.randomUUID().slice(0, 8);

/** The same app with a modified environment (e.g. a rotated master key), still in workerd with the real bindings. */
export async function callWithEnv(overrides: Partial<Env>, method: string, path: string, body?: unknown) {
  const app = createApp();
  const ctx = createExecutionContext();
  const res = await app.fetch(
    new Request(`${TERAPI}${path}`, {
      method,
      headers: { ...auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
    { ...env, ...overrides },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as Json };
}

export async function createIntegration(provider = "openai") {
  const key = `int-${uid()}`;
  const res = await api("POST", "/integrations", { unique_key: key, provider });
  if (res.status !== 201) throw new Error(`integration setup failed: ${res.status} ${res.text}`);
  return key;
}

export async function createConnection(pck: string, body: Json = {}) {
  return api("POST", "/connections", {
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
