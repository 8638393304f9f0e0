import { connectionObject, outboxObject } from "../bindings/stubs";
import type { ConnectionRecord } from "../connections/index-store";
import { readUsageIndex } from "../usage/index-db";
import { effectivePrices } from "../usage/prices";
import { bucketsFromIndex, summarize } from "../usage/query";
import { DAY_MS, HOUR_MS, type UsageRow } from "../usage/store";
import type { UsageSection } from "./page";
import type { ConnectionUsageView } from "./usage-charts";

/** Connections charted on the dashboard (those with usage, most recent first as listed). */
const CHARTED = 10;
const TOP = 10;

const orNull = <T>(p: Promise<T>): Promise<T | null> => p.catch(() => null);

/** One connection's last 48 hours and 30 days from its object (`null` when it cannot answer). */
export async function connectionUsage(env: Env, c: Pick<ConnectionRecord, "provider_config_key" | "connection_id">, now: number): Promise<ConnectionUsageView | null> {
  const stub = connectionObject(env, c.provider_config_key, c.connection_id);
  const to = now - (now % HOUR_MS) + HOUR_MS;
  const [hours, days] = await Promise.all([
    orNull(stub.usageBuckets({ grain: "hour", from: to - 48 * HOUR_MS, to })),
    orNull(stub.usageBuckets({ grain: "day", from: now - (now % DAY_MS) - 29 * DAY_MS, to: now - (now % DAY_MS) + DAY_MS })),
  ]);
  if (!hours || !days) return null;
  return { provider_config_key: c.provider_config_key, connection_id: c.connection_id, hours: hours as UsageRow[], days: days as UsageRow[] };
}

/** The dashboard's usage section: the charted connections' views and the environment's top connections (D1 index). */
export async function usageSection(env: Env, views: Array<ConnectionUsageView | null>, now: number): Promise<UsageSection> {
  const prices = effectivePrices(await orNull(outboxObject(env).usagePrices()));
  const dayStart = now - (now % DAY_MS);
  const rows = (await orNull(readUsageIndex(env.INDEX_DB, { from: dayStart - 29 * DAY_MS, to: dayStart + DAY_MS }))) ?? [];
  const { connections } = summarize(bucketsFromIndex(rows, prices));
  return {
    prices,
    charts: views.filter((v): v is ConnectionUsageView => v !== null && v.days.length > 0).slice(0, CHARTED),
    top: connections.slice(0, TOP).map((c) => ({
      provider_config_key: c.provider_config_key,
      connection_id: c.connection_id,
      requests: c.requests,
      tokens: c.input_tokens + c.output_tokens,
      cost: c.cost,
    })),
  };
}
