import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { DashboardPage, LoginPage, type ConnectionRow } from "../dashboard/page";
import { DASHBOARD_COOKIE, DASHBOARD_SESSION_MS, issueDashboardSession, verifyDashboardSession } from "../dashboard/session";
import { registryClient } from "../durable-objects/registry-client";
import { connectionObject } from "../durable-objects/stubs";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { queryIndexLogs } from "../ops-index/read";
import { isSecretKey } from "../middleware/secret-key-auth";
import { createRouter } from "../openapi";
import { htmlResponse } from "../ui/html";

/** Connections shown; each costs two object calls. */
const SHOWN = 50;
const LOG_LINES = 40;

const cookieOptions = { httpOnly: true, secure: true, sameSite: "Strict", path: "/dashboard" } as const;

async function authorized(c: Context<AppEnv>): Promise<"bearer" | "cookie" | null> {
  const bearer = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization") ?? "");
  if (bearer && (await isSecretKey(c.env, bearer[1].trim()))) return "bearer";
  if (await verifyDashboardSession(c.env, getCookie(c, DASHBOARD_COOKIE))) return "cookie";
  return null;
}

/** Tolerates an object that cannot answer (or a build without that method): the page still renders. */
const settle = <T,>(p: Promise<T>): Promise<T | null> => p.catch(() => null);

async function show(c: Context<AppEnv>): Promise<Response> {
  const via = await authorized(c);
  if (!via) return new Response(null, { status: 303, headers: { location: "/dashboard/login", "cache-control": "no-store" } });
  const page = await registryClient(c.env).listConnections({ limit: SHOWN });
  const connections = page?.connections ?? [];
  // The latest operations across every connection come from the environment-wide index (one D1 query);
  // only the connections shown on this page are asked for their live state.
  const linesRead = settle(queryIndexLogs(c.env.INDEX_DB, {}, { limit: LOG_LINES }));
  // One round: the shown connections' objects are asked at once (2 calls each, far under the subrequest limit).
  const rows: ConnectionRow[] = await Promise.all(
    connections.map(async (connection) => {
      const stub = connectionObject(c.env, connection.provider_config_key, connection.connection_id);
      const [limiter, syncs] = await Promise.all([settle(stub.limiterState()), settle(stub.syncOverview(connection.connection_id))]);
      return { connection, limiter, syncs } satisfies ConnectionRow;
    }),
  );
  const logs = (await linesRead) ?? [];
  const now = Date.now();
  return htmlResponse(200, (nonce) => (
    <DashboardPage nonce={nonce} rows={rows} logs={logs} more={page?.next_cursor != null} cookie={via === "cookie"} now={now} />
  ));
}

const loginPage = (status: number, error?: string) => htmlResponse(status, (nonce) => <LoginPage nonce={nonce} error={error} />);

async function login(c: Context<AppEnv>): Promise<Response> {
  const body = await c.req.parseBody();
  const key = typeof body.secret_key === "string" ? body.secret_key.trim() : "";
  if (!key || !(await isSecretKey(c.env, key))) return loginPage(401, "That is not one of this environment's secret keys.");
  setCookie(c, DASHBOARD_COOKIE, await issueDashboardSession(key), { ...cookieOptions, maxAge: DASHBOARD_SESSION_MS / 1000 });
  return c.redirect("/dashboard", 303);
}

function logout(c: Context<AppEnv>): Response {
  deleteCookie(c, DASHBOARD_COOKIE, cookieOptions);
  return c.redirect("/dashboard/login", 303);
}

/** `/dashboard`: Bearer secret key, or the login form's cookie. */
export const dashboardRoutes = createRouter();
dashboardRoutes.get("/dashboard", show);
dashboardRoutes.get("/dashboard/login", () => loginPage(200));
dashboardRoutes.post(
  "/dashboard/login",
  bodyLimit({
    maxSize: 8 * 1024,
    onError: () => {
      throw new ApiError(413, "payload_too_large", "Form body too large");
    },
  }),
  login,
);
dashboardRoutes.post("/dashboard/logout", logout);
