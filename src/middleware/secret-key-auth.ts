import type { MiddlewareHandler } from "hono";
import { ApiError } from "../errors";
import type { AppEnv } from "../env";
import { checkNotBlocked, clientOf, countFailure } from "./auth-throttle";

const encoder = new TextEncoder();

const sha256 = (s: string) => crypto.subtle.digest("SHA-256", encoder.encode(s));

export function parseSecretKeys(raw: string | undefined): string[] {
  return (raw ?? "")
    .split(",")
    .map((k) => k.trim())
    .filter(Boolean);
}

/**
 * The configured keys' SHA-256 digests, computed once per isolate for each
 * TERAPI_SECRET_KEY value (a rotation changes the value, so it is recomputed):
 * a request then hashes only the candidate.
 */
let configured: { raw: string; digests: ArrayBuffer[] } | undefined;

async function configuredDigests(raw: string | undefined): Promise<ArrayBuffer[]> {
  const value = raw ?? "";
  if (configured?.raw === value) return configured.digests;
  const digests = await Promise.all(parseSecretKeys(value).map(sha256));
  configured = { raw: value, digests };
  return digests;
}

/**
 * Candidates this isolate already found to be configured keys, for the
 * TERAPI_SECRET_KEY value they were checked against: a caller's next request
 * is a set lookup (hashing the whole string; no comparison that stops at the
 * first differing character), not a digest. A rotation empties it.
 */
let accepted: { raw: string; keys: Set<string> } = { raw: "", keys: new Set() };
const MAX_ACCEPTED = 16;

/**
 * Is `candidate` one of the configured secret keys? Digests are compared, so
 * lengths never leak, in constant time, and every key is checked so timing
 * says nothing about which one matched.
 */
export async function isSecretKey(env: Env, candidate: string): Promise<boolean> {
  return matchesAny(await configuredDigests(env.TERAPI_SECRET_KEY), candidate);
}

async function matchesAny(keys: ArrayBuffer[], candidate: string): Promise<boolean> {
  const digest = await sha256(candidate);
  let ok = false;
  for (const key of keys) if (crypto.subtle.timingSafeEqual(digest, key)) ok = true;
  return ok;
}

const BEARER = /^Bearer\s+(.+)$/i;

/**
 * Checks that the request carries a configured secret key: returns nothing
 * when this isolate already accepted it (the common case: no promise, the
 * call goes on in the same turn), otherwise a promise of the check. The
 * 401/429/500 is thrown (sync) or rejected.
 */
export function authorizeSecretKey(req: Request, env: Env): Promise<void> | undefined {
  const headers = req.headers;
  const match = BEARER.exec(headers.get("authorization") ?? "");
  if (!match) throw new ApiError(401, "unauthorized", "Missing secret key: send Authorization: Bearer <secret key>");
  const client = clientOf(headers);
  checkNotBlocked(client);
  const raw = env.TERAPI_SECRET_KEY ?? "";
  const candidate = match[1]!.trim();
  if (accepted.raw === raw && accepted.keys.has(candidate)) return undefined;
  return checkCandidate(env, raw, candidate, client);
}

async function checkCandidate(env: Env, raw: string, candidate: string, client: string): Promise<void> {
  const keys = await configuredDigests(raw);
  if (keys.length === 0) throw new ApiError(500, "not_configured", "TERAPI_SECRET_KEY is not set");
  if (!(await matchesAny(keys, candidate))) {
    await countFailure(env, client);
    throw new ApiError(401, "unauthorized", "Invalid secret key");
  }
  if (accepted.raw !== raw) accepted = { raw, keys: new Set() };
  if (accepted.keys.size < MAX_ACCEPTED) accepted.keys.add(candidate);
}

/**
 * `Authorization: Bearer <secret key>` against TERAPI_SECRET_KEY (comma separated for rotation).
 * A plain typed handler, not hono/factory's `createMiddleware` (the same function at run time): this
 * module is on the proxy's fast path, and importing the factory would build Hono's router modules
 * when the isolate starts, which only the router (loaded on demand) uses.
 */
export function secretKeyAuth(): MiddlewareHandler<AppEnv> {
  return async function secretKeyAuth(c, next) {
    await authorizeSecretKey(c.req.raw, c.env);
    await next();
  };
}
