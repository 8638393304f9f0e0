import { ApiError, payloadTooLarge } from "../errors";
import { readCapped } from "../lib/read-capped";
import { recordOperation } from "../logs/record";
import { handleInboundWebhook, WebhookRefused } from "./inbound";

/**
 * The HTTP side of an inbound provider webhook (`POST /webhook/{provider_config_key}/{connection_id}`):
 * the route (src/routes/webhooks.ts, for its OpenAPI description) and the fast path that skips the
 * router (src/index.ts) both answer through `receiveWebhook`. No router code here: the fast path is
 * loaded with the Worker, the router on demand.
 */

/** Provider webhooks are small (OpenAI's carry ids, not objects). */
export const INBOUND_WEBHOOK_MAX_BYTES = 256 * 1024;

/** Every unauthenticated failure gets exactly this answer. */
const notAuthenticated = () => new ApiError(401, "invalid_signature", "Webhook signature verification failed");

/** One inbound webhook, its body read already: the route and the fast path below both answer through this. */
export async function receiveWebhook(
  env: Env,
  ctx: Pick<ExecutionContext, "waitUntil">,
  provider_config_key: string,
  connection_id: string,
  req: Request,
  body: Uint8Array,
) {
  const started = Date.now();
  const log = (status: number, detail: string, aggregate = false) =>
    recordOperation(env, (p) => ctx.waitUntil(p), {
      provider_config_key,
      connection_id,
      type: "webhook",
      status: status < 400 ? "success" : "failure",
      http_status: status,
      duration_ms: Date.now() - started,
      started_at: started,
      method: "POST",
      detail,
      aggregate,
    });
  let result;
  try {
    result = await handleInboundWebhook(env, ctx, {
      providerConfigKey: provider_config_key,
      connectionId: connection_id,
      headers: req.headers,
      body,
      receivedAt: started,
    });
  } catch (err) {
    if (err instanceof WebhookRefused) {
      // The reason goes to the log only (an unknown connection has none), counted per minute: anyone can send these.
      if (err.known) log(401, `invalid_signature: ${err.reason}`, true);
      throw notAuthenticated();
    }
    if (err instanceof ApiError) log(err.status, err.code);
    throw err;
  }
  // The accepted webhook's log line was written by the connection's object, with the event.
  return { received: true as const, ...result };
}

const PREFIX = "/webhook/";

/**
 * `POST /webhook/{provider_config_key}/{connection_id}` without the router
 * (src/index.ts, as the proxy): the same handler, body limit and error
 * answers; anything it does not recognise (other methods, paths, ids that do
 * not decode) is left to the router. null when it is not such a request.
 */
export function inboundWebhookFastPath(req: Request, env: Env, ctx: ExecutionContext, onError: (err: Error) => Response): Promise<Response> | null {
  if (req.method !== "POST") return null;
  const url = req.url;
  const pathStart = url.indexOf("/", url.indexOf("://") + 3);
  if (pathStart < 0 || !url.startsWith(PREFIX, pathStart)) return null;
  const query = url.indexOf("?", pathStart);
  const parts = url.slice(pathStart + PREFIX.length, query < 0 ? undefined : query).split("/");
  if (parts.length !== 2 || !parts[0] || !parts[1]) return null;
  let ids: string[];
  try {
    ids = parts.map((p) => decodeURIComponent(p));
  } catch {
    return null;
  }
  const [pck, cid] = ids as [string, string];
  return readBody(req)
    .then((body) => receiveWebhook(env, ctx, pck, cid, req, body))
    .then((result) => Response.json(result), onError);
}

/** The body within INBOUND_WEBHOOK_MAX_BYTES (413 past it, as the route's bodyLimit answers). */
async function readBody(req: Request): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > INBOUND_WEBHOOK_MAX_BYTES) throw payloadTooLarge("Webhook body", INBOUND_WEBHOOK_MAX_BYTES);
  if (declared !== null) return new Uint8Array(await req.arrayBuffer());
  const read = await readCapped(req.body, INBOUND_WEBHOOK_MAX_BYTES);
  if (read.truncated) throw payloadTooLarge("Webhook body", INBOUND_WEBHOOK_MAX_BYTES);
  return new Uint8Array(read.bytes);
}
