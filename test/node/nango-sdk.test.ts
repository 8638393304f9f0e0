// Nango's own Node SDK (`@nangohq/node`, pinned) against terapi, unchanged:
// terapi's deploy bundle on Miniflare over a real socket (the SDK is axios in
// Node), the OpenAI simulator from the global setup as upstream, the webhook
// receiver from the global setup as the user's backend. Every SDK method is
// called through the SDK; only what the SDK has no method for goes around it:
// the operator's PATCH /environment and the end user's connect-page form.
import { resolve } from "node:path";
import { Nango, type NangoAuthWebhookBody, type NangoSyncWebhookBody } from "@nangohq/node";
import type { NangoAsyncActionWebhookBody, NangoForwardWebhookBody } from "@nangohq/types";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { newSecrets, startMiniflare, type RunningTerapi } from "../../scripts/lib/terapi.ts";
import { SIMULATOR_URL } from "../harness/constants.ts";
import { waitFor } from "../harness/wait.ts";
import type { ReceivedRequest } from "../harness/receiver.ts";
import type { RequestLog } from "../simulator/state.ts";

const root = resolve(import.meta.dirname, "../..");
const secrets = newSecrets();
const RECEIVER_ID = `nango-sdk-${Date.now().toString(36)}`;
const PCK = "openai-nango";
const OTHER_PCK = "openai-nango-2";

let terapi: RunningTerapi;
let nango: Nango;
let webhookSecret: string;

/** Methods of the SDK these tests call (printed at the end; the count is in the closing note). */
const covered = new Set<string>();
const use = (...names: string[]) => names.forEach((n) => covered.add(n));

// --- what the SDK has no method for ------------------------------------------------

/** The operator's environment settings (webhook URL, reading credentials). */
async function patchEnvironment(body: Record<string, unknown>): Promise<{ webhook_secret: string; reveal_credentials: boolean }> {
  const res = await fetch(`${terapi.origin}/environment`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${secrets.secretKey}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { webhook_secret: string; reveal_credentials: boolean };
}

/** The end user on the connect page: picks the integration, pastes their key. */
/** The end user's browser: opens the link (its token becomes an HttpOnly cookie), then posts the form. */
async function postConnectForm(token: string, integration: string, apiKey: string): Promise<Response> {
  const opened = await fetch(`${terapi.origin}/connect?token=${encodeURIComponent(token)}`, { redirect: "manual" });
  expect(opened.status, await opened.text()).toBe(303);
  const cookie = opened.headers.get("set-cookie")?.split(";")[0] ?? "";
  return fetch(`${terapi.origin}/connect`, { method: "POST", headers: { cookie }, body: new URLSearchParams({ integration, api_key: apiKey }) });
}

async function submitConnectForm(token: string, integration: string, apiKey: string): Promise<void> {
  const res = await postConnectForm(token, integration, apiKey);
  expect(res.status, await res.text()).toBe(200);
}

async function sim<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${SIMULATOR_URL}${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`simulator ${method} ${path}: ${res.status}`);
  return (await res.json()) as T;
}
const simKey = async () => (await sim<{ key: string }>("POST", "/__sim/keys", {})).key;
const simRequests = (key: string) => sim<RequestLog[]>("GET", `/__sim/requests?key=${encodeURIComponent(key)}`);

async function received(): Promise<ReceivedRequest[]> {
  const res = await fetch(`${inject("receiverUrl")}/__receiver/received?id=${RECEIVER_ID}`);
  return ((await res.json()) as { requests: ReceivedRequest[] }).requests;
}

/** The error terapi answered, from the SDK's axios error. */
async function refusal(call: Promise<unknown>): Promise<{ status: number; code: string; message: string }> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  // The SDK's errors are axios errors: the answer is on `response`.
  const response = (err as { response?: { status: number; data: unknown } } | undefined)?.response;
  if (!response) throw new Error(`expected an HTTP error, got ${String(err)}`);
  const body = response.data as { error?: { code?: string; message?: string } };
  return { status: response.status, code: body.error?.code ?? "", message: body.error?.message ?? "" };
}

