// Secrets are not in wrangler.toml, so `wrangler types` cannot see them.
interface TerapiSecrets {
  /** One or more comma-separated secret keys for terapi's own API (rotation). */
  TERAPI_SECRET_KEY: string;
  /** Master key(s) for per-tenant secrets: `kid:base64key,…`, the first one encrypts. */
  TERAPI_ENCRYPTION_KEY: string;
  /** `off` turns usage counting off (src/usage/tap.ts); anything else, or unset, leaves it on. */
  TERAPI_USAGE?: string;
}

declare global {
  interface Env extends TerapiSecrets {}
  namespace Cloudflare {
    interface Env extends TerapiSecrets {}
  }
}

/** Hono context variables set by middleware. */
export type Variables = Record<string, never>;

export type AppEnv = { Bindings: Env; Variables: Variables };
