import type { Ctx, Route } from "../http.ts";
import { listBody, missingParam, notFound, parseLimit, sendError, sendJson } from "../http.ts";
import type { Tenant, VectorStoreRec } from "../state.ts";
import { isObj, newId, num, nowSec, seededRandom, str } from "../util.ts";
import type { Obj } from "../util.ts";

export function vectorStoreRec(
  t: Tenant,
  f: { name: string; file_ids: string[]; metadata?: Obj | null; expires_after?: Obj; created_at?: number },
): VectorStoreRec {
  const created = f.created_at ?? nowSec();
  let usage = 0;
  for (const id of f.file_ids) usage += t.files.get(id)?.bytes ?? 0;
  const obj: Obj = {
    id: newId("vs_", 32),
    object: "vector_store",
    created_at: created,
    name: f.name,
    usage_bytes: usage,
    file_counts: { in_progress: 0, completed: f.file_ids.length, failed: 0, cancelled: 0, total: f.file_ids.length },
    status: "completed",
    expires_at: null,
    last_active_at: created,
    metadata: f.metadata ?? null,
  };
  if (f.expires_after) {
    obj.expires_after = f.expires_after;
    const days = num(f.expires_after, "days") ?? 1;
    obj.expires_at = created + days * 86_400;
  }
  return { id: obj.id as string, obj, file_ids: f.file_ids };
}

function find(ctx: Ctx): VectorStoreRec | undefined {
  const v = ctx.tenant.vectorStores.get(ctx.params.id);
  if (!v) notFound(ctx, "VectorStore", ctx.params.id, "vector_store_id");
  return v;
}

/** Deterministic search: every file (or three synthetic documents) scored by hash(query, file). */
function search(t: Tenant, v: VectorStoreRec, queries: string[], max: number): object[] {
  const q = queries.join(" ");
  const docs = v.file_ids.length
    ? v.file_ids.map((id) => ({ id, name: t.files.get(id)?.filename ?? "file" }))
    : [0, 1, 2].map((i) => ({ id: `file-${v.id.slice(3, 25)}${i}`, name: `doc-${i}.txt` }));
  return docs
    .map((d) => ({
      file_id: d.id,
      filename: d.name,
      score: Math.round(seededRandom(q + "\u0000" + d.id)() * 1e6) / 1e6,
      attributes: {},
      content: [{ type: "text", text: `Passage of ${d.name} relevant to "${q.slice(0, 100)}".` }],
    }))
    .sort((a, b) => b.score - a.score || (a.file_id < b.file_id ? -1 : 1))
    .slice(0, max);
}

export const vectorStoreRoutes: Route[] = [
  {
    method: "POST",
    path: "/v1/vector_stores",
    handler: (ctx) => {
      const b = ctx.json;
      const fileIds = Array.isArray(b.file_ids) ? b.file_ids.filter((x): x is string => typeof x === "string") : [];
      for (const id of fileIds) if (!ctx.tenant.files.get(id)) return notFound(ctx, "File", id, "file_ids");
      const rec = vectorStoreRec(ctx.tenant, {
        name: str(b, "name") ?? "",
        file_ids: fileIds,
        metadata: isObj(b.metadata) ? b.metadata : null,
        expires_after: isObj(b.expires_after) ? b.expires_after : undefined,
      });
      ctx.tenant.vectorStores.add(rec);
      sendJson(ctx, 200, rec.obj);
    },
  },
  {
    method: "GET",
    path: "/v1/vector_stores",
    handler: (ctx) => {
      const limit = parseLimit(ctx, 20, 100);
      if (limit === null) return;
      const order = ctx.query.get("order") === "asc" ? "asc" : "desc";
      const page = ctx.tenant.vectorStores.page({ after: ctx.query.get("after") ?? undefined, before: ctx.query.get("before") ?? undefined, limit, order });
      sendJson(
        ctx,
        200,
        listBody(page.data, page.has_more, (v) => v.obj),
      );
    },
  },
  {
    method: "GET",
    path: "/v1/vector_stores/:id",
    handler: (ctx) => {
      const v = find(ctx);
      if (v) sendJson(ctx, 200, v.obj);
    },
  },
  {
    method: "POST",
    path: "/v1/vector_stores/:id",
    handler: (ctx) => {
      const v = find(ctx);
      if (!v) return;
      const b = ctx.json;
      if (typeof b.name === "string") v.obj.name = b.name;
      if (isObj(b.metadata) || b.metadata === null) v.obj.metadata = b.metadata;
      if (isObj(b.expires_after)) {
        v.obj.expires_after = b.expires_after;
        v.obj.expires_at = nowSec() + (num(b.expires_after, "days") ?? 1) * 86_400;
      }
      sendJson(ctx, 200, v.obj);
    },
  },
  {
    method: "DELETE",
    path: "/v1/vector_stores/:id",
    handler: (ctx) => {
      if (!ctx.tenant.vectorStores.delete(ctx.params.id)) return notFound(ctx, "VectorStore", ctx.params.id, "vector_store_id");
      sendJson(ctx, 200, { id: ctx.params.id, object: "vector_store.deleted", deleted: true });
    },
  },
  {
    method: "POST",
    path: "/v1/vector_stores/:id/search",
    handler: (ctx) => {
      const v = find(ctx);
      if (!v) return;
      const q = ctx.json.query;
      const queries = typeof q === "string" ? [q] : Array.isArray(q) ? q.filter((x): x is string => typeof x === "string") : [];
      if (!queries.length) return missingParam(ctx, "query");
      const max = num(ctx.json, "max_num_results") ?? 10;
      if (max < 1 || max > 50)
        return sendError(
          ctx,
          400,
          `Invalid 'max_num_results': integer must be between 1 and 50, got ${max}.`,
          "invalid_request_error",
          "max_num_results",
          "integer_out_of_range",
        );
      v.obj.last_active_at = nowSec();
      sendJson(ctx, 200, {
        object: "vector_store.search_results.page",
        search_query: queries,
        data: search(ctx.tenant, v, queries, max),
        has_more: false,
        next_page: null,
      });
    },
  },
];
