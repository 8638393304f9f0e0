import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { USAGE_INDEX_SCHEMA } from "../../src/usage/index-db";

type Column = { name: string; type: string; notnull: number; dflt_value: string | null; pk: number };
const columns = async (table: string) =>
  (await env.INDEX_DB.prepare(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid`).bind(table).all<Column>()).results;

// The index D1 gets its tables two ways: `wrangler d1 migrations apply` (migrations/, as the test
// setup does) and, for usage, the code's own CREATE TABLE IF NOT EXISTS. Both must agree and neither fail.
describe("the environment-wide index's schema", () => {
  it("the usage table the code creates is the one migrations/0002_usage.sql creates, and running it after the migrations changes nothing", async () => {
    const migrated = await columns("usage_daily");
    expect(migrated.map((c) => c.name)).toContain("reasoning_tokens");
    await env.INDEX_DB.batch(USAGE_INDEX_SCHEMA.map((s) => env.INDEX_DB.prepare(s)));
    expect(await columns("usage_daily")).toEqual(migrated);
    await env.INDEX_DB.prepare(USAGE_INDEX_SCHEMA[0].replace("usage_daily (", "usage_daily_from_code (")).run();
    expect(await columns("usage_daily_from_code")).toEqual(migrated);
    await env.INDEX_DB.prepare("DROP TABLE usage_daily_from_code").run();
  });

  it("the usage rollups the code creates (usage_models, usage_running, usage_series, usage_top, usage_forgotten) are the ones migrations/0003 to 0006 create", async () => {
    for (const table of ["usage_models", "usage_running", "usage_series", "usage_top", "usage_forgotten"]) {
      const migrated = await columns(table);
      expect(migrated.length).toBeGreaterThan(1);
      const ddl = USAGE_INDEX_SCHEMA.find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS ${table} (`))!;
      await env.INDEX_DB.prepare(ddl.replace(`${table} (`, `${table}_from_code (`)).run();
      expect(await columns(`${table}_from_code`)).toEqual(migrated);
      await env.INDEX_DB.prepare(`DROP TABLE ${table}_from_code`).run();
    }
  });

  it("holds the operations index beside it (migrations/0001_operations.sql)", async () => {
    const tables = (await env.INDEX_DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all<{ name: string }>()).results.map((r) => r.name);
    expect(tables).toEqual(expect.arrayContaining(["usage_daily", "operations", "deliveries"]));
  });
});
