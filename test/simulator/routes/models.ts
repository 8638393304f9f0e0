import type { Ctx, Route } from "../http.ts";
import { sendError, sendJson } from "../http.ts";

const MODELS: ReadonlyArray<[string, number, string]> = [
  ["gpt-4o-mini", 1721172741, "system"],
  ["gpt-4o", 1715367049, "system"],
  ["gpt-4.1", 1744316542, "system"],
  ["gpt-4.1-mini", 1744318173, "system"],
  ["gpt-5", 1754425777, "system"],
  ["o3-mini", 1737146383, "system"],
  ["text-embedding-3-small", 1705948997, "system"],
  ["text-embedding-3-large", 1705953180, "system"],
  ["omni-moderation-latest", 1731689265, "system"],
  ["gpt-image-1", 1745517030, "system"],
  ["dall-e-3", 1698785189, "system"],
  ["tts-1", 1681940951, "openai-internal"],
  ["gpt-4o-mini-tts", 1742403959, "system"],
  ["whisper-1", 1677532384, "openai-internal"],
];
const LIST = { object: "list", data: MODELS.map(([id, created, owned_by]) => ({ id, object: "model", created, owned_by })) };
const BY_ID = new Map(LIST.data.map((m) => [m.id, m]));

function restricted(ctx: Ctx): boolean {
  if (ctx.tenant.kind !== "restricted") return false;
  sendError(
    ctx,
    403,
    "You have insufficient permissions for this operation. Missing scopes: api.model.read. Check that you have the correct role in your organization (Reader, Writer, Owner) and project (Member, Owner), and if you're using a restricted API key, that it has the necessary scopes.",
    "invalid_request_error",
    null,
    null,
  );
  return true;
}

export const modelRoutes: Route[] = [
  {
    method: "GET",
    path: "/v1/models",
    handler: (ctx) => {
      if (!restricted(ctx)) sendJson(ctx, 200, LIST);
    },
  },
  {
    method: "GET",
    path: "/v1/models/:model",
    handler: (ctx) => {
      if (restricted(ctx)) return;
      const id = ctx.params.model;
      const m = BY_ID.get(id) ?? (id.startsWith("ft:") ? { id, object: "model", created: 1720000000, owned_by: ctx.tenant.orgId } : undefined);
      if (!m) return sendError(ctx, 404, `The model '${id}' does not exist`, "invalid_request_error", "model", "model_not_found");
      sendJson(ctx, 200, m);
    },
  },
];
