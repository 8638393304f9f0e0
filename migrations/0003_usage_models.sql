-- The models present in usage_daily, with the last day each was used
-- (src/usage/index-db.ts writes it beside the day rows). The dashboard prices
-- its top connections by these names (a dated name takes its base model's
-- price) without a DISTINCT over every connection's day rows.
CREATE TABLE IF NOT EXISTS usage_models (
  model TEXT PRIMARY KEY,
  last_day INTEGER NOT NULL
);
-- The models already in usage_daily (a database migrated with rows in it).
INSERT INTO usage_models (model, last_day) SELECT model, MAX(day) FROM usage_daily WHERE true GROUP BY model
  ON CONFLICT (model) DO UPDATE SET last_day = MAX(last_day, excluded.last_day);
