import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { ConnectionPage, type ConnectionDetail } from "../dashboard/connection-page";
import { DashboardPage, LoginPage, NotFoundPage } from "../dashboard/page";
import { DASHBOARD_COOKIE, DASHBOARD_SESSION_MS, issueDashboardSession, revokeDashboardSession, verifyDashboardSession } from "../dashboard/session";
import { registryClient } from "../bindings/registry-client";
import { connectionObject } from "../bindings/stubs";
import type { AppEnv } from "../env";
import { ApiError, payloadTooLarge } from "../errors";
import { checkNotBlocked, clientOf, countFailure } from "../middleware/auth-throttle";
import { queryIndexLogs } from "../ops-index/read";
import { isSecretKey } from "../middleware/secret-key-auth";
import { createRouter } from "../openapi";
import { htmlResponse } from "../ui/html";
import { connectionUsage, dashboardPrices, usageSection } from "../dashboard/usage-data";
import { serverTiming } from "../dashboard/server-timing";

/** Connections listed on the overview (one Registry page; no object is asked about them). */
const SHOWN = 50;
const LOG_LINES = 40;

const cookieOptions = { httpOnly: true, secure: true, sameSite: "Strict", path: "/dashboard" } as const;

async function authorized(c: Context<AppEnv>): Promise<"bearer" | "cookie" | null> {
  const bearer = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization") ?? "");
  if (bearer) {
    // A guess at the secret key like any other (429 once a client has too many).
    const client = clientOf(c.req.raw.headers);
    checkNotBlocked(client);
    if (await isSecretKey(c.env, bearer[1]!.trim())) return "bearer";
    await countFailure(c.env, client);
  }
  if (await verifyDashboardSession(c.env, getCookie(c, DASHBOARD_COOKIE))) return "cookie";
  return null;
}

/** Tolerates an object or the index that cannot answer (or a build without that method): the page still renders. */
const settle = <T,>(p: Promise<T>): Promise<T | null> => p.catch(() => null);

const toLogin = () => new Response(null, { status: 303, headers: { location: "/dashboard/login", "cache-control": "no-store" } });

/**
 * The overview: one Registry page, the environment index's latest lines and
 * top connections (D1). No connection's object is asked, so its cost stays
 * the same at 10 or 100,000 connections.
 */
async function show(c: Context<AppEnv>): Promise<Response> {
  const via = await authorized(c);
  if (!via) return toLogin();
  const now = Date.now();
  const timing = serverTiming();
  const [page, logs, usage] = await Promise.all([
    timing.time("registry", registryClient(c.env).listConnections({ limit: SHOWN })),
    timing.time("logs", settle(queryIndexLogs(c.env.INDEX_DB, {}, { limit: LOG_LINES }, now))),
    timing.time("usage", usageSection(c.env, now, { timing, waitUntil: (p) => c.executionCtx.waitUntil(p) })),
  ]);
  return htmlResponse(
    200,
    (nonce) => (
      <DashboardPage
        nonce={nonce}
        connections={page?.connections ?? []}
        logs={logs ?? []}
        more={page?.next_cursor != null}
        cookie={via === "cookie"}
        usage={usage}
      />
    ),
    { "server-timing": timing.header() },
  );
}

/** One connection's page: its live state from its own object (five calls to that one object). */
async function showConnection(c: Context<AppEnv>): Promise<Response> {
  const via = await authorized(c);
  if (!via) return toLogin();
  const providerConfigKey = c.req.param("providerConfigKey") ?? "";
  const connectionId = c.req.param("connectionId") ?? "";
  const connection = await registryClient(c.env).getConnection(providerConfigKey, connectionId);
  if (!connection)
    return htmlResponse(404, (nonce) => <NotFoundPage nonce={nonce} what={`No connection '${connectionId}' under the integration '${providerConfigKey}'.`} />);
  const now = Date.now();
  const stub = connectionObject(c.env, providerConfigKey, connectionId);
  const [limiter, syncs, usage, logs, prices] = await Promise.all([
    settle(stub.limiterState()),
    settle(stub.syncOverview(connectionId)),
    connectionUsage(c.env, connection, now),
    settle(stub.queryLogs({ limit: LOG_LINES })),
    dashboardPrices(c.env),
  ]);
  const detail: ConnectionDetail = { connection, limiter, syncs, usage, logs, prices };
  return htmlResponse(200, (nonce) => <ConnectionPage nonce={nonce} detail={detail} cookie={via === "cookie"} now={now} />);
}

const loginPage = (status: number, error?: string, headers?: Record<string, string>) =>
  htmlResponse(status, (nonce) => <LoginPage nonce={nonce} error={error} />, headers);

async function login(c: Context<AppEnv>): Promise<Response> {
  const body = await c.req.parseBody();
  const key = typeof body.secret_key === "string" ? body.secret_key.trim() : "";
  const client = clientOf(c.req.raw.headers);
  try {
    checkNotBlocked(client);
    if (!key) return await loginPage(401, "That is not one of this environment's secret keys.");
    if (!(await isSecretKey(c.env, key))) {
      await countFailure(c.env, client);
      return await loginPage(401, "That is not one of this environment's secret keys.");
    }
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 429) throw err;
    return loginPage(429, err.message, { "retry-after": new Headers(err.headers).get("retry-after") ?? "60" });
  }
  setCookie(c, DASHBOARD_COOKIE, await issueDashboardSession(c.env, key), { ...cookieOptions, maxAge: DASHBOARD_SESSION_MS / 1000 });
  return c.redirect("/dashboard", 303);
}

async function logout(c: Context<AppEnv>): Promise<Response> {
  await revokeDashboardSession(c.env, getCookie(c, DASHBOARD_COOKIE));
  deleteCookie(c, DASHBOARD_COOKIE, cookieOptions);
  return c.redirect("/dashboard/login", 303);
}

const LOGIN_FORM_LIMIT = 8 * 1024;

/** `/dashboard`: Bearer secret key, or the login form's cookie. */
export const dashboardRoutes = createRouter();
dashboardRoutes.get("/dashboard", show);
dashboardRoutes.get("/dashboard/login", () => loginPage(200));
dashboardRoutes.get("/dashboard/connections/:providerConfigKey/:connectionId", showConnection);
dashboardRoutes.post(
  "/dashboard/login",
  bodyLimit({
    maxSize: LOGIN_FORM_LIMIT,
    onError: () => {
      throw payloadTooLarge("Form body", LOGIN_FORM_LIMIT);
    },
  }),
  login,
);
dashboardRoutes.post("/dashboard/logout", logout);
