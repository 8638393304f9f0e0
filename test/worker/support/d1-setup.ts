import { applyD1Migrations, env } from "cloudflare:test";
import type { D1Migration } from "cloudflare:test";

// The environment-wide index's tables (migrations/*.sql), in every test file's D1. Idempotent.
await applyD1Migrations(env.INDEX_DB, (env as unknown as { TEST_INDEX_MIGRATIONS: D1Migration[] }).TEST_INDEX_MIGRATIONS);
