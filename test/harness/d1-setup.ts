import { applyD1Migrations, env } from "cloudflare:test";
import type { D1Migration } from "cloudflare:test";
import { routeIndexFeed } from "../../src/ops-index/feed";
import { writeIndexBatch } from "../../src/ops-index/write";

// The environment-wide index's tables (migrations/*.sql), in every test file's D1. Idempotent.
await applyD1Migrations(env.INDEX_DB, (env as unknown as { TEST_INDEX_MIGRATIONS: D1Migration[] }).TEST_INDEX_MIGRATIONS);

// Tests drive the index (drainIndex in test/harness/webhooks.ts): the feed's flushes go through the queue
// consumer's own write, in order, instead of a Miniflare queue whose batches come when its timer says.
// test/worker/ops-index.test.ts puts the real queue back for its round trip.
routeIndexFeed((messages) => writeIndexBatch(env.INDEX_DB, messages));
