import { createMiddleware } from "hono/factory";
import { ApiError } from "../errors";
import type { AppEnv } from "../env";

const encoder = new TextEncoder();

/** Constant-time comparison: hash both sides so lengths never leak either. */
async function sameSecret(a: string, b: string): Promise<boolean> {
  const [ha, hb] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(a)),
    crypto.subtle.digest("SHA-256", encoder.encode(b)),
  ]);
  return crypto.subtle.timingSafeEqual(ha, hb);
}

export function parseSecretKeys(raw: string | undefined): string[] {
  return (raw ?? "").split(",").map((k) => k.trim()).filter(Boolean);
}

/** Is `candidate` one of the configured secret keys? Checks every key so timing says nothing. */
export async function isSecretKey(env: Env, candidate: string): Promise<boolean> {
  const keys = parseSecretKeys(env.TERAPI_SECRET_KEY);
  let ok = false;
  for (const key of keys) if (await sameSecret(candidate, key)) ok = true;
  return ok;
}

/** `Authorization: Bearer <secret key>` against TERAPI_SECRET_KEY (comma separated for rotation). */
export function secretKeyAuth() {
  return createMiddleware<AppEnv>(async function secretKeyAuth(c, next) {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match) throw new ApiError(401, "unauthorized", "Missing secret key: send Authorization: Bearer <secret key>");
    if (parseSecretKeys(c.env.TERAPI_SECRET_KEY).length === 0)
      throw new ApiError(500, "not_configured", "TERAPI_SECRET_KEY is not set");
    if (!(await isSecretKey(c.env, match[1].trim()))) throw new ApiError(401, "unauthorized", "Invalid secret key");
    await next();
  });
}
