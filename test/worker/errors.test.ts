import { createExecutionContext, env, runInDurableObject, SELF, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app";
import { connectionObject } from "../../src/bindings/stubs";
import { durableObjectName, logUnhandled, scrubSecrets } from "../../src/error-log";
import { ApiError, apiError, badRequest, ERROR_CODES, ERROR_STATUS, type ErrorCode, unknownConnection, unknownIntegration } from "../../src/errors";
import { auth, TERAPI } from "../harness/api";
import { createConnection, createIntegration, uid } from "../harness/management";

type JsonSchema = { $ref?: string; type?: string; properties?: Record<string, JsonSchema>; required?: string[]; enum?: string[] };
type OpenApi = {
  components: { schemas: Record<string, JsonSchema> };
  paths: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema: JsonSchema }> }> }>>;
};

const openApi = async () => (await (await SELF.fetch(`${TERAPI}/openapi.json`)).json()) as OpenApi;

/** Does `body` have the shape of /openapi.json's Error schema (no field it does not list, every field it requires)? */
function matchesErrorSchema(schema: JsonSchema, body: unknown): string[] {
  const problems: string[] = [];
  const check = (s: JsonSchema, value: unknown, at: string) => {
    if (s.enum && !s.enum.includes(value as string)) problems.push(`${at}: '${String(value)}' is not in the enum`);
    if (s.type === "string" && typeof value !== "string") problems.push(`${at}: not a string`);
    if (s.type === "object") {
      if (typeof value !== "object" || value === null) return void problems.push(`${at}: not an object`);
      for (const key of s.required ?? []) if (!(key in value)) problems.push(`${at}.${key}: missing`);
      for (const [key, v] of Object.entries(value)) {
        const sub = s.properties?.[key];
        if (!sub) problems.push(`${at}.${key}: not in the schema`);
        else check(sub, v, `${at}.${key}`);
      }
    }
  };
  check(schema, body, "body");
  return problems;
}

describe("the error catalogue", () => {
  it("/openapi.json has one Error schema, its code enum is every code of the catalogue, and every documented error response uses it", async () => {
    const doc = await openApi();
    const error = doc.components.schemas.Error;
    expect(error.required).toEqual(["error"]);
    const inner = error.properties?.error;
    expect(inner?.required?.sort()).toEqual(["code", "message"]);
    expect(Object.keys(inner?.properties ?? {}).sort()).toEqual(["code", "details", "message"]);
    expect([...(inner?.properties?.code.enum ?? [])].sort()).toEqual([...ERROR_CODES].sort());
    expect(ERROR_CODES).toContain("unknown_connection");
    expect(ERROR_CODES).toContain("unknown_integration");

    // Every JSON 4xx/5xx a route documents (the proxy's relayed provider errors aside) is that one schema.
    const others: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(ops))
        for (const [status, res] of Object.entries(op.responses ?? {})) {
          const schema = res.content?.["application/json"]?.schema;
          if (Number(status) >= 400 && schema && schema.$ref !== "#/components/schemas/Error" && !path.startsWith("/proxy/{"))
            others.push(`${method.toUpperCase()} ${path} ${status}`);
        }
    expect(others).toEqual([]);
  });

  it("the routes answer in that schema, with the catalogue's status for each code", async () => {
    const pck = await createIntegration();
    const created = await createConnection(pck);
    expect(created.status).toBe(201);
    const proxyHeaders = { ...auth, "Connection-Id": `ghost-${uid()}`, "Provider-Config-Key": pck };
    const answers: [string, Response][] = [
      ["unknown connection (path)", await SELF.fetch(`${TERAPI}/connections/ghost-${uid()}?provider_config_key=${pck}`, { headers: auth })],
      ["unknown connection (proxy headers)", await SELF.fetch(`${TERAPI}/proxy/v1/models`, { headers: proxyHeaders })],
      ["unknown connection (records)", await SELF.fetch(`${TERAPI}/records?model=files`, { headers: proxyHeaders })],
      ["unknown integration (path)", await SELF.fetch(`${TERAPI}/integrations/none-${uid()}`, { headers: auth })],
      [
        "unknown integration (body)",
        await SELF.fetch(`${TERAPI}/connections`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({ provider_config_key: `none-${uid()}`, credentials: { type: "API_KEY", apiKey: "sk-test-good" } }),
        }),
      ],
      ["validation", await SELF.fetch(`${TERAPI}/integrations`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: "{}" })],
      ["bad cursor", await SELF.fetch(`${TERAPI}/connections?cursor=nope`, { headers: auth })],
      ["no secret key", await SELF.fetch(`${TERAPI}/integrations`)],
      ["no route", await SELF.fetch(`${TERAPI}/no-such-route`, { headers: auth })],
    ];
    const schema = (await openApi()).components.schemas.Error;
    const seen: Record<string, ErrorCode> = {};
    for (const [label, res] of answers) {
      const body = (await res.json()) as { error: { code: ErrorCode } };
      expect(matchesErrorSchema(schema, body), label).toEqual([]);
      expect(res.status, label).toBe(ERROR_STATUS[body.error.code]);
      seen[label] = body.error.code;
    }
    expect(seen).toEqual({
      "unknown connection (path)": "unknown_connection",
      "unknown connection (proxy headers)": "unknown_connection",
      "unknown connection (records)": "unknown_connection",
      "unknown integration (path)": "unknown_integration",
      "unknown integration (body)": "unknown_integration",
      validation: "invalid_request",
      "bad cursor": "invalid_cursor",
      "no secret key": "unauthorized",
      "no route": "not_found",
    });
  });
});

