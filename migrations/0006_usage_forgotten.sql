-- Connections whose usage rows were deleted with them, and when: a usage
-- state a connection object sent before its delete (still in INDEX_QUEUE)
-- is not written back (src/usage/index-db.ts DAYS). Kept 7 days.
CREATE TABLE IF NOT EXISTS usage_forgotten (
  provider_config_key TEXT NOT NULL,
  connection_id TEXT NOT NULL,
  forgotten_at INTEGER NOT NULL,
  PRIMARY KEY (provider_config_key, connection_id)
);
