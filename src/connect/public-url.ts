import { ApiError } from "../errors";

/** Hosts that only the machine itself can reach: local development (`wrangler dev`, the demo, tests on 127.0.0.1). */
const LOOPBACK = /^(localhost|.*\.localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/**
 * Where end users reach this deployment, for links terapi hands out (connect
 * links): `TERAPI_PUBLIC_URL`, never the request's Host header, which whoever
 * sends the request (or a proxy in front) chooses. Unset, a loopback request
 * may use its own origin; anything else is a configuration error.
 */
export function publicUrl(env: Pick<Env, "TERAPI_PUBLIC_URL">, requestUrl: string, path: string): URL {
  const configured = (env.TERAPI_PUBLIC_URL ?? "").trim();
  if (configured) {
    let base: URL;
    try {
      base = new URL(configured);
    } catch {
      throw new ApiError(500, "not_configured", "TERAPI_PUBLIC_URL is not a URL");
    }
    if (base.protocol !== "https:" && base.protocol !== "http:") throw new ApiError(500, "not_configured", "TERAPI_PUBLIC_URL must be an http(s) URL");
    return new URL(`${base.pathname.replace(/\/+$/, "")}${path}`, base.origin);
  }
  const request = new URL(requestUrl);
  if (LOOPBACK.test(request.hostname)) return new URL(path, request.origin);
  throw new ApiError(500, "not_configured", "TERAPI_PUBLIC_URL is not set: links for end users need this deployment's public URL");
}
