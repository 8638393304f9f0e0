import type { Route } from "../http.ts";
import { listBody, missingParam, parseLimit, sendError, sendJson } from "../http.ts";
import type { Tenant } from "../state.ts";
import { newId, nowSec, seededRandom, str } from "../util.ts";
import type { Obj } from "../util.ts";

const DAY = 86_400;
const initialized = new WeakSet<Tenant>();

export function projectObject(name: string, created: number): Obj & { id: string } {
  return { id: newId("proj_", 24), object: "organization.project", name, created_at: created, archived_at: null, status: "active" };
}
export function userObject(i: number, created: number, role = "reader"): Obj & { id: string } {
  return { object: "organization.user", id: newId("user-", 24), name: `Sim User ${i}`, email: `user${i}@example.com`, role, added_at: created };
}

/** Admin tenants start with one project and one owner. */
export function ensureDefaults(t: Tenant): void {
  if (initialized.has(t)) return;
  initialized.add(t);
  if (t.projects.size === 0) t.projects.add(projectObject("Default project", nowSec() - 30 * DAY));
  if (t.users.size === 0) t.users.add(userObject(0, nowSec() - 30 * DAY, "owner"));
}

function costBucket(t: Tenant, start: number, today: number): object {
  const results: object[] = [];
  if (start > today - t.costDays * DAY && start <= today) {
    const value = Math.round(seededRandom(t.key + start)() * 10_000) / 100;
    results.push({ object: "organization.costs.result", amount: { value, currency: "usd" }, line_item: null, project_id: null, organization_id: t.orgId });
  }
  return { object: "bucket", start_time: start, end_time: start + DAY, results };
}

export const adminRoutes: Route[] = [
  {
    method: "GET",
    path: "/v1/organization/projects",
    admin: true,
    handler: (ctx) => {
      ensureDefaults(ctx.tenant);
      const limit = parseLimit(ctx, 20, 100);
      if (limit === null) return;
      const archived = ctx.query.get("include_archived") === "true";
      const page = ctx.tenant.projects.page({
        after: ctx.query.get("after") ?? undefined,
        limit,
        order: "asc",
        filter: archived ? undefined : (p) => p.archived_at === null,
      });
      sendJson(ctx, 200, listBody(page.data, page.has_more));
    },
  },
  {
    method: "POST",
    path: "/v1/organization/projects",
    admin: true,
    handler: (ctx) => {
      ensureDefaults(ctx.tenant);
      const name = str(ctx.json, "name");
      if (!name) return missingParam(ctx, "name");
      sendJson(ctx, 200, ctx.tenant.projects.add(projectObject(name, nowSec())));
    },
  },
  {
    method: "GET",
    path: "/v1/organization/users",
    admin: true,
    handler: (ctx) => {
      ensureDefaults(ctx.tenant);
      const limit = parseLimit(ctx, 20, 100);
      if (limit === null) return;
      const page = ctx.tenant.users.page({ after: ctx.query.get("after") ?? undefined, limit, order: "asc" });
      sendJson(ctx, 200, listBody(page.data, page.has_more));
    },
  },
  {
    method: "GET",
    path: "/v1/organization/costs",
    admin: true,
    handler: (ctx) => {
      const q = ctx.query;
      const startRaw = q.get("start_time");
      if (startRaw === null) return missingParam(ctx, "start_time");
      const startTime = Number(startRaw);
      if (!Number.isInteger(startTime) || startTime < 0)
        return sendError(ctx, 400, `Invalid 'start_time': expected an integer, got '${startRaw}'.`, "invalid_request_error", "start_time", "invalid_type");
      const endTime = q.get("end_time") !== null ? Number(q.get("end_time")) : nowSec();
      const bw = q.get("bucket_width") ?? "1d";
      if (bw !== "1d")
        return sendError(
          ctx,
          400,
          `Invalid value for 'bucket_width': '${bw}'. Supported values are: '1d'.`,
          "invalid_request_error",
          "bucket_width",
          "invalid_value",
        );
      const limit = parseLimit(ctx, 7, 180);
      if (limit === null) return;
      let from = Math.floor(startTime / DAY) * DAY;
      const page = q.get("page");
      if (page) {
        const m = /^page_([A-Za-z0-9+/=_-]+)$/.exec(page);
        const decoded = m ? Number(Buffer.from(m[1], "base64url").toString("utf8")) : NaN;
        if (!Number.isInteger(decoded)) return sendError(ctx, 400, `Invalid 'page': '${page}'.`, "invalid_request_error", "page", "invalid_value");
        from = decoded;
      }
      const today = Math.floor(nowSec() / DAY) * DAY;
      const data: object[] = [];
      let s = from;
      for (; s < endTime && data.length < limit; s += DAY) data.push(costBucket(ctx.tenant, s, today));
      const more = s < endTime;
      sendJson(ctx, 200, { object: "page", data, has_more: more, next_page: more ? "page_" + Buffer.from(String(s)).toString("base64url") : null });
    },
  },
];
