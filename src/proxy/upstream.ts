import { ApiError } from "../errors";

/** How long the provider may take to start answering (long completions stream, so this is headers only). */
const UPSTREAM_HEADERS_TIMEOUT_MS = 600_000;

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

type UpstreamInit = {
  method: string;
  headers: Headers;
  body: ReadableStream<Uint8Array> | ArrayBuffer | null;
  timeoutMs?: number;
  /**
   * Leave the timer to the request's end instead of clearing it once the
   * headers are in (a fired timer then does nothing). For a stateless
   * request only, whose timers end with it: clearing a timer costs about as
   * much as setting it (a tenth of a proxied call's own CPU went to the two,
   * bench/README.md). A Durable Object's calls clear theirs.
   */
  leaveTimer?: boolean;
};

/**
 * One call to the provider. The body is passed as is (a stream goes out as it
 * is read, `duplex: "half"`), the response body is never touched here.
 */
export async function sendUpstream(url: string, init: UpstreamInit): Promise<Response> {
  const controller = new AbortController();
  let timedOut = false;
  let answered = false;
  const timer = setTimeout(() => {
    if (answered) return;
    timedOut = true;
    controller.abort();
  }, init.timeoutMs ?? UPSTREAM_HEADERS_TIMEOUT_MS);
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
    throw new UpstreamError(timedOut);
  } finally {
    // The body (a stream may last longer than the timeout) is never cut by this timer.
    answered = true;
    if (!init.leaveTimer) clearTimeout(timer);
  }
}
