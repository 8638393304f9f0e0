import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** Every error terapi itself produces: `{"error":{"code","message"}}`. */
export type ErrorBody = { error: { code: string; message: string; details?: unknown } };

export class ApiError extends HTTPException {
  constructor(
    status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers?: HeadersInit,
  ) {
    super(status, { message });
  }

  body(): ErrorBody {
    return {
      error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) },
    };
  }

  toResponse(): Response {
    const headers = new Headers(this.headers);
    headers.set("content-type", "application/json; charset=utf-8");
    return new Response(JSON.stringify(this.body()), { status: this.status, headers });
  }
}

export const badRequest = (code: string, message: string, details?: unknown) =>
  new ApiError(400, code, message, details);
export const notFound = (code: string, message: string) => new ApiError(404, code, message);
export const conflict = (code: string, message: string) => new ApiError(409, code, message);

/** Codes for HTTPExceptions raised by Hono itself (validator, body limit). */
const HTTP_EXCEPTION_CODES: Record<number, string> = {
  400: "invalid_request",
  401: "unauthorized",
  413: "payload_too_large",
  415: "unsupported_media_type",
};

/** Hono `onError`: ApiError as is, other HTTPExceptions wrapped, the rest 500 without internals. */
export function toErrorResponse(err: Error): Response {
  if (err instanceof ApiError) return err.toResponse();
  if (err instanceof HTTPException) {
    const code = HTTP_EXCEPTION_CODES[err.status] ?? "http_error";
    return new ApiError(err.status as ContentfulStatusCode, code, err.message || "Request failed").toResponse();
  }
  console.error("unhandled error", err instanceof Error ? err.name : typeof err);
  return new ApiError(500, "internal_error", "Internal error").toResponse();
}
