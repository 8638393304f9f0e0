import { ApiError } from "../errors";

/** How long the provider may take to start answering (long completions stream, so this is headers only). */
export const UPSTREAM_HEADERS_TIMEOUT_MS = 600_000;

/** A failure before any response: the request may or may not have reached the provider. */
export class UpstreamError extends ApiError {
  constructor(readonly timedOut: boolean) {
    super(
      timedOut ? 504 : 502,
      timedOut ? "upstream_timeout" : "upstream_unreachable",
      timedOut ? "The provider did not answer in time" : "The provider could not be reached",
    );
  }
}

export type UpstreamInit = {
  method: string;
  headers: Headers;
  body: ReadableStream<Uint8Array> | ArrayBuffer | null;
  timeoutMs?: number;
};

/**
 * One call to the provider. The body is passed as is (a stream goes out as it
 * is read, `duplex: "half"`), the response body is never touched here.
 */
export async function sendUpstream(url: string, init: UpstreamInit): Promise<Response> {
  // The runtime's own timer (no JS timer object to make and clear per call). It may fire after the
  // headers came: the request's signal is then no longer listening, so a long body is never cut by it.
  const deadline = AbortSignal.timeout(init.timeoutMs ?? UPSTREAM_HEADERS_TIMEOUT_MS);
  const controller = new AbortController();
  const cut = () => controller.abort();
  deadline.addEventListener("abort", cut);
  const requestInit: RequestInit & { duplex?: "half" } = {
    method: init.method,
    headers: init.headers,
    body: init.body,
    signal: controller.signal,
    redirect: "manual",
  };
  if (init.body instanceof ReadableStream) requestInit.duplex = "half";
  try {
    return await fetch(url, requestInit);
  } catch {
    throw new UpstreamError(deadline.aborted);
  } finally {
    deadline.removeEventListener("abort", cut);
  }
}
