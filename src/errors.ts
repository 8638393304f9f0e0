import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { logUnhandled, type SecretSource } from "./error-log";

/**
 * Every error code terapi answers with, and its HTTP status: one code per
 * meaning, one status per code. A code is added here or it does not compile
 * (`ApiError` takes an `ErrorCode`), and `/openapi.json`'s `Error` schema lists
 * exactly these codes.
 *
 * `relayed`: the status is someone else's (the provider's for `upstream_error`,
 * Hono's for `http_error`), given where the error is made.
 */
export const ERROR_STATUS = {
  // 400: bad input
  invalid_request: 400,
  unknown_parameter: 400,
  invalid_json: 400,
  invalid_cursor: 400,
  invalid_path: 400,
  invalid_retries: 400,
  invalid_retry_on: 400,
  invalid_max_retries: 400,
  invalid_frequency: 400,
  invalid_filter: 400,
  invalid_modified_after: 400,
  missing_connection_headers: 400,
  too_many_ids: 400,
  too_many_connections: 400,
  too_many_rows: 400,
  unknown_model: 400,
  unknown_sync: 400,
  connection_test_failed: 400,
  // 401: no or a wrong secret key, an unauthenticated webhook
  unauthorized: 401,
  invalid_signature: 401,
  // 404: a thing the request names does not exist
  not_found: 404,
  unknown_integration: 404,
  unknown_connection: 404,
  unknown_provider: 404,
  unknown_action: 404,
  unknown_action_run: 404,
  unknown_request: 404,
  unknown_delivery: 404,
  // 405, 409, 413, 415, 422, 429
  method_not_allowed: 405,
  integration_exists: 409,
  connection_exists: 409,
  connection_being_created: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  invalid_action_input: 422,
  too_many_failed_attempts: 429,
  rate_limited: 429,
  usage_cap_reached: 429,
  // 500: terapi cannot do it (configuration, stored state)
  internal_error: 500,
  not_configured: 500,
  encryption_not_configured: 500,
  secret_unreadable: 500,
  connection_secret_missing: 500,
  provider_unavailable: 500,
  action_failed: 500,
  // 501, 502, 504
  unsupported: 501,
  invalid_action_output: 502,
  upstream_unreachable: 502,
  upstream_timeout: 504,
  // the status is given where the error is made
  upstream_error: "relayed",
  http_error: "relayed",
} as const satisfies Record<string, ContentfulStatusCode | "relayed">;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** The codes, for `/openapi.json`'s enum. */
export const ERROR_CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];

/** The status a code is answered with: the catalogue's, or any status for a relayed code. */
type StatusOf<C extends ErrorCode> = (typeof ERROR_STATUS)[C] extends "relayed"
  ? ContentfulStatusCode
  : Extract<(typeof ERROR_STATUS)[C], ContentfulStatusCode>;

/** Codes whose status the catalogue fixes (the ones `apiError` can make without a status). */
type FixedCode = { [C in ErrorCode]: (typeof ERROR_STATUS)[C] extends "relayed" ? never : C }[ErrorCode];

/** Codes of one status, e.g. `CodeOf<404>` (for helpers that make errors of one status). */
type CodeOf<S extends ContentfulStatusCode> = { [C in ErrorCode]: (typeof ERROR_STATUS)[C] extends S ? C : never }[ErrorCode];

/** Every error terapi itself produces: `{"error":{"code","message"}}`. */
type ErrorBody = { error: { code: ErrorCode; message: string; details?: unknown } };

/**
 * An error answered as `{"error":{"code","message","details?"}}`. The status
 * must be the catalogue's for the code (checked at compile time); `apiError`
 * and the constructors below take it from the catalogue.
 */
export class ApiError<C extends ErrorCode = ErrorCode> extends HTTPException {
  constructor(
    status: StatusOf<C>,
    readonly code: C,
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

/** An error of a code whose status the catalogue fixes. */
export const apiError = <C extends FixedCode>(code: C, message: string, details?: unknown, headers?: HeadersInit) =>
  new ApiError<C>(ERROR_STATUS[code] as StatusOf<C>, code, message, details, headers);

export const badRequest = (code: CodeOf<400>, message: string, details?: unknown) => apiError(code, message, details);
export const notFound = (code: CodeOf<404>, message: string) => apiError(code, message);
export const conflict = (code: CodeOf<409>, message: string) => apiError(code, message);

// Constructors of the errors more than one place raises: one wording per meaning.
const quoted = (names: readonly string[]) => names.map((n) => `'${n}'`).join(", ");

/** 404: the integration named by the request (path, query, header or the body's `provider_config_key`) does not exist. */
export const unknownIntegration = (key: string) => apiError("unknown_integration", `No integration with unique_key '${key}'`);

/** 404: the connection named by the request does not exist (or not under that integration). */
export const unknownConnection = (providerConfigKey: string, connectionId: string) =>
  apiError("unknown_connection", `No connection '${connectionId}' for integration '${providerConfigKey}'`);

/** 404 for several connections at once (bulk updates change nothing then). */
export const unknownConnections = (providerConfigKey: string, connectionIds: readonly string[], suffix = "") =>
  apiError("unknown_connection", `No connection ${quoted(connectionIds)} for integration '${providerConfigKey}'${suffix}`);

/** 500: stored data names a provider this deployment does not have (never the caller's input). */
export const providerUnavailable = (provider: string, owner: string) =>
  apiError("provider_unavailable", `${owner} names provider '${provider}', which this deployment does not have`);

/** 400 `invalid_cursor`: a cursor this API did not hand out. */
export const invalidCursor = () => apiError("invalid_cursor", "cursor is not a next_cursor this API returned");

/** 413 for a body over a limit. */
export const payloadTooLarge = (what: string, limit: number) => apiError("payload_too_large", `${what} exceeds ${limit} bytes`);

/** Codes for HTTPExceptions raised by Hono itself (validator, body limit); any other status is `http_error`. */
const HTTP_EXCEPTION_CODES: Partial<Record<number, FixedCode>> = {
  400: "invalid_request",
  401: "unauthorized",
  413: "payload_too_large",
  415: "unsupported_media_type",
};

/**
 * Hono `onError` (and the proxy's): ApiError as is, other HTTPExceptions
 * wrapped, the rest a 500 without internals, logged with its message and a
 * scrubbed stack (`secrets`: the environment, whose keys are scrubbed too).
 */
export function toErrorResponse(err: unknown, secrets?: SecretSource): Response {
  if (err instanceof ApiError) return err.toResponse();
  if (err instanceof HTTPException) {
    const code = HTTP_EXCEPTION_CODES[err.status];
    const message = err.message || "Request failed";
    return (code ? apiError(code, message) : new ApiError(err.status as ContentfulStatusCode, "http_error", message)).toResponse();
  }
  logUnhandled("unhandled error", err, { secrets });
  return apiError("internal_error", "Internal error").toResponse();
}
