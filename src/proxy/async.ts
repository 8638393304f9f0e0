import type { JobRow } from "../jobs/store";
import { bytesToBase64 } from "../crypto/base64";
import { ApiError } from "../errors";
import { iso } from "../lib/iso-time";
import { readCapped } from "../lib/read-capped";

/** A job, its request and (later) its result, must fit one SQLite row. */
const ASYNC_BODY_LIMIT = 1024 * 1024;

const tooLarge = () => new ApiError(413, "payload_too_large", `Async request bodies are limited to ${ASYNC_BODY_LIMIT} bytes`);

/** Reads a request body for storage, refusing it past the limit without reading further. */
export async function readAsyncBody(req: Request): Promise<ArrayBuffer | null> {
  if (!req.body) return null;
  const declared = Number(req.headers.get("content-length") ?? "NaN");
  if (declared > ASYNC_BODY_LIMIT) throw tooLarge();
  const { bytes, truncated } = await readCapped(req.body, ASYNC_BODY_LIMIT);
  if (truncated) throw tooLarge();
  return bytes;
}

export const isAsync = (headers: Headers) => /^(true|1|yes)$/i.test(headers.get("async")?.trim() ?? "");

const TEXTUAL = /^(text\/|application\/(json|x-ndjson|xml|javascript)|[^;]*\+json)/i;

export type JobView = {
  id: string;
  object: "proxy_request";
  status: JobRow["status"];
  method: string;
  path: string;
  attempts: number;
  created_at: string | null;
  updated_at: string | null;
  next_attempt_at: string | null;
  response: {
    status: number;
    headers: Record<string, string>;
    body: string;
    body_encoding: "utf8" | "base64";
    truncated: boolean;
  } | null;
  error: { code: string } | null;
};

/** The public shape of a job at `GET /proxy/requests/:id`. */
export function jobView(job: JobRow): JobView {
  let response: JobView["response"] = null;
  if (job.result) {
    const headers = Object.fromEntries(job.result.headers);
    const textual = TEXTUAL.test(headers["content-type"] ?? "");
    response = {
      status: job.result.status,
      headers,
      body: textual ? new TextDecoder().decode(job.result.body) : bytesToBase64(new Uint8Array(job.result.body)),
      body_encoding: textual ? "utf8" : "base64",
      truncated: job.result.truncated,
    };
  }
  return {
    id: job.id,
    object: "proxy_request",
    status: job.status,
    method: job.method,
    path: job.path,
    attempts: job.attempts,
    created_at: iso(job.createdAt),
    updated_at: iso(job.updatedAt),
    next_attempt_at: job.status === "waiting" || job.status === "queued" ? iso(job.dueAt) : null,
    response,
    error: job.error ? { code: job.error } : null,
  };
}
