import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { getCookie, setCookie } from "hono/cookie";
import { ConnectedPage, ConnectErrorPage, ConnectForm, type FormState, type IntegrationChoice } from "../connect/page";
import { publicUrl } from "../connect/public-url";
import type { ConnectSession, SessionLookup } from "../connect/session-store";
import { CONNECT_SESSION_TTL_MS, hashSessionToken, looksLikeToken, newSessionToken } from "../connect/tokens";
import { createConnection, updateConnection } from "../connections/lifecycle";
import { registryClient } from "../bindings/registry-client";
import type { AppEnv } from "../env";
import { ApiError, badRequest, payloadTooLarge, unknownConnection } from "../errors";
import { createRouter } from "../openapi";
import { getProvider } from "../providers/catalog";
import { htmlResponse } from "../ui/html";
import { commonErrors, EndUserSchema, errorResponse, hasControlCharacter, TagsSchema, UniqueKeySchema } from "./schemas";

// --- POST /connect/sessions (secret key) ----------------------------------------

const SessionResponse = {
  201: {
    description: "The session",
    content: {
      "application/json": {
        schema: z.object({ data: z.object({ token: z.string(), connect_link: z.string().url(), expires_at: z.string() }) }),
      },
    },
  },
  ...commonErrors,
};

const createSession = createRoute({
  method: "post",
  path: "/sessions",
  tags: ["Connections"],
  summary: "Create a connect session: a 30-minute link where an end user pastes their own API key",
  description:
    "The link opens terapi's hosted connect page. The key is verified with the provider, stored like `POST /connections` " +
    "(with this end user and tags, and a generated connection id) and announced by an `auth` webhook; your backend never sees it. " +
    "A link works until it expires or a connection is made with it. As in Nango, `end_user` may be left out when `tags` name the connection.",
  request: {
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z
            .object({
              end_user: EndUserSchema.optional(),
              tags: TagsSchema.optional(),
              allowed_integrations: z.array(UniqueKeySchema).min(1).max(50).optional().openapi({ description: "Default: every integration" }),
            })
            .refine((b) => b.end_user !== undefined || (b.tags !== undefined && Object.keys(b.tags).length > 0), {
              message: "end_user or tags is required",
              path: ["end_user"],
            }),
        },
      },
    },
  },
  responses: SessionResponse,
});

const createReconnectSession = createRoute({
  method: "post",
  path: "/sessions/reconnect",
  tags: ["Connections"],
  summary: "Create a connect session that replaces the key of an existing connection",
  description:
    "The end user pastes a new key on the connect page; it is verified and replaces the connection's key (an `auth` webhook with operation `override`).",
  request: {
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z.object({
            connection_id: z.string().min(1),
            integration_id: UniqueKeySchema,
            end_user: EndUserSchema.optional(),
            tags: TagsSchema.optional(),
          }),
        },
      },
    },
  },
  responses: { ...SessionResponse, 404: errorResponse("Unknown connection") },
});

async function openSession(c: Context<AppEnv>, session: Omit<ConnectSession, "created_at" | "expires_at">) {
  const token = newSessionToken();
  const now = Date.now();
  const expiresAt = now + CONNECT_SESSION_TTL_MS;
  await registryClient(c.env).createConnectSession(await hashSessionToken(token), { ...session, created_at: now, expires_at: expiresAt });
  const link = publicUrl(c.env, c.req.url, "/connect");
  link.searchParams.set("token", token);
  return { data: { token, connect_link: link.toString(), expires_at: new Date(expiresAt).toISOString() } };
}

export const connectSessionRoutes = createRouter()
  .openapi(createSession, async (c) => {
    const { end_user, tags, allowed_integrations } = c.req.valid("json");
    if (allowed_integrations) {
      const known = new Set((await registryClient(c.env).listIntegrations()).map((i) => i.unique_key));
      const unknown = allowed_integrations.filter((k) => !known.has(k));
      if (unknown.length > 0)
        throw badRequest("invalid_request", `allowed_integrations: no integration with unique_key ${unknown.map((k) => `'${k}'`).join(", ")}`);
    }
    const session = await openSession(c, {
      end_user: end_user ?? null,
      tags: tags ?? null,
      allowed_integrations: allowed_integrations ? [...new Set(allowed_integrations)] : null,
      reconnect: null,
    });
    return c.json(session, 201);
  })
  .openapi(createReconnectSession, async (c) => {
    const { connection_id, integration_id, end_user, tags } = c.req.valid("json");
    const existing = await registryClient(c.env).getConnection(integration_id, connection_id);
    if (!existing) throw unknownConnection(integration_id, connection_id);
    const session = await openSession(c, {
      end_user: end_user ?? existing.end_user,
      tags: tags ?? null,
      allowed_integrations: [integration_id],
      reconnect: { provider_config_key: integration_id, connection_id },
    });
    return c.json(session, 201);
  });

