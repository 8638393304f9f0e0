-- Running totals of usage_daily per connection and model (sources summed),
-- written by src/usage/index-db.ts in the same batch as the day rows. A
-- connection's sums over any window [from, to) are two rows: its running
-- total on its last day before `to`, minus the one on its last day before
-- `from`. The dashboard ranks the top connections of the last 30 days with
-- two index lookups per connection and model instead of summing every day row.
CREATE TABLE IF NOT EXISTS usage_running (
  provider_config_key TEXT NOT NULL,
  connection_id TEXT NOT NULL,
  model TEXT NOT NULL,
  day INTEGER NOT NULL,
  requests INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL,
  cached_input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  PRIMARY KEY (provider_config_key, connection_id, model, day)
);
-- Each connection's models and the last day it used each: the rows a ranking starts from.
CREATE TABLE IF NOT EXISTS usage_series (
  provider_config_key TEXT NOT NULL,
  connection_id TEXT NOT NULL,
  model TEXT NOT NULL,
  last_day INTEGER NOT NULL,
  PRIMARY KEY (provider_config_key, connection_id, model)
);
CREATE INDEX IF NOT EXISTS usage_series_last_day ON usage_series (last_day);
-- What usage_daily already holds (a database migrated with rows in it).
INSERT INTO usage_running (provider_config_key, connection_id, model, day, requests, input_tokens, cached_input_tokens, output_tokens)
SELECT provider_config_key, connection_id, model, day,
  SUM(SUM(requests)) OVER w, SUM(SUM(input_tokens)) OVER w, SUM(SUM(cached_input_tokens)) OVER w, SUM(SUM(output_tokens)) OVER w
FROM usage_daily WHERE true GROUP BY provider_config_key, connection_id, model, day
WINDOW w AS (PARTITION BY provider_config_key, connection_id, model ORDER BY day)
ON CONFLICT (provider_config_key, connection_id, model, day) DO UPDATE SET
  requests = excluded.requests, input_tokens = excluded.input_tokens,
  cached_input_tokens = excluded.cached_input_tokens, output_tokens = excluded.output_tokens;
INSERT INTO usage_series (provider_config_key, connection_id, model, last_day)
SELECT provider_config_key, connection_id, model, MAX(day) FROM usage_daily WHERE true GROUP BY provider_config_key, connection_id, model
ON CONFLICT (provider_config_key, connection_id, model) DO UPDATE SET last_day = MAX(last_day, excluded.last_day);
