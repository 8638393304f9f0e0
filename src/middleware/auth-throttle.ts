import { ApiError } from "../errors";

/**
 * Brute-force throttling of the secret key (API and dashboard), per client.
 *
 * Only failures count, and only a failure consults the shared limiter (the
 * AUTH_FAILURES Rate Limiting binding): a good key never pays for it. Once the
 * limiter says a client is over its budget, this isolate remembers it until
 * the period ends and refuses that client up front (a Map lookup), good key or
 * not, so guessing on cannot find the key in the meantime.
 */
const PERIOD_S = 60; // the binding's `period` in wrangler.toml
const MAX_REMEMBERED = 10_000;

const blockedUntil = new Map<string, number>();

/** The client as Cloudflare saw it; without the edge (local runs, tests) every caller is one client. */
export function clientOf(headers: Headers): string {
  return headers.get("cf-connecting-ip")?.trim() || "local";
}

const tooMany = (retryAfterS: number) =>
  new ApiError(429, "too_many_failed_attempts", `Too many failed attempts with a wrong secret key; try again in ${retryAfterS} s`, undefined, {
    "retry-after": String(retryAfterS),
  });

/** Refused up front while this isolate knows the client is blocked: seconds to wait, or null. */
function blockedFor(client: string, now = Date.now()): number | null {
  const until = blockedUntil.get(client);
  if (until === undefined) return null;
  if (until <= now) {
    blockedUntil.delete(client);
    return null;
  }
  return Math.ceil((until - now) / 1000);
}

/** Throws the 429 when the client is blocked (no I/O). */
export function checkNotBlocked(client: string): void {
  const wait = blockedFor(client);
  if (wait !== null) throw tooMany(wait);
}

/** Counts one failure; over the budget, the client is blocked for the period and this throws the 429. */
export async function countFailure(env: Pick<Env, "AUTH_FAILURES">, client: string, now = Date.now()): Promise<void> {
  const { success } = await env.AUTH_FAILURES.limit({ key: `secret_key:${client}` });
  if (success) return;
  if (blockedUntil.size >= MAX_REMEMBERED) {
    for (const [k, until] of blockedUntil) if (until <= now) blockedUntil.delete(k);
    if (blockedUntil.size >= MAX_REMEMBERED) blockedUntil.delete(blockedUntil.keys().next().value as string);
  }
  blockedUntil.set(client, now + PERIOD_S * 1000);
  throw tooMany(PERIOD_S);
}
