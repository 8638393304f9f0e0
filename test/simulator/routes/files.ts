import type { Route } from "../http.ts";
import { listBody, notFound, parseLimit, sendBytes, sendError, sendJson } from "../http.ts";
import { boundaryOf, parseMultipart } from "../multipart.ts";
import type { FileRec, Tenant } from "../state.ts";
import { newId, nowSec } from "../util.ts";

export const PURPOSES = new Set(["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]);

export function fileJson(f: FileRec): object {
  const o: Record<string, unknown> = {
    id: f.id,
    object: "file",
    bytes: f.bytes,
    created_at: f.created_at,
    filename: f.filename,
    purpose: f.purpose,
    status: f.status,
  };
  if (f.expires_at !== undefined) o.expires_at = f.expires_at;
  if (f.status_details !== undefined) o.status_details = f.status_details;
  return o;
}

/** Content of a file; seeded files have generated content of their recorded size. */
export function fileContent(f: FileRec): Buffer {
  return f.content ?? Buffer.from(`{"seed":"${f.id}"}\n`);
}

export function seededFileBytes(id: string): number {
  return `{"seed":"${id}"}\n`.length;
}

function contentTypeFor(f: FileRec): string {
  if (f.contentType && f.contentType !== "application/octet-stream") return f.contentType;
  const ext = f.filename.slice(f.filename.lastIndexOf(".") + 1).toLowerCase();
  return (
    (
      {
        jsonl: "application/jsonl",
        json: "application/json",
        txt: "text/plain",
        csv: "text/csv",
        pdf: "application/pdf",
        png: "image/png",
        jpg: "image/jpeg",
        jpeg: "image/jpeg",
      } as Record<string, string>
    )[ext] ?? "application/octet-stream"
  );
}

export function addFile(t: Tenant, filename: string, purpose: string, content: Buffer, contentType?: string): FileRec {
  return t.files.add({
    id: newId("file-", 22),
    object: "file",
    bytes: content.length,
    created_at: nowSec(),
    filename,
    purpose,
    status: "processed",
    content,
    contentType,
  });
}

export const fileRoutes: Route[] = [
  {
    method: "POST",
    path: "/v1/files",
    json: false,
    handler: (ctx) => {
      const boundary = boundaryOf(ctx.req.headers["content-type"]);
      if (!boundary) return sendError(ctx, 400, "Invalid Content-Type header (expected multipart/form-data).", "invalid_request_error", null, null);
      const parts = parseMultipart(ctx.body, boundary);
      if (!parts) return sendError(ctx, 400, "Could not parse multipart form.", "invalid_request_error", null, null);
      const file = parts.find((p) => p.name === "file");
      const purpose = parts
        .find((p) => p.name === "purpose")
        ?.data.toString("utf8")
        .trim();
      if (!file) return sendError(ctx, 400, "Missing required parameter: 'file'.", "invalid_request_error", "file", "missing_required_parameter");
      if (!purpose) return sendError(ctx, 400, "Missing required parameter: 'purpose'.", "invalid_request_error", "purpose", "missing_required_parameter");
      if (!PURPOSES.has(purpose))
        return sendError(
          ctx,
          400,
          `'${purpose}' is not one of ${[...PURPOSES].map((p) => `'${p}'`).join(", ")} - 'purpose'`,
          "invalid_request_error",
          "purpose",
          null,
        );
      const f = addFile(ctx.tenant, file.filename ?? "upload", purpose, Buffer.from(file.data), file.contentType);
      sendJson(ctx, 200, fileJson(f));
    },
  },
  {
    method: "GET",
    path: "/v1/files",
    handler: (ctx) => {
      const limit = parseLimit(ctx, 10_000, 10_000);
      if (limit === null) return;
      const order = ctx.query.get("order") === "asc" ? "asc" : "desc";
      const purpose = ctx.query.get("purpose");
      const page = ctx.tenant.files.page({
        after: ctx.query.get("after") ?? undefined,
        limit,
        order,
        filter: purpose ? (f) => f.purpose === purpose : undefined,
      });
      sendJson(ctx, 200, listBody(page.data, page.has_more, fileJson));
    },
  },
  {
    method: "GET",
    path: "/v1/files/:id",
    handler: (ctx) => {
      const f = ctx.tenant.files.get(ctx.params.id);
      if (!f) return notFound(ctx, "File", ctx.params.id, "id");
      sendJson(ctx, 200, fileJson(f));
    },
  },
  {
    method: "DELETE",
    path: "/v1/files/:id",
    handler: (ctx) => {
      if (!ctx.tenant.files.delete(ctx.params.id)) return notFound(ctx, "File", ctx.params.id, "id");
      sendJson(ctx, 200, { id: ctx.params.id, object: "file", deleted: true });
    },
  },
  {
    method: "GET",
    path: "/v1/files/:id/content",
    handler: (ctx) => {
      const f = ctx.tenant.files.get(ctx.params.id);
      if (!f) return notFound(ctx, "File", ctx.params.id, "id");
      sendBytes(ctx, 200, fileContent(f), contentTypeFor(f), { "content-disposition": `attachment; filename="${f.filename.replace(/"/g, "")}"` });
    },
  },
];
