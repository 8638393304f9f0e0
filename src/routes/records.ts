import { createRoute, z } from "@hono/zod-openapi";
import { decodeCursor, encodeCursor } from "../cursor";
import { badRequest, invalidCursor } from "../errors";
import { createRouter, validationError } from "../openapi";
import type { RecordAction, StoredRecord } from "../sync/records";
import { resolveConnection } from "../sync/targets";
import { ErrorSchema } from "./schemas";
import { iso } from "../lib/iso-time";

const MAX_LIMIT = 10_000;
const FILTERS: Record<string, RecordAction> = { added: "ADDED", updated: "UPDATED", deleted: "DELETED" };

/** Opaque to callers (src/cursor.ts): the last record's change sequence number. */
const encodeSeqCursor = (seq: number) => encodeCursor([seq]);

function decodeSeqCursor(cursor: string): number | null {
  const seq = decodeCursor(cursor, ["number"])?.[0];
  return seq !== undefined && Number.isSafeInteger(seq) && seq >= 0 ? seq : null;
}

const Metadata = z.object({
  first_seen_at: z.string(),
  last_modified_at: z.string(),
  last_action: z.enum(["ADDED", "UPDATED", "DELETED"]),
  deleted_at: z.string().nullable(),
  /** Nango's field; terapi never prunes payloads, so always null. */
  pruned_at: z.null(),
  cursor: z.string(),
});

const RecordsResponse = z
  .object({
    records: z.array(z.object({ _nango_metadata: Metadata }).passthrough()),
    next_cursor: z.string().nullable(),
  })
  .openapi("Records");

const RecordsQuery = z.strictObject({
  model: z.string().min(1).openapi({ example: "files" }),
  cursor: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(100),
  modified_after: z.string().optional().openapi({ example: "2025-01-01T00:00:00Z" }),
  filter: z.string().optional().openapi({ example: "added,updated,deleted" }),
  ids: z.string().optional().openapi({ description: "Comma separated, or the parameter repeated" }),
  variant: z.literal("base").optional().openapi({ description: "Nango's sync variants: terapi has only `base`" }),
});

const list = createRoute({
  method: "get",
  path: "/",
  tags: ["Syncs"],
  summary: "Synced records of one model, in change order",
  description:
    "Ordered by (last modified, id); every change gives a record a new place at the end, so a cursor stays valid while syncs run: " +
    "nothing is skipped, and a record shows up again only if it changed after it was read. " +
    "`filter` is any combination of added, updated, deleted; by default deleted records are left out (name `deleted` to get them, " +
    "as a consumer following changes should). `modified_after` is inclusive. `next_cursor` is null on the last page; each record's " +
    "`_nango_metadata.cursor` resumes right after it.",
  request: {
    headers: z.object({
      "connection-id": z.string().optional().openapi({ example: "tenant-42" }),
      "provider-config-key": z.string().optional().openapi({ example: "openai" }),
    }),
    query: RecordsQuery,
  },
  responses: {
    200: { description: "One page", content: { "application/json": { schema: RecordsResponse } } },
    400: { description: "Bad input (unknown model, bad cursor, limit out of range)", content: { "application/json": { schema: ErrorSchema } } },
    404: { description: "Unknown connection", content: { "application/json": { schema: ErrorSchema } } },
  },
});

/** The stored JSON with `_nango_metadata` (Nango's name: its SDK's types and its users' code read it) added, spliced as text: no parse and re-serialize per record. */
function recordText(r: StoredRecord): string {
  const meta = JSON.stringify({
    first_seen_at: iso(r.first_seen_at),
    last_modified_at: iso(r.last_modified_at),
    last_action: r.last_action,
    deleted_at: r.deleted_at === null ? null : iso(r.deleted_at),
    pruned_at: null,
    cursor: encodeSeqCursor(r.cursor_seq),
  });
  const body = r.json.slice(0, -1).trimEnd();
  return `${body}${body.endsWith("{") ? "" : ","}"_nango_metadata":${meta}}`;
}

function parseFilter(raw: string | undefined): RecordAction[] {
  if (raw === undefined || raw.trim() === "") return ["ADDED", "UPDATED"];
  const out = new Set<RecordAction>();
  for (const part of raw.split(",")) {
    const action = FILTERS[part.trim().toLowerCase()];
    if (!action) throw badRequest("invalid_filter", `filter must be a comma-separated combination of added, updated, deleted; got '${raw}'`);
    out.add(action);
  }
  return [...out];
}

/** `/records`: what the syncs stored, for one connection and model. */
export const recordRoutes = createRouter();
// Documented from the route's schemas, answered as spliced JSON text (a typed handler must return c.json).
recordRoutes.openAPIRegistry.registerPath(list);
recordRoutes.get("/", async (c) => {
  const parsed = RecordsQuery.safeParse(c.req.query());
  if (!parsed.success) throw validationError(parsed.error);
  const q = { ...parsed.data, ids: c.req.queries("ids") };
  const connectionId = c.req.header("connection-id")?.trim();
  const providerConfigKey = c.req.header("provider-config-key")?.trim();
  if (!connectionId || !providerConfigKey) throw badRequest("missing_connection_headers", "Send the Connection-Id and Provider-Config-Key headers");
  const afterSeq = q.cursor === undefined ? 0 : decodeSeqCursor(q.cursor);
  if (afterSeq === null) throw invalidCursor();
  let modifiedAfter: number | null = null;
  if (q.modified_after !== undefined) {
    modifiedAfter = Date.parse(q.modified_after);
    if (Number.isNaN(modifiedAfter)) throw badRequest("invalid_modified_after", "modified_after must be an ISO 8601 date, e.g. 2025-01-01T00:00:00Z");
  }
  const actions = parseFilter(q.filter);
  const ids =
    q.ids === undefined
      ? null
      : (Array.isArray(q.ids) ? q.ids : [q.ids])
          .flatMap((v) => v.split(","))
          .map((v) => v.trim())
          .filter(Boolean);
  if (ids && ids.length > MAX_LIMIT) throw badRequest("too_many_ids", `At most ${MAX_LIMIT} ids`);

  const conn = await resolveConnection(c.env, providerConfigKey, connectionId);
  const models = [...new Set(conn.defs.map((d) => d.model))];
  if (!models.includes(q.model)) throw badRequest("unknown_model", `Unknown model '${q.model}' for this connection; available: ${models.join(", ") || "none"}`);

  const { rows, more } = await conn.stub.listRecords({ model: q.model, afterSeq, limit: q.limit, modifiedAfter, actions, ids });
  const last = rows[rows.length - 1];
  const next = more && last ? JSON.stringify(encodeSeqCursor(last.cursor_seq)) : "null";
  return new Response(`{"records":[${rows.map(recordText).join(",")}],"next_cursor":${next}}`, {
    status: 200,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
});