describe("the catalogue at compile time", () => {
  /** Never run: `npx tsc --noEmit` fails if any of these lines compiles (a code with another status, a code not in the catalogue). */
  function wouldNotCompile() {
    // @ts-expect-error unknown_connection is a 404, never a 400
    void new ApiError(400, "unknown_connection", "x");
    // @ts-expect-error the old spelling is not a code any more
    void apiError("connection_not_found", "x");
    // @ts-expect-error nor is this one
    void apiError("integration_not_found", "x");
    // @ts-expect-error unknown_integration is not a 400
    void badRequest("unknown_integration", "x");
    // @ts-expect-error a relayed code has no status of its own: it must be given
    void apiError("upstream_error", "x");
  }

  it("constructors take their status from the catalogue", () => {
    expect(wouldNotCompile).toBeTypeOf("function");
    expect(unknownConnection("openai", "tenant-42")).toMatchObject({
      status: 404,
      code: "unknown_connection",
      message: "No connection 'tenant-42' for integration 'openai'",
    });
    expect(unknownIntegration("openai")).toMatchObject({ status: 404, code: "unknown_integration" });
    for (const code of ERROR_CODES) {
      const status = ERROR_STATUS[code];
      expect(status === "relayed" || (status >= 400 && status <= 599), code).toBe(true);
    }
  });
});

