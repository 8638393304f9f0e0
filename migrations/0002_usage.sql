-- Environment-wide usage index (src/usage/index-db.ts): day sums per
-- connection, model and source, copied from the connections' objects.
CREATE TABLE IF NOT EXISTS usage_daily (
  provider_config_key TEXT NOT NULL,
  connection_id TEXT NOT NULL,
  day INTEGER NOT NULL,
  model TEXT NOT NULL,
  source TEXT NOT NULL,
  requests INTEGER NOT NULL DEFAULT 0,
  errors INTEGER NOT NULL DEFAULT 0,
  estimated_requests INTEGER NOT NULL DEFAULT 0,
  input_tokens INTEGER NOT NULL DEFAULT 0,
  cached_input_tokens INTEGER NOT NULL DEFAULT 0,
  output_tokens INTEGER NOT NULL DEFAULT 0,
  reasoning_tokens INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (provider_config_key, connection_id, day, model, source)
);
CREATE INDEX IF NOT EXISTS usage_daily_day ON usage_daily (day);
