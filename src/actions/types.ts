import type { z } from "zod";
import { ApiError } from "../errors";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** One request an action makes, relative to the provider's base URL. */
export type UpstreamRequest = {
  method: "GET" | "POST" | "DELETE";
  /** e.g. `/v1/files/file-abc`; checked against the base URL like a proxy path. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** JSON body. */
  json?: unknown;
  /** Multipart body (uploads). */
  form?: FormData;
};

/** The provider's 2xx answer, fully read. */
export type UpstreamReply = {
  status: number;
  headers: Headers;
  bytes: ArrayBuffer;
  json(): unknown;
};

/**
 * The upstream caller injected into an action: auth headers, retries and
 * rate-limit coordination are the caller's business, never the action's.
 * A non-2xx answer throws `ActionUpstreamError`.
 */
export type ActionCall = (req: UpstreamRequest) => Promise<UpstreamReply>;

/**
 * A typed operation on a provider: data (name, description, schemas) plus
 * one small function. `run` should make one upstream call, or only
 * idempotent ones before the last: an async run that meets a rate limit is
 * run again from the start once the limit resets.
 */
export type ActionDefinition<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> = {
  name: string;
  description: string;
  input: I;
  output: O;
  /** Returns the provider's answer (or a shape of it); `output` validates it. */
  run(input: z.output<I>, call: ActionCall): Promise<unknown>;
};

/** Keeps the schemas' types for `run`, then erases them for the provider's list. */
export function defineAction<I extends z.ZodType, O extends z.ZodType>(action: ActionDefinition<I, O>): ActionDefinition {
  return action as unknown as ActionDefinition;
}

const RELAYED_HEADERS = ["content-type", "x-request-id", "retry-after", "retry-after-ms", "openai-processing-ms"];

/**
 * The provider refused: relayed with its status and body (and the headers a
 * caller needs to act on it: request id, rate-limit state, Retry-After).
 */
export class ActionUpstreamError extends ApiError<"upstream_error"> {
  constructor(
    readonly upstreamStatus: number,
    readonly upstreamHeaders: Headers,
    readonly upstreamBody: ArrayBuffer,
  ) {
    super(relayStatus(upstreamStatus), "upstream_error", providerMessage(upstreamBody) ?? `The provider answered ${upstreamStatus}`);
  }

  /** The provider's body parsed, when it is JSON. */
  providerBody(): unknown {
    try {
      return JSON.parse(new TextDecoder().decode(this.upstreamBody));
    } catch {
      return undefined;
    }
  }

  override toResponse(): Response {
    const headers = new Headers();
    for (const [name, value] of this.upstreamHeaders) {
      if (RELAYED_HEADERS.includes(name) || name.startsWith("x-ratelimit-")) headers.set(name, value);
    }
    if (this.upstreamBody.byteLength === 0) return super.toResponse();
    return new Response(this.upstreamBody, { status: this.status, headers });
  }
}

/** 1xx/3xx would be wrong from an error path; anything else keeps the provider's status. */
function relayStatus(status: number): ContentfulStatusCode {
  return (status >= 400 && status <= 599 ? status : 502) as ContentfulStatusCode;
}

function providerMessage(body: ArrayBuffer): string | undefined {
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(body));
    if (typeof parsed === "object" && parsed !== null && "error" in parsed) {
      const err = (parsed as { error: unknown }).error;
      if (typeof err === "string") return err;
      if (typeof err === "object" && err !== null && "message" in err && typeof err.message === "string") return err.message;
    }
  } catch {
    // Not JSON: the status says enough.
  }
  return undefined;
}
