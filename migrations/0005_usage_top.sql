-- The dashboard's latest ranking of the top connections by cost, shared by
-- every isolate: one row per window (the last 30 days, keyed by its first
-- day), written by whichever view ranked it (src/dashboard/top-cache.ts).
-- A view in any isolate shows it while it is fresh (60 s) and, stale, while
-- one refresh runs; it ranks synchronously only when there is none for its
-- window and prices. `key` is the window's end and the
-- SHA-256 of the prices it was ranked with; `top` the rows as JSON.
CREATE TABLE IF NOT EXISTS usage_top (
  window_from INTEGER PRIMARY KEY,
  key TEXT NOT NULL,
  ranked_at INTEGER NOT NULL,
  ranked INTEGER NOT NULL,
  top TEXT NOT NULL
);
