// Runs before every Worker test file (vitest setupFiles). Files of the `worker` project share a
// Miniflare one after the other, so each starts from the same environment-wide state:
import { applyD1Migrations, env, SELF } from "cloudflare:test";
import type { D1Migration } from "cloudflare:test";
import { routeIndexFeed } from "../../src/ops-index/feed";
import { writeIndexBatch } from "../../src/ops-index/write";
import { auth, TERAPI } from "./api";

// The environment-wide index's tables (migrations/*.sql), in every test file's D1. Idempotent.
await applyD1Migrations(env.INDEX_DB, (env as unknown as { TEST_INDEX_MIGRATIONS: D1Migration[] }).TEST_INDEX_MIGRATIONS);

// Tests drive the index (drainIndex in test/harness/webhooks.ts): the feed's flushes go through the queue
// consumer's own write, in order, instead of a Miniflare queue whose batches come when its timer says.
// test/worker/ops-index.test.ts puts the real queue back for its round trip.
routeIndexFeed((messages) => writeIndexBatch(env.INDEX_DB, messages));

// The environment's settings as a fresh deployment has them: no webhook URLs left by an earlier file
// (its events would become deliveries, and alarms, in this file's connection objects), default prices.
const reset = await SELF.fetch(`${TERAPI}/environment`, {
  method: "PATCH",
  headers: { ...auth, "content-type": "application/json" },
  body: JSON.stringify({ webhook_url: null, secondary_webhook_url: null, reveal_credentials: false, usage_prices: null }),
});
if (reset.status !== 200) throw new Error(`resetting the environment: ${reset.status} ${await reset.text()}`);
