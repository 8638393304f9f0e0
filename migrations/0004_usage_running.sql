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
-- Each connection's models: the first and last day with usage and the running
-- totals on the last one. A ranking starts from these rows; it looks up a
-- running total before the window only for a series that began before it.
CREATE TABLE IF NOT EXISTS usage_series (
  provider_config_key TEXT NOT NULL,
  connection_id TEXT NOT NULL,
  model TEXT NOT NULL,
  first_day INTEGER NOT NULL,
  last_day INTEGER NOT NULL,
  requests INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL,
  cached_input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
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
INSERT INTO usage_series (provider_config_key, connection_id, model, first_day, last_day, requests, input_tokens, cached_input_tokens, output_tokens)
SELECT provider_config_key, connection_id, model, first_day, day, requests, input_tokens, cached_input_tokens, output_tokens FROM (
  SELECT *, MIN(day) OVER p AS first_day, ROW_NUMBER() OVER (p ORDER BY day DESC) AS latest
  FROM usage_running WINDOW p AS (PARTITION BY provider_config_key, connection_id, model)
) WHERE latest = 1
ON CONFLICT (provider_config_key, connection_id, model) DO UPDATE SET
  first_day = excluded.first_day, last_day = excluded.last_day, requests = excluded.requests, input_tokens = excluded.input_tokens,
  cached_input_tokens = excluded.cached_input_tokens, output_tokens = excluded.output_tokens;
