import type { BucketSnapshot } from "./rate-limiter";

type Row = {
  requests_limit: number | null;
  tokens_limit: number | null;
  requests_blocked_until: number;
  tokens_blocked_until: number;
  token_ratio: number;
  token_samples: number;
};

/**
 * The rate limiter's buckets in the connection object's SQLite
 * (`rate_limit_bucket`): one row per bucket (model, model family or endpoint)
 * that ever learned a limit, so a restarted object keeps what it learned.
 */
export function createRateLimitStore(sql: SqlStorage) {
  return {
    load(bucket: string): BucketSnapshot | undefined {
      const r = sql.exec<Row>("SELECT * FROM rate_limit_bucket WHERE bucket = ?", bucket).toArray()[0];
      return r
        ? {
            requestsLimit: r.requests_limit,
            tokensLimit: r.tokens_limit,
            requestsBlockedUntil: r.requests_blocked_until,
            tokensBlockedUntil: r.tokens_blocked_until,
            ratio: r.token_ratio,
            samples: r.token_samples,
          }
        : undefined;
    },
    /** `null`: the bucket is forgotten. */
    save(bucket: string, s: BucketSnapshot | null): void {
      if (!s) return void sql.exec("DELETE FROM rate_limit_bucket WHERE bucket = ?", bucket);
      sql.exec(
        "INSERT OR REPLACE INTO rate_limit_bucket VALUES (?, ?, ?, ?, ?, ?, ?)",
        bucket,
        s.requestsLimit,
        s.tokensLimit,
        s.requestsBlockedUntil,
        s.tokensBlockedUntil,
        s.ratio,
        s.samples,
      );
    },
  };
}
