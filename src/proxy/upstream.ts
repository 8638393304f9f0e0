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
   * A stateless request's call (the proxy, a live action): the headers
   * timeout races the fetch instead of aborting it, and its timer is left to
   * the request's end. A call that timed out is cancelled by workerd when the
   * request ends (its 504 ends it), so no AbortController is needed, and the
   * fetch carries no signal: measured side by side on workerd (bench/README.md,
   * "The foreground at c=1"), the controller and the signal's wiring into the
   * fetch and its answer cost a c=1 call as much as the timer itself, and
   * clearing a timer about as much as setting it. A Durable Object's calls
   * (async jobs, sync pages, actions in the object), whose context outlives
   * the call, abort theirs and clear the timer.
   */
  leaveTimer?: boolean;
};

const requestInit = (init: UpstreamInit, signal?: AbortSignal): RequestInit & { duplex?: "half" } => {
  const out: RequestInit & { duplex?: "half" } = { method: init.method, headers: init.headers, body: init.body, redirect: "manual" };
  if (signal) out.signal = signal;
  if (init.body instanceof ReadableStream) out.duplex = "half";
  return out;
};

/**
 * One call to the provider. The body is passed as is (a stream goes out as it
 * is read, `duplex: "half"`), the response body is never touched here: the
 * timeout is on the headers only, a stream is never cut by it.
 */
export function sendUpstream(url: string, init: UpstreamInit): Promise<Response> {
  const timeoutMs = init.timeoutMs ?? UPSTREAM_HEADERS_TIMEOUT_MS;
  if (init.leaveTimer) return raced(url, init, timeoutMs);
  return aborted(url, init, timeoutMs);
}

/** The stateless request's call: the fetch or the timeout, whichever settles first; no promise turn added. */
function raced(url: string, init: UpstreamInit, timeoutMs: number): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    let settled = false;
    setTimeout(() => {
      if (settled) return;
      settled = true;
      reject(new UpstreamError(true));
    }, timeoutMs);
    fetch(url, requestInit(init)).then(
      (res) => {
        // Headers after the timeout: nobody reads this answer.
        if (settled) return void res.body?.cancel().catch(() => {});
        settled = true;
        resolve(res);
      },
      () => {
        if (settled) return;
        settled = true;
        reject(new UpstreamError(false));
      },
    );
  });
}

async function aborted(url: string, init: UpstreamInit, timeoutMs: number): Promise<Response> {
  const controller = new AbortController();
  let timedOut = false;
  let answered = false;
  const timer = setTimeout(() => {
    if (answered) return;
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  try {
    return await fetch(url, requestInit(init, controller.signal));
  } catch {
    throw new UpstreamError(timedOut);
  } finally {
    answered = true;
    clearTimeout(timer);
  }
}