// --- shared state built up by the tests, in order ---------------------------------------

type Tenant = { connectionId: string; apiKey: string; endUser: string };
const tenants: Tenant[] = [];

beforeAll(async () => {
  // The bundle globalSetup built once for the run (test/harness/global-setup.ts).
  const bundleDir = inject("bundleDir");
  terapi = await startMiniflare({ root, bundleDir, simUrl: SIMULATOR_URL, secrets, directSocket: false });
  nango = new Nango({ secretKey: secrets.secretKey, host: terapi.origin });
  await fetch(`${inject("receiverUrl")}/__receiver/script`, { method: "POST", body: JSON.stringify({ id: RECEIVER_ID, responses: [] }) });
  webhookSecret = (await patchEnvironment({ webhook_url: `${inject("receiverUrl")}/${RECEIVER_ID}` })).webhook_secret;
}, 600_000);

afterAll(async () => {
  await terapi?.stop();
  console.log(`@nangohq/node methods covered: ${covered.size}: ${[...covered].sort().join(", ")}`);
});

describe("@nangohq/node 0.71.10 against terapi", () => {
  it("providers: listProviders, getProvider from the provider registry; templates are unsupported", async () => {
    use("listProviders", "getProvider", "getProviderTemplates");
    const all = await nango.listProviders({});
    expect(all.data.map((p) => p.name)).toEqual(expect.arrayContaining(["openai", "openai-admin"]));
    expect((await nango.listProviders({ search: "admin" })).data.map((p) => p.name)).toEqual(["openai-admin"]);
    const one = await nango.getProvider({ provider: "openai" });
    expect(one.data).toMatchObject({ name: "openai", display_name: "OpenAI", auth_mode: "API_KEY" });
    expect(await refusal(nango.getProvider({ provider: "nope" }))).toMatchObject({ status: 404, code: "unknown_provider" });
    expect(await refusal(nango.getProviderTemplates({ provider: "openai" }))).toMatchObject({ status: 501, code: "unsupported" });
  });

  it("integrations: create, list, get, update, delete; quickstart and functions are unsupported", async () => {
    use("createIntegration", "listIntegrations", "getIntegration", "updateIntegration", "deleteIntegration");
    use("createQuickstartIntegration", "listFunctions", "getFunction", "getFunctionCode", "deleteFunction");
    for (const key of [PCK, OTHER_PCK, "short-lived"])
      expect((await nango.createIntegration({ unique_key: key, provider: "openai", display_name: key })).data).toMatchObject({
        unique_key: key,
        provider: "openai",
      });
    expect((await nango.listIntegrations()).configs.map((i) => i.unique_key)).toEqual(expect.arrayContaining([PCK, OTHER_PCK, "short-lived"]));
    expect((await nango.getIntegration({ uniqueKey: PCK })).data).toMatchObject({ unique_key: PCK, provider: "openai" });
    expect((await nango.updateIntegration({ uniqueKey: PCK }, { display_name: "OpenAI via Nango SDK" })).data).toMatchObject({
      display_name: "OpenAI via Nango SDK",
    });
    expect((await nango.deleteIntegration("short-lived")).status).toBeLessThan(300);
    expect(await refusal(nango.getIntegration({ uniqueKey: "short-lived" }))).toMatchObject({ status: 404 });

    const unsupported = [
      () => nango.createQuickstartIntegration({ provider: "openai", unique_key: "quick" }),
      () => nango.listFunctions({ uniqueKey: PCK }),
      () => nango.getFunction({ uniqueKey: PCK, name: "x" }),
      () => nango.getFunctionCode({ uniqueKey: PCK, name: "x" }),
      () => nango.deleteFunction({ uniqueKey: PCK, name: "x" }, { type: "action" }),
    ];
    for (const call of unsupported) {
      const r = await refusal(call());
      expect(r).toMatchObject({ status: 501, code: "unsupported" });
      expect(r.message).toMatch(/not supported by terapi/);
    }
  });

  it("connect sessions: with end_user, with tags only; the end user's key becomes a connection", async () => {
    use("createConnectSession");
    for (const [i, pck] of [PCK, PCK, OTHER_PCK].entries()) {
      const endUser = `end-user-${i}`;
      const session = await nango.createConnectSession({
        end_user: { id: endUser, email: `u${i}@example.com`, display_name: `User ${i}` },
        allowed_integrations: [pck],
      });
      expect(session.data.connect_link).toContain("/connect?token=");
      expect(Date.parse(session.data.expires_at)).toBeGreaterThan(Date.now());
      const apiKey = await simKey();
      await submitConnectForm(session.data.token, pck, apiKey);
      const found = await nango.listConnections({ userId: endUser });
      expect(found.connections).toHaveLength(1);
      tenants.push({ connectionId: found.connections[0]!.connection_id, apiKey, endUser });
    }
    // Nango allows a session named by tags alone.
    const tagged = await nango.createConnectSession({ tags: { workspace: "acme" } });
    const apiKey = await simKey();
    await submitConnectForm(tagged.data.token, PCK, apiKey);
    const byTag = await nango.listConnections({ tags: { workspace: "acme" } });
    expect(byTag.connections).toHaveLength(1);
    expect(byTag.connections[0]).toMatchObject({ provider_config_key: PCK, end_user: null, tags: { workspace: "acme" } });
    // Neither end user nor tags: refused (the SDK's types forbid it too).
    expect(await refusal(nango.createConnectSession({} as Parameters<Nango["createConnectSession"]>[0]))).toMatchObject({ status: 400 });
  });

  it("listConnections: every filter the SDK sends, paging; waitForConnection finds only the end user's own", async () => {
    use("listConnections", "waitForConnection");
    const [a, b, c] = tenants as [Tenant, Tenant, Tenant];
    const ids = (r: { connections: { connection_id: string }[] }) => r.connections.map((x) => x.connection_id).sort();

    expect(ids(await nango.listConnections({ userId: a.endUser }))).toEqual([a.connectionId]);
    expect(ids(await nango.listConnections(undefined, undefined, { endUserId: b.endUser }))).toEqual([b.connectionId]);
    expect(ids(await nango.listConnections({ connectionId: c.connectionId }))).toEqual([c.connectionId]);
    expect(ids(await nango.listConnections(c.connectionId))).toEqual([c.connectionId]);
    expect(ids(await nango.listConnections({ integrationId: OTHER_PCK }))).toEqual([c.connectionId]);
    expect(ids(await nango.listConnections({ integrationId: [OTHER_PCK, PCK] }))).toHaveLength(4);
    expect(ids(await nango.listConnections(undefined, "u1@example"))).toEqual([b.connectionId]);
    expect(ids(await nango.listConnections({ tags: { email: "u0@example.com" } }))).toEqual([a.connectionId]);
    expect(ids(await nango.listConnections({ tags: { displayName: "User 2" } }))).toEqual([c.connectionId]);
    // An end user with no connection has none: never someone else's.
    expect((await nango.listConnections({ userId: "nobody" })).connections).toEqual([]);

    const pages: string[] = [];
    for (let page = 0; page < 5; page++) {
      const got = await nango.listConnections(undefined, undefined, { limit: 1, page });
      if (got.connections.length === 0) break;
      expect(got.connections).toHaveLength(1);
      pages.push(got.connections[0]!.connection_id);
    }
    expect(pages).toHaveLength(4);
    expect(new Set(pages).size).toBe(4);

    const item = (await nango.listConnections({ connectionId: a.connectionId })).connections[0]!;
    expect(item).toMatchObject({ connection_id: a.connectionId, provider_config_key: PCK, provider: "openai", errors: [] });
    expect(Date.parse(item.created)).not.toBeNaN();

    expect(await nango.waitForConnection(PCK, a.endUser)).toMatchObject({ connection_id: a.connectionId });
  });

  it("getConnection, getToken and getMetadata; the key in clear only once the operator allows it", async () => {
    use("getConnection", "getToken", "getMetadata");
    const a = tenants[0]!;
    const conn = await nango.getConnection(PCK, a.connectionId);
    expect(conn).toMatchObject({ connection_id: a.connectionId, provider_config_key: PCK, errors: [], last_fetched_at: null, end_user: { id: a.endUser } });
    expect(conn.credentials).toMatchObject({ type: "API_KEY", masked: true });
    expect(JSON.stringify(conn)).not.toContain(a.apiKey);
    expect(await nango.getToken(PCK, a.connectionId)).toMatchObject({ type: "API_KEY", masked: true });

    expect((await patchEnvironment({ reveal_credentials: true })).reveal_credentials).toBe(true);
    expect(await nango.getToken(PCK, a.connectionId)).toEqual({ type: "API_KEY", apiKey: a.apiKey, masked: false });
    expect((await nango.getConnection(PCK, a.connectionId)).credentials).toMatchObject({ apiKey: a.apiKey, masked: false });
    expect((await patchEnvironment({ reveal_credentials: false })).reveal_credentials).toBe(false);
    expect(await nango.getToken(PCK, a.connectionId)).toMatchObject({ masked: true });

    expect(await nango.getMetadata(PCK, a.connectionId)).toEqual({});
    expect(await refusal(nango.getConnection(PCK, "nope"))).toMatchObject({ status: 404 });
  });

  it("metadata: setMetadata replaces, updateMetadata merges (one or several connections)", async () => {
    use("setMetadata", "updateMetadata");
    const [a, b] = tenants as [Tenant, Tenant];
    await nango.setMetadata(PCK, a.connectionId, { plan: "pro", seats: 3 });
    await nango.updateMetadata(PCK, a.connectionId, { seats: 5 });
    expect(await nango.getMetadata(PCK, a.connectionId)).toEqual({ plan: "pro", seats: 5 });
    await nango.setMetadata(PCK, [a.connectionId, b.connectionId], { region: "eu" });
    expect(await nango.getMetadata(PCK, a.connectionId)).toEqual({ region: "eu" });
    expect(await nango.getMetadata(PCK, b.connectionId)).toEqual({ region: "eu" });
  });

  it("patchConnection (provider_config_key in the query) changes end user and tags", async () => {
    use("patchConnection");
    const b = tenants[1]!;
    const patched = await nango.patchConnection(
      { connectionId: b.connectionId, provider_config_key: PCK },
      { end_user: { id: b.endUser, email: "new@example.com" }, tags: { tier: "gold" } },
    );
    expect(patched).toMatchObject({ success: true, connection_id: b.connectionId });
    expect(await nango.getConnection(PCK, b.connectionId)).toMatchObject({ end_user: { id: b.endUser, email: "new@example.com" }, tags: { tier: "gold" } });
  });

  it("proxy: get/post/patch/put/delete, params, binary, Nango-Proxy-* headers, retries; the SDK's control headers never reach OpenAI", async () => {
    use("proxy", "get", "post", "patch", "put", "delete");
    const a = tenants[0]!;
    const withLog = new Nango({
      secretKey: secrets.secretKey,
      host: terapi.origin,
      activityLogId: "log-123",
      connectionId: a.connectionId,
      providerConfigKey: PCK,
    });

    const models = await withLog.get<{ data: { id: string }[] }>({ endpoint: "/v1/models", params: { limit: "2" }, headers: { "X-Custom-Thing": "hello" } });
    expect(models.status).toBe(200);
    expect(models.data.data.length).toBeGreaterThan(0);

    const created = await withLog.post<{ id: string; name: string }>({ endpoint: "/v1/vector_stores", data: { name: "from-nango-sdk" } });
    expect(created.data.name).toBe("from-nango-sdk");
    const deleted = await withLog.delete<{ deleted: boolean }>({ endpoint: `/v1/vector_stores/${created.data.id}` });
    expect(deleted.data.deleted).toBe(true);
    // OpenAI has no PATCH/PUT routes: the provider's own 404 comes back, unchanged.
    expect(await refusal(withLog.patch({ endpoint: "/v1/models/x", data: { a: 1 } }))).toMatchObject({ status: 404 });
    expect(await refusal(withLog.put({ endpoint: "/v1/models/x", data: { a: 1 } }))).toMatchObject({ status: 404 });

    const speech = await withLog.proxy<ArrayBuffer>({
      method: "POST",
      endpoint: "v1/audio/speech",
      data: { model: "tts-1", voice: "alloy", input: "hi" },
      responseType: "arraybuffer",
    });
    expect(speech.headers["content-type"]).toMatch(/^audio\//);
    expect(Buffer.from(speech.data).byteLength).toBeGreaterThan(0);

    // Retries: the simulator fails once; `retries` lets terapi try again.
    await sim("POST", "/__sim/faults", { key: a.apiKey, count: 1, status: 503, path_prefix: "/v1/moderations" });
    const moderated = await withLog.post<{ results: unknown[] }>({ endpoint: "/v1/moderations", data: { input: "fine" }, retries: 1 });
    expect(moderated.data.results).toHaveLength(1);

    const log = await simRequests(a.apiKey);
    const seen = (method: string, prefix: string) => log.filter((r) => r.method === method && r.path.startsWith(prefix));
    // Key checks and syncs list models too: ours is the one with the custom header.
    const mine = seen("GET", "/v1/models").filter((r) => r.headers["x-custom-thing"] !== undefined);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.query).toContain("limit=2");
    expect(seen("PATCH", "/v1/models/x")).toHaveLength(1);
    expect(seen("PUT", "/v1/models/x")).toHaveLength(1);
    expect(seen("DELETE", "/v1/vector_stores/")).toHaveLength(1);
    expect(seen("POST", "/v1/moderations").map((r) => r.status)).toEqual([503, 200]);
    const headers = mine[0]!.headers;
    expect(headers["x-custom-thing"]).toBe("hello");
    expect(headers.authorization).toBe(`Bearer ${a.apiKey}`);
    for (const r of log)
      for (const name of Object.keys(r.headers))
        expect(name, `${r.method} ${r.path}`).not.toMatch(
          /^(nango-|base-url-override|decompress|forward-headers-on-redirect|connection-id|provider-config-key)/,
        );

    expect(await refusal(withLog.get({ endpoint: "/v1/models", baseUrlOverride: "https://example.com" }))).toMatchObject({ status: 501, code: "unsupported" });
  });

  it("actions: triggerAction, triggerActionAsync, getAsyncActionResult by id and by status URL", async () => {
    use("triggerAction", "triggerActionAsync", "getAsyncActionResult");
    const a = tenants[0]!;
    const output = await nango.triggerAction<{ model: string; input: string }, { object: string; data: unknown[] }>(PCK, a.connectionId, "create-embedding", {
      model: "text-embedding-3-small",
      input: "hi",
    });
    expect(output).toMatchObject({ object: "list", data: [{ object: "embedding" }] });

    const started = await nango.triggerActionAsync(PCK, a.connectionId, "create-moderation", { input: "fine" });
    expect(started.statusUrl).toBe(`/action/${started.id}`);
    // Before it finishes the answer is the run (202, `object: action_run`); then the output itself.
    const result = await waitFor(
      async () => {
        const r = (await nango.getAsyncActionResult({ id: started.id })) as Record<string, unknown>;
        return r.object === "action_run" ? undefined : r;
      },
      "the action's output",
      60_000,
      100,
    );
    expect(result).toMatchObject({ results: [{ flagged: false }] });
    expect(await nango.getAsyncActionResult({ statusUrl: started.statusUrl })).toEqual(result);
  });

  it("records: listRecords with _nango_metadata, cursor, limit, filter, modifiedAfter, ids; pruneRecords unsupported", async () => {
    use("listRecords", "pruneRecords");
    const a = tenants[0]!;
    const all = await waitFor(
      async () => {
        const r = await nango.listRecords({ providerConfigKey: PCK, connectionId: a.connectionId, model: "models", limit: 1000 });
        return r.records.length > 0 ? r.records : undefined;
      },
      "the models sync",
      60_000,
      100,
    );
    for (const r of all) expect(r._nango_metadata).toMatchObject({ last_action: "ADDED", deleted_at: null, pruned_at: null, cursor: expect.any(String) });

    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { records: { id: string | number }[]; next_cursor: string | null } = await nango.listRecords({
        providerConfigKey: PCK,
        connectionId: a.connectionId,
        model: "models",
        limit: 2,
        cursor,
      });
      expect(page.records.length).toBeLessThanOrEqual(2);
      paged.push(...page.records.map((r) => String(r.id)));
      cursor = page.next_cursor;
    } while (cursor);
    expect(paged).toEqual(all.map((r) => String(r.id)));

    const two = all.slice(0, 2).map((r) => String(r.id));
    expect(
      (await nango.listRecords({ providerConfigKey: PCK, connectionId: a.connectionId, model: "models", ids: two })).records.map((r) => String(r.id)).sort(),
    ).toEqual([...two].sort());
    expect((await nango.listRecords({ providerConfigKey: PCK, connectionId: a.connectionId, model: "models", filter: "deleted" })).records).toEqual([]);
    expect((await nango.listRecords({ providerConfigKey: PCK, connectionId: a.connectionId, model: "models", filter: "added,updated" })).records).toHaveLength(
      all.length,
    );
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await nango.listRecords({ providerConfigKey: PCK, connectionId: a.connectionId, model: "models", modifiedAfter: future })).records).toEqual([]);
    const past = new Date(0).toISOString();
    expect((await nango.listRecords({ providerConfigKey: PCK, connectionId: a.connectionId, model: "models", modifiedAfter: past })).records).toHaveLength(
      all.length,
    );

    expect(
      await refusal(nango.pruneRecords({ providerConfigKey: PCK, connectionId: a.connectionId, model: "models", untilCursor: all[0]!._nango_metadata.cursor })),
    ).toMatchObject({ status: 501, code: "unsupported" });
  });

  it("syncs: trigger one, all and reset; status; pause and start; frequency; variants unsupported", async () => {
    use("triggerSync", "syncStatus", "pauseSync", "startSync", "updateSyncConnectionFrequency", "createSyncVariant", "deleteSyncVariant");
    const a = tenants[0]!;
    // Each resolves (axios throws on any error status).
    await nango.triggerSync(PCK, ["models"], a.connectionId);
    await nango.triggerSync(PCK);
    await nango.triggerSync(PCK, ["models"], a.connectionId, { reset: true });
    expect(await refusal(nango.triggerSync(PCK, ["not-a-sync"], a.connectionId))).toMatchObject({ status: 400 });

    const all = await nango.syncStatus(PCK, "*", a.connectionId);
    expect(all.syncs.map((s) => s.name)).toEqual(expect.arrayContaining(["models", "files"]));
    // The SDK's SyncStatus fields.
    for (const s of all.syncs)
      expect(s).toMatchObject({
        id: expect.any(String),
        type: "INCREMENTAL",
        frequency: expect.any(String),
        latestResult: expect.any(Object),
        recordCount: expect.any(Object),
        checkpoint: null,
      });
    await nango.pauseSync(PCK, ["files"], a.connectionId);
    expect((await nango.syncStatus(PCK, ["files"], a.connectionId)).syncs).toMatchObject([{ name: "files", status: "PAUSED" }]);
    await nango.startSync(PCK, ["files"], a.connectionId);
    expect((await nango.syncStatus(PCK, ["files"], a.connectionId)).syncs[0]!.status).not.toBe("PAUSED");

    expect(await nango.updateSyncConnectionFrequency(PCK, "models", a.connectionId, "every 2h")).toEqual({ frequency: "every 2h" });
    expect((await nango.syncStatus(PCK, ["models"], a.connectionId)).syncs[0]!.frequency).toBe("every 2h");
    expect(await nango.updateSyncConnectionFrequency(PCK, "models", a.connectionId, null)).toEqual({ frequency: expect.any(String) });

    const variant = { provider_config_key: PCK, connection_id: a.connectionId, name: "models", variant: "v2" };
    expect(await refusal(nango.createSyncVariant(variant))).toMatchObject({ status: 501, code: "unsupported" });
    expect(await refusal(nango.deleteSyncVariant(variant))).toMatchObject({ status: 501, code: "unsupported" });
  });

  it("environment variables: none (terapi's configuration is Worker variables); scripts config unsupported", async () => {
    use("getEnvironmentVariables", "getScriptsConfig");
    expect(await nango.getEnvironmentVariables()).toEqual([]);
    expect(await refusal(nango.getScriptsConfig())).toMatchObject({ status: 501, code: "unsupported" });
  });

  it("createReconnectSession: the end user's new key replaces the connection's", async () => {
    use("createReconnectSession");
    const c = tenants[2]!;
    const session = await nango.createReconnectSession({ connection_id: c.connectionId, integration_id: OTHER_PCK });
    const newKey = await simKey();
    await submitConnectForm(session.data.token, OTHER_PCK, newKey);
    await patchEnvironment({ reveal_credentials: true });
    expect(await nango.getToken(OTHER_PCK, c.connectionId)).toMatchObject({ apiKey: newKey });
    await patchEnvironment({ reveal_credentials: false });
    expect(await refusal(nango.createReconnectSession({ connection_id: "nope", integration_id: OTHER_PCK }))).toMatchObject({ status: 404 });
  });

  it("deleteConnection", async () => {
    use("deleteConnection");
    const c = tenants[2]!;
    expect((await nango.deleteConnection(OTHER_PCK, c.connectionId)).status).toBeLessThan(300);
    expect((await nango.listConnections({ connectionId: c.connectionId })).connections).toEqual([]);
  });

  it("webhooks: verifyIncomingWebhookRequest and a Standard Webhooks library verify every one; bodies have the SDK's shapes", async () => {
    use("verifyIncomingWebhookRequest");
    // A key the provider rejects on the connect page: a failed auth event.
    const session = await nango.createConnectSession({ end_user: { id: "rejected-user" } });
    const rejected = await postConnectForm(session.data.token, PCK, "sk-not-a-key-the-provider-knows");
    expect(rejected.status).toBe(400);
    // A provider webhook forwarded: its connection holds the provider's signing secret (the SDK has no createConnection).
    const providerSecret = `whsec_${Buffer.from("provider-secret-for-nango-sdk-test").toString("base64")}`;
    const created = await fetch(`${terapi.origin}/connections`, {
      method: "POST",
      headers: { authorization: `Bearer ${secrets.secretKey}`, "content-type": "application/json" },
      body: JSON.stringify({
        provider_config_key: PCK,
        connection_id: "hooked",
        credentials: { type: "API_KEY", apiKey: await simKey() },
        connection_config: { webhook_secret: providerSecret },
      }),
    });
    expect(created.status).toBe(201);
    const event = JSON.stringify({
      id: "evt_provider_1",
      object: "event",
      type: "response.completed",
      created_at: Math.floor(Date.now() / 1000),
      data: { id: "resp_1" },
    });
    const sentAt = new Date();
    const inbound = await fetch(`${terapi.origin}/webhook/${PCK}/hooked`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "webhook-id": "wh_provider_1",
        "webhook-timestamp": String(Math.floor(sentAt.getTime() / 1000)),
        "webhook-signature": new Webhook(providerSecret).sign("wh_provider_1", sentAt, event),
      },
      body: event,
    });
    expect(inbound.status).toBe(200);

    const verifier = new Nango({ apiKey: secrets.secretKey, host: terapi.origin, webhookSigningKey: webhookSecret });
    const wh = new Webhook(webhookSecret);
    const want = (b: { type: string; operation?: string; success?: boolean }) =>
      `${b.type}${b.operation ? `:${b.operation}` : ""}${b.success === false ? ":failed" : ""}`;
    const events = await waitFor(
      async () => {
        const got = await received();
        const kinds = new Set(got.map((r) => want(JSON.parse(r.body) as { type: string; operation?: string; success?: boolean })));
        return ["auth:creation", "auth:creation:failed", "auth:override", "auth:deletion", "sync", "async_action", "forward"].every((k) => kinds.has(k))
          ? got
          : undefined;
      },
      "auth (creation, override, deletion), sync and async_action webhooks",
      60_000,
      100,
    );

    for (const r of events) {
      expect(verifier.verifyIncomingWebhookRequest(r.body, r.headers)).toBe(true);
      expect(() => wh.verify(r.body, r.headers)).not.toThrow();
      // A changed body fails both.
      const tampered = r.body.replace(/}$/, ',"x":1}');
      expect(verifier.verifyIncomingWebhookRequest(tampered, r.headers)).toBe(false);
      expect(() => wh.verify(tampered, r.headers)).toThrow();

      const body = JSON.parse(r.body) as { type: string; id: string };
      expect(body.id).toMatch(/^evt_/); // terapi's own fields stay, next to Nango's
      if (body.type === "auth") checkAuth(body);
      else if (body.type === "sync") checkSync(body);
      else if (body.type === "async_action") checkAsyncAction(body);
      else if (body.type === "forward") checkForward(body, event);
      else throw new Error(`unexpected event ${body.type}`);
    }
    // The SDK's key fallback (secretKey) is not the signing key: it must not verify.
    expect(nango.verifyIncomingWebhookRequest(events[0]!.body, events[0]!.headers)).toBe(false);
  });
});