describe("unhandled errors", () => {
  afterEach(() => vi.restoreAllMocks());

  it("are a 500 internal_error to the caller and logged with message and stack, scrubbed of every secret", async () => {
    const logged: unknown[][] = [];
    vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => void logged.push(args));
    const leaky = `KV exploded reading with Authorization: Bearer ${env.TERAPI_SECRET_KEY.split(",")[0]} and apiKey sk-proj-abcdefghijklmnop`;
    // The real app in workerd, with a KV namespace that fails: the proxy's secret lookup throws something no one handles.
    const brokenKv = { get: () => Promise.reject(new Error(leaky)) } as unknown as KVNamespace;
    const ctx = createExecutionContext();
    const res = await createApp().fetch(
      new Request(`${TERAPI}/proxy/v1/models`, { headers: { ...auth, "Connection-Id": `c-${uid()}`, "Provider-Config-Key": "openai" } }),
      { ...env, SECRETS: brokenKv },
      ctx,
    );
    await waitOnExecutionContext(ctx);

    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: { code: "internal_error", message: "Internal error" } });
    expect(text).not.toContain("exploded");

    const line = logged.find(([what]) => what === "unhandled error");
    expect(line).toBeDefined();
    const fields = line?.[1] as { name: string; message: string; stack: string };
    expect(fields.name).toBe("Error");
    expect(fields.message).toContain("KV exploded reading");
    expect(fields.stack).toContain("KV exploded reading");
    expect(fields.stack.split("\n").length).toBeGreaterThan(1);
    const all = JSON.stringify(logged);
    for (const secret of [...env.TERAPI_SECRET_KEY.split(","), "sk-proj-abcdefghijklmnop"]) expect(all).not.toContain(secret);
    expect(fields.message).toContain("Bearer [redacted]");
  });

  it("inside a connection's Durable Object name the object: its integration and connection id, not only the class", async () => {
    const pck = await createIntegration();
    const created = await createConnection(pck);
    const connectionId = (created.body as { connection_id: string }).connection_id;
    const logged: unknown[][] = [];
    vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => void logged.push(args));
    await runInDurableObject(connectionObject(env, pck, connectionId), (_instance, state) => {
      logUnhandled("sync run failed", new Error("upstream said sk-admin-0123456789abcdef"), { object: durableObjectName("ConnectionObject", state) });
    });
    expect(logged).toHaveLength(1);
    expect(logged[0]?.[0]).toBe("sync run failed");
    expect(logged[0]?.[1]).toMatchObject({ object: `ConnectionObject ${pck}/${connectionId}`, name: "Error", message: "upstream said sk-[redacted]" });
  });
});

describe("scrubSecrets", () => {
  const env = { TERAPI_SECRET_KEY: "tk-one-0001, tk-two-0002", TERAPI_ENCRYPTION_KEY: "k1:q4e1cG9hH0m2q6bq3vJ0xS9Sg3mB4n0q6m2Tt0mV8Ik=" };
  it.each([
    ["a bearer token", "authorization: Bearer abc.def-ghi", "authorization: Bearer [redacted]", ["abc.def-ghi"]],
    ["OpenAI keys", "key sk-proj-AbC_123-xyz and sk-admin-zzzz1111", "key sk-[redacted] and sk-[redacted]", ["AbC_123", "zzzz1111"]],
    ["a webhook secret", "secret whsec_RdvaYFYUXuIFuEbvZ+/w=", "secret whsec_[redacted]", ["RdvaYFYU"]],
    [
      "JSON fields named like secrets",
      `{"apiKey":"plain-value-1","token":"t0k3n","password":"hunter2","ok":"kept"}`,
      `{"apiKey":"[redacted]","token":"[redacted]","password":"[redacted]","ok":"kept"}`,
      ["plain-value-1", "t0k3n", "hunter2"],
    ],
    [
      "the environment's secret keys by value",
      "compared tk-two-0002 against tk-one-0001",
      "compared [redacted] against [redacted]",
      ["tk-one-0001", "tk-two-0002"],
    ],
    ["the master key's material", "ring q4e1cG9hH0m2q6bq3vJ0xS9Sg3mB4n0q6m2Tt0mV8Ik= broke", "ring [redacted] broke", ["q4e1cG9h"]],
  ])("removes %s", (_label, input, expected, gone) => {
    const out = scrubSecrets(input, env);
    expect(out).toBe(expected);
    for (const g of gone) expect(out).not.toContain(g);
  });

  it("leaves text without secrets as it is", () => {
    const text = "No connection 'tenant-42' for integration 'openai' at ConnectionObject openai/tenant-42";
    expect(scrubSecrets(text, env)).toBe(text);
  });
});