// --- the hosted page (public: the token, then the browser's cookie, is the authentication) ----

type Refusal = Extract<SessionLookup, { ok: false }>["reason"] | "missing";

const REFUSALS: Record<Refusal, { status: number; title: string; message: string }> = {
  missing: { status: 400, title: "Link incomplete", message: "This connect link is missing its token. Open the full link you were given." },
  unknown: { status: 404, title: "Link not valid", message: "This connect link is not valid. It may have been mistyped or cut short." },
  expired: { status: 410, title: "Link expired", message: "This connect link has expired (links last 30 minutes)." },
  used: { status: 410, title: "Link already used", message: "This connect link was already used to connect an account." },
  busy: { status: 409, title: "Already connecting", message: "This link is being used in another window right now. Wait a moment, then reload." },
  opened: { status: 410, title: "Link opened elsewhere", message: "This connect link was already opened in another browser. Ask for a new link." },
};

const refuse = (reason: Refusal) => {
  const r = REFUSALS[reason];
  return htmlResponse(r.status, (nonce) => <ConnectErrorPage nonce={nonce} title={r.title} message={r.message} />);
};

/**
 * The link's token is exchanged on first load for this cookie, and the page
 * redirects to a clean `/connect`: the token is in one logged URL only, and
 * worthless there, since the session is then bound to the browser holding the
 * cookie's secret (`<SHA-256 of the token>.<random secret>`).
 */
const CONNECT_COOKIE = "terapi_connect";
const COOKIE_SHAPE = /^([0-9a-f]{64})\.([A-Za-z0-9_-]{43})$/;

type Browser = { tokenHash: string; secret: string };

function browserOf(c: Context<AppEnv>): Browser | null {
  const m = COOKIE_SHAPE.exec(getCookie(c, CONNECT_COOKIE) ?? "");
  return m ? { tokenHash: m[1]!, secret: m[2]! } : null;
}

/** The integrations this session may connect to, that still exist and whose provider terapi knows. */
async function choices(env: Env, allowed: string[] | null): Promise<IntegrationChoice[]> {
  const all = await registryClient(env).listIntegrations();
  return all
    .filter((i) => (allowed === null || allowed.includes(i.unique_key)) && getProvider(i.provider) !== undefined)
    .map((i) => ({ unique_key: i.unique_key, display_name: i.display_name || i.unique_key }));
}

const form = (status: number, state: FormState) => htmlResponse(status, (nonce) => <ConnectForm nonce={nonce} {...state} />);

/** `?token=`: bind the session to this browser, set the cookie, and go on to the clean URL. */
async function openLink(c: Context<AppEnv>, token: string): Promise<Response> {
  if (!token) return refuse("missing");
  if (!looksLikeToken(token)) return refuse("unknown");
  const tokenHash = await hashSessionToken(token);
  const known = browserOf(c);
  // The same browser opening its link again keeps its secret.
  const secret = known?.tokenHash === tokenHash ? known.secret : newSessionToken();
  const opened = await registryClient(c.env).openConnectSession(tokenHash, await hashSessionToken(secret));
  if (!opened.ok) return refuse(opened.reason);
  setCookie(c, CONNECT_COOKIE, `${tokenHash}.${secret}`, {
    httpOnly: true,
    secure: new URL(c.req.url).protocol === "https:",
    sameSite: "Lax",
    path: "/connect",
    maxAge: Math.ceil(CONNECT_SESSION_TTL_MS / 1000),
  });
  c.header("cache-control", "no-store");
  c.header("referrer-policy", "no-referrer");
  return c.redirect("/connect", 303);
}