// --- runtime shape checks against the SDK's exported webhook types ------------------
// (the bodies are built as those types in src/webhooks/nango-body.ts, which tsc checks)

function checkAuth(b: unknown): asserts b is NangoAuthWebhookBody {
  expect(b).toMatchObject({
    type: "auth",
    from: expect.any(String),
    connectionId: expect.any(String),
    providerConfigKey: expect.any(String),
    authMode: "API_KEY",
    provider: "openai",
    environment: expect.any(String),
    operation: expect.stringMatching(/^(creation|override|refresh|deletion|unknown)$/),
    success: expect.any(Boolean),
  });
  const body = b as NangoAuthWebhookBody;
  if (body.endUser) expect(body.endUser).toMatchObject({ endUserId: expect.any(String), tags: expect.any(Object) });
  if (!body.success) {
    expect(body.error).toMatchObject({ type: expect.any(String), description: expect.any(String) });
    expect(body.error.description).not.toContain("sk-not-a-key"); // the key never travels in an event
  }
}

function checkSync(b: unknown): asserts b is NangoSyncWebhookBody {
  expect(b).toMatchObject({
    type: "sync",
    from: expect.any(String),
    connectionId: expect.any(String),
    providerConfigKey: expect.any(String),
    syncName: expect.any(String),
    syncVariant: expect.any(String),
    model: expect.any(String),
    syncType: "INCREMENTAL",
    success: expect.any(Boolean),
  });
  const body = b as NangoSyncWebhookBody;
  if (body.success) {
    expect(Date.parse(body.modifiedAfter)).not.toBeNaN();
    expect(body.responseResults).toEqual({ added: expect.any(Number), updated: expect.any(Number), deleted: expect.any(Number) });
  } else {
    expect(body.error).toMatchObject({ type: expect.any(String), description: expect.any(String) });
    expect(Date.parse(body.startedAt)).not.toBeNaN();
    expect(Date.parse(body.failedAt)).not.toBeNaN();
  }
}

function checkForward(b: unknown, providerBody: string): asserts b is NangoForwardWebhookBody {
  expect(b).toMatchObject({
    type: "forward",
    from: expect.any(String),
    connectionId: "hooked",
    providerConfigKey: PCK,
    payload: JSON.parse(providerBody) as unknown,
  });
}

function checkAsyncAction(b: unknown): asserts b is NangoAsyncActionWebhookBody {
  expect(b).toMatchObject({
    type: "async_action",
    from: expect.any(String),
    connectionId: expect.any(String),
    providerConfigKey: expect.any(String),
    payload: { id: expect.any(String), statusUrl: expect.stringMatching(/^\/action\//) },
  });
}
