import { addMissingColumns, type Migration } from "./schema";

/**
 * The tables of a connection's object (`ConnectionObject`), oldest step first.
 * Which store reads each table: docs/storage.md.
 */
export const CONNECTION_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "the tables as they were before schema versioning (objects from then may lack some, or some jobs columns)",
    up(sql) {
      // Who this object is: provider_config_key, connection_id.
      sql.exec("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
      // The rate limiter's buckets (src/proxy/rate-limit-store.ts); the older one-budget table is gone.
      sql.exec("DROP TABLE IF EXISTS rate_limit");
      sql.exec(`CREATE TABLE IF NOT EXISTS rate_limit_bucket (
        bucket TEXT PRIMARY KEY,
        requests_limit INTEGER, tokens_limit INTEGER,
        requests_blocked_until INTEGER NOT NULL, tokens_blocked_until INTEGER NOT NULL,
        token_ratio REAL NOT NULL, token_samples INTEGER NOT NULL
      )`);
      sql.exec(`CREATE TABLE IF NOT EXISTS proxy_jobs (
        id TEXT PRIMARY KEY,
        idempotency_key TEXT UNIQUE,
        status TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        query TEXT NOT NULL,
        headers TEXT NOT NULL,
        body BLOB,
        retries INTEGER NOT NULL,
        backoff_allowed INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        due_at INTEGER,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        result_status INTEGER,
        result_headers TEXT,
        result_body BLOB,
        result_truncated INTEGER,
        error TEXT,
        kind TEXT NOT NULL DEFAULT 'proxy',
        action TEXT,
        in_flight TEXT
      )`);
      // Tables made before action runs and crash recovery existed.
      addMissingColumns(sql, "proxy_jobs", { kind: "TEXT NOT NULL DEFAULT 'proxy'", action: "TEXT", in_flight: "TEXT" });
      sql.exec("CREATE INDEX IF NOT EXISTS proxy_jobs_due ON proxy_jobs (due_at) WHERE due_at IS NOT NULL");
      // The operation log (src/logs/store.ts).
      sql.exec(`CREATE TABLE IF NOT EXISTS operation_logs (
        id TEXT PRIMARY KEY,
        at INTEGER NOT NULL,
        provider_config_key TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        type TEXT NOT NULL,
        status TEXT NOT NULL,
        http_status INTEGER,
        duration_ms INTEGER NOT NULL,
        retries INTEGER NOT NULL,
        wait_ms INTEGER NOT NULL,
        request_id TEXT,
        method TEXT,
        path TEXT,
        detail TEXT
      )`);
      sql.exec("CREATE INDEX IF NOT EXISTS operation_logs_at ON operation_logs (at, id)");
      sql.exec(`CREATE TABLE IF NOT EXISTS operation_log_aggregates (
        kind TEXT PRIMARY KEY,
        line_id TEXT NOT NULL,
        window_start INTEGER NOT NULL,
        count INTEGER NOT NULL
      )`);
      // Usage (src/usage/store.ts).
      sql.exec(`CREATE TABLE IF NOT EXISTS usage_buckets (
        grain TEXT NOT NULL,
        start INTEGER NOT NULL,
        model TEXT NOT NULL,
        source TEXT NOT NULL,
        requests INTEGER NOT NULL DEFAULT 0,
        errors INTEGER NOT NULL DEFAULT 0,
        estimated_requests INTEGER NOT NULL DEFAULT 0,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        cached_input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        reasoning_tokens INTEGER NOT NULL DEFAULT 0,
        rev INTEGER NOT NULL DEFAULT 0,
        indexed_rev INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (grain, start, model, source)
      )`);
      sql.exec(
        "CREATE TABLE IF NOT EXISTS usage_cap (id INTEGER PRIMARY KEY CHECK (id = 1), metric TEXT NOT NULL, period TEXT NOT NULL, lim REAL NOT NULL, provider TEXT NOT NULL)",
      );
      sql.exec("CREATE TABLE IF NOT EXISTS usage_alerts (period_start INTEGER NOT NULL, threshold INTEGER NOT NULL, PRIMARY KEY (period_start, threshold))");
      // Syncs (src/sync/state.ts, src/sync/records.ts).
      sql.exec(`CREATE TABLE IF NOT EXISTS sync_state (
        name TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        frequency TEXT NOT NULL,
        frequency_ms INTEGER NOT NULL,
        paused INTEGER NOT NULL DEFAULT 0,
        forced INTEGER NOT NULL DEFAULT 0,
        next_run_at INTEGER,
        run_id TEXT,
        run_started_at INTEGER,
        run_checkpoint TEXT,
        run_due_at INTEGER,
        run_attempts INTEGER NOT NULL DEFAULT 0,
        run_failed INTEGER NOT NULL DEFAULT 0,
        run_unsure INTEGER NOT NULL DEFAULT 0,
        run_added INTEGER NOT NULL DEFAULT 0, last_added INTEGER NOT NULL DEFAULT 0,
        run_updated INTEGER NOT NULL DEFAULT 0, last_updated INTEGER NOT NULL DEFAULT 0,
        run_deleted INTEGER NOT NULL DEFAULT 0, last_deleted INTEGER NOT NULL DEFAULT 0,
        run_rows INTEGER NOT NULL DEFAULT 0, last_rows INTEGER NOT NULL DEFAULT 0,
        run_seen INTEGER NOT NULL DEFAULT 0, last_seen INTEGER NOT NULL DEFAULT 0,
        run_pages INTEGER NOT NULL DEFAULT 0, last_pages INTEGER NOT NULL DEFAULT 0,
        last_run_id TEXT,
        last_status TEXT,
        last_started_at INTEGER,
        last_finished_at INTEGER,
        last_error TEXT
      )`);
      sql.exec("CREATE TABLE IF NOT EXISTS sync_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
      sql.exec(`CREATE TABLE IF NOT EXISTS sync_records (
        model TEXT NOT NULL,
        id TEXT NOT NULL,
        json TEXT NOT NULL,
        hash TEXT NOT NULL,
        first_seen_at INTEGER NOT NULL,
        last_modified_at INTEGER NOT NULL,
        last_action TEXT NOT NULL,
        deleted_at INTEGER,
        seen_run TEXT,
        cursor_seq INTEGER NOT NULL,
        PRIMARY KEY (model, id)
      )`);
      sql.exec("CREATE INDEX IF NOT EXISTS sync_records_seq ON sync_records (model, cursor_seq)");
      sql.exec("CREATE TABLE IF NOT EXISTS sync_seq (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL)");
      sql.exec("INSERT OR IGNORE INTO sync_seq (id, seq) VALUES (1, 0)");
      sql.exec("CREATE TABLE IF NOT EXISTS sync_seen (run_id TEXT NOT NULL, page INTEGER NOT NULL, ids TEXT NOT NULL, PRIMARY KEY (run_id, page))");
      // Outgoing webhooks about this connection (src/webhooks/delivery-queue.ts) and inbound dedupe (src/webhooks/inbound-dedupe.ts).
      sql.exec(`CREATE TABLE IF NOT EXISTS events (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        provider_config_key TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL
      )`);
      sql.exec(`CREATE TABLE IF NOT EXISTS deliveries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        event_id TEXT NOT NULL,
        type TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        provider_config_key TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        url TEXT NOT NULL,
        status TEXT NOT NULL,
        attempt_count INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER,
        deadline_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        last_status_code INTEGER,
        last_error TEXT
      )`);
      sql.exec("CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_attempt_at)");
      sql.exec(`CREATE TABLE IF NOT EXISTS attempts (
        delivery_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        status_code INTEGER,
        response_snippet TEXT,
        error TEXT,
        outcome TEXT NOT NULL,
        PRIMARY KEY (delivery_id, attempt)
      )`);
      sql.exec(`CREATE TABLE IF NOT EXISTS inbound_webhooks (
        provider_config_key TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        webhook_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (provider_config_key, connection_id, webhook_id)
      )`);
      sql.exec("CREATE INDEX IF NOT EXISTS inbound_webhooks_expiry ON inbound_webhooks (expires_at)");
    },
  },
  {
    version: 2,
    description: "proxy_jobs becomes jobs: it holds async action runs as well as async proxy requests",
    up(sql) {
      sql.exec(`CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        action TEXT,
        idempotency_key TEXT UNIQUE,
        status TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        query TEXT NOT NULL,
        headers TEXT NOT NULL,
        body BLOB,
        retries INTEGER NOT NULL,
        backoff_allowed INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        in_flight TEXT,
        due_at INTEGER,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        result_status INTEGER,
        result_headers TEXT,
        result_body BLOB,
        result_truncated INTEGER,
        error TEXT
      )`);
      const columns =
        "id, kind, action, idempotency_key, status, method, path, query, headers, body, retries, backoff_allowed, attempts, in_flight, " +
        "due_at, created_at, updated_at, result_status, result_headers, result_body, result_truncated, error";
      sql.exec(`INSERT INTO jobs (${columns}) SELECT ${columns} FROM proxy_jobs`);
      sql.exec("DROP TABLE proxy_jobs");
      sql.exec("CREATE INDEX jobs_due ON jobs (due_at) WHERE due_at IS NOT NULL");
    },
  },
  {
    version: 3,
    description: "sync_meta merges into meta: one record of the connection the object serves (and its provider)",
    up(sql) {
      // The same connection in both (the object's id is made from it); meta's name stays where both have one.
      sql.exec("INSERT OR IGNORE INTO meta (k, v) SELECT k, v FROM sync_meta");
      sql.exec("DROP TABLE sync_meta");
    },
  },
];
