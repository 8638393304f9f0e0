-- The environment-wide index (D1, binding INDEX_DB) that GET /logs,
-- GET /webhook-deliveries and the dashboard read without asking every
-- connection's object. Written in batches by the INDEX_QUEUE consumer; each
-- connection's object stays the source of truth for that connection.

-- Operation-log lines, as each connection's object stored them.
CREATE TABLE IF NOT EXISTS operations (
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
);
-- Newest first, keyset on (at, id); the filtered reads have their own prefix.
CREATE INDEX IF NOT EXISTS operations_at ON operations (at, id);
CREATE INDEX IF NOT EXISTS operations_conn_at ON operations (connection_id, at, id);
CREATE INDEX IF NOT EXISTS operations_pck_at ON operations (provider_config_key, at, id);
CREATE INDEX IF NOT EXISTS operations_type_at ON operations (type, at, id);

-- The latest state of every outgoing-webhook delivery (attempts stay in the
-- connection's object: GET /webhook-deliveries/:id reads them there).
CREATE TABLE IF NOT EXISTS deliveries (
  id TEXT PRIMARY KEY,
  event_id TEXT NOT NULL,
  type TEXT NOT NULL,
  connection_id TEXT NOT NULL,
  provider_config_key TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  url TEXT NOT NULL,
  status TEXT NOT NULL,
  attempt_count INTEGER NOT NULL,
  next_attempt_at INTEGER,
  deadline_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_status_code INTEGER,
  last_error TEXT,
  -- Orders the states of one delivery: an older one arriving late is ignored.
  rev INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_created ON deliveries (created_at, id);
CREATE INDEX IF NOT EXISTS deliveries_conn_created ON deliveries (connection_id, created_at, id);
CREATE INDEX IF NOT EXISTS deliveries_status_created ON deliveries (status, created_at, id);