async function showForm(c: Context<AppEnv>): Promise<Response> {
  const token = c.req.query("token");
  if (token !== undefined) return openLink(c, token);
  const browser = browserOf(c);
  if (!browser) return refuse("missing");
  const lookup = await registryClient(c.env).readConnectSession(browser.tokenHash, await hashSessionToken(browser.secret));
  if (!lookup.ok) return refuse(lookup.reason);
  const integrations = await choices(c.env, lookup.session.allowed_integrations);
  if (integrations.length === 0)
    return htmlResponse(409, (nonce) => (
      <ConnectErrorPage nonce={nonce} title="Nothing to connect" message="None of the integrations this link allows exists any more." />
    ));
  return form(200, { integrations });
}

const field = (body: Record<string, unknown>, name: string) => {
  const v = body[name];
  return typeof v === "string" ? v.trim() : "";
};

async function submit(c: Context<AppEnv>): Promise<Response> {
  const body = await c.req.parseBody();
  const browser = browserOf(c);
  if (!browser) return refuse("missing");
  const hash = browser.tokenHash;
  const registry = registryClient(c.env);
  const claimed = await registry.claimConnectSession(hash, await hashSessionToken(browser.secret));
  if (!claimed.ok) return refuse(claimed.reason);

  const { session, claim } = claimed;
  let done = false;
  try {
    const integrations = await choices(c.env, session.allowed_integrations);
    const selected = field(body, "integration");
    const organization_id = field(body, "organization_id");
    const project_id = field(body, "project_id");
    const state: FormState = { integrations, selected, organization_id, project_id };
    const integration = integrations.find((i) => i.unique_key === selected);
    if (!integration) return await form(400, { ...state, error: { field: "integration", message: "Choose one of the integrations listed." } });
    const apiKey = field(body, "api_key");
    if (!apiKey) return await form(400, { ...state, error: { field: "api_key", message: "Enter your API key." } });
    if (apiKey.length > 4096) return await form(400, { ...state, error: { field: "api_key", message: "That is too long to be an API key." } });
    // Each is sent in a header: a line break or other control character could never work.
    for (const [name, value] of [
      ["api_key", apiKey],
      ["organization_id", organization_id],
      ["project_id", project_id],
    ] as const)
      if (hasControlCharacter(value))
        return await form(400, { ...state, error: { field: name, message: "Remove the line break or other control character: this must be a single line." } });

    let connectionId: string;
    const connection_config = { ...(organization_id ? { organization_id } : {}), ...(project_id ? { project_id } : {}) };
    try {
      const { reconnect } = session;
      ({ connection_id: connectionId } = reconnect
        ? await updateConnection(c.env, c.executionCtx, reconnect.provider_config_key, reconnect.connection_id, {
            credentials: { type: "API_KEY", apiKey },
            connection_config,
            ...(session.tags ? { tags: session.tags } : {}),
          })
        : await createConnection(c.env, c.executionCtx, {
            provider_config_key: integration.unique_key,
            credentials: { type: "API_KEY", apiKey },
            connection_config,
            ...(session.end_user ? { end_user: session.end_user } : {}),
            ...(session.tags ? { tags: session.tags } : {}),
          }));
    } catch (err) {
      // The provider's reason (already scrubbed of the key by the credential check), next to the key field.
      if (err instanceof ApiError && err.status < 500) return await form(400, { ...state, error: { field: "api_key", message: err.message } });
      if (err instanceof ApiError) return await form(err.status, { ...state, error: { field: "api_key", message: `${err.message}. Try again in a moment.` } });
      throw err;
    }
    done = true;
    await registry.completeConnectSession(hash, claim, { provider_config_key: integration.unique_key, connection_id: connectionId });
    return await htmlResponse(200, (nonce) => <ConnectedPage nonce={nonce} integration={integration.display_name} />);
  } finally {
    if (!done) await registry.releaseConnectSession(hash, claim);
  }
}

/** Form posts are tiny; anything bigger is not our form. */
const FORM_LIMIT = 16 * 1024;

export const connectPageRoutes = createRouter();
connectPageRoutes.get("/connect", showForm);
connectPageRoutes.post(
  "/connect",
  bodyLimit({
    maxSize: FORM_LIMIT,
    onError: () => {
      throw payloadTooLarge("Form body", FORM_LIMIT);
    },
  }),
  submit,
);
