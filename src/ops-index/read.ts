import { LOG_RETENTION_MS } from "../logs/store";
import { toLog, type LogRow } from "../logs/store";
import type { LogCursor, LogQuery, OperationLog } from "../logs/types";
import type { DeliveryRow } from "../webhooks/delivery-queue";
import { toDeliveryView } from "../webhooks/delivery-queue";
import type { DeliveryListQuery, DeliveryView } from "../webhooks/schemas";

/** Which connections an environment-wide read covers (none given: all). */
type Scope = { provider_config_key?: string; connection_id?: string };

type Where = { clauses: string[]; args: unknown[] };

function scoped(scope: Scope): Where {
  const w: Where = { clauses: [], args: [] };
  if (scope.provider_config_key !== undefined) {
    w.clauses.push("provider_config_key = ?");
    w.args.push(scope.provider_config_key);
  }
  if (scope.connection_id !== undefined) {
    w.clauses.push("connection_id = ?");
    w.args.push(scope.connection_id);
  }
  return w;
}

/**
 * The index a read walks, named (`INDEXED BY`) rather than left to SQLite's
 * planner: without statistics it took `type`'s index for a read filtered by
 * connection and type, and walked every proxied line of the environment to
 * find one connection's (12 ms at 20,000 lines, growing with them). The most
 * selective filter present leads; each index ends in (at, id), so the walk is
 * already in the page's order and stops after `limit` matches.
 */
function walkedIndex(scope: Scope, q: LogQuery): string {
  if (scope.connection_id !== undefined) return "operations_conn_at";
  if (scope.provider_config_key !== undefined) return "operations_pck_at";
  if (q.type) return "operations_type_at";
  return "operations_at";
}

/** The statement behind `queryIndexLogs` (its plan is tested: test/worker/ops-index.test.ts). */
export function indexLogsQuery(scope: Scope, q: LogQuery, now: number): { sql: string; args: unknown[] } {
  const w = scoped(scope);
  w.clauses.push("at >= ?");
  w.args.push(now - LOG_RETENTION_MS);
  if (q.type) {
    w.clauses.push("type = ?");
    w.args.push(q.type);
  }
  if (q.status) {
    w.clauses.push("status = ?");
    w.args.push(q.status);
  }
  if (q.http_status !== undefined) {
    w.clauses.push("http_status = ?");
    w.args.push(q.http_status);
  }
  if (q.before) {
    w.clauses.push("(at, id) < (?, ?)");
    w.args.push(q.before.at, q.before.id);
  }
  return {
    sql: `SELECT * FROM operations INDEXED BY ${walkedIndex(scope, q)} WHERE ${w.clauses.join(" AND ")} ORDER BY at DESC, id DESC LIMIT ?`,
    args: [...w.args, q.limit],
  };
}

/** Operation-log lines across connections, newest first; the same filters and keyset as one connection's log. */
export async function queryIndexLogs(db: D1Database, scope: Scope, q: LogQuery, now = Date.now()): Promise<OperationLog[]> {
  const { sql, args } = indexLogsQuery(scope, q, now);
  const { results } = await db
    .prepare(sql)
    .bind(...args)
    .all<LogRow>();
  return results.map(toLog);
}

/** Deliveries across connections, newest first, keyset on (created_at, id); `limit + 1` rows tell whether there is more. */
export async function listIndexDeliveries(
  db: D1Database,
  scope: Scope,
  q: Pick<DeliveryListQuery, "status" | "type" | "limit">,
  before: LogCursor | null,
): Promise<DeliveryView[]> {
  const w = scoped(scope);
  if (q.status) {
    w.clauses.push("status = ?");
    w.args.push(q.status);
  }
  if (q.type) {
    w.clauses.push("type = ?");
    w.args.push(q.type);
  }
  if (before) {
    w.clauses.push("(created_at, id) < (?, ?)");
    w.args.push(before.at, before.id);
  }
  const where = w.clauses.length ? `WHERE ${w.clauses.join(" AND ")}` : "";
  const { results } = await db
    .prepare(`SELECT * FROM deliveries ${where} ORDER BY created_at DESC, id DESC LIMIT ?`)
    .bind(...w.args, q.limit + 1)
    .all<DeliveryRow>();
  return results.map(toDeliveryView);
}
