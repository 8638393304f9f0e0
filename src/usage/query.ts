import { registryClient } from "../bindings/registry-client";
import { connectionObject, outboxObject } from "../bindings/stubs";
import { ApiError } from "../errors";
import { readUsageIndex, type IndexRowOut } from "./index-db";
import { costOf, effectivePrices, priceOf } from "./prices";
import { DAY_MS, HOUR_MS, startOf, type Grain } from "./store";
import { addTotals, emptyTotals, type PriceTable, type UsageSource, type UsageTotals } from "./types";
import { connectionKey } from "../lib/connection-key";

/** `GET /usage`: one connection from its object (day or hour), anything wider from the environment index (days). */
type UsageRequest = {
  connection_id?: string;
  provider_config_key?: string;
  end_user_id?: string;
  model?: string;
  from?: string;
  to?: string;
  granularity: Grain;
};

type Costed = UsageTotals & { cost: number };
export type UsageBucket = Costed & { start: string; provider_config_key: string; connection_id: string; model: string; source: UsageSource };
export type ConnectionUsage = Costed & { provider_config_key: string; connection_id: string; models: Array<Costed & { model: string }> };
export type UsageReport = {
  from: string;
  to: string;
  granularity: Grain;
  currency: "USD";
  price_version: string;
  totals: Costed;
  data: UsageBucket[];
  /** By cost, highest first: the environment's top connections for the period. */
  connections: ConnectionUsage[];
};

/** Hours are kept 48 h; the default windows are the last 48 hours or the last 30 days. */
const MAX_HOURS_BACK = 48 * HOUR_MS;
/** An end user's connections looked up at once (more: narrow by provider_config_key). */
const MAX_END_USER_CONNECTIONS = 500;
/**
 * Day rows (one per connection, day, model and source) one answer from the
 * environment index carries at most: more is refused with a clear error
 * rather than read whole into the isolate (at 10,000 connections a month is
 * 300,000 rows and more, past a Worker's memory).
 */
export const MAX_INDEX_ROWS = 20_000;

function parseTime(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  if (!Number.isFinite(t)) throw new ApiError(400, "invalid_request", `${name}: not a date (YYYY-MM-DD) or ISO 8601 time`);
  return t;
}

function usageWindow(req: Pick<UsageRequest, "from" | "to" | "granularity">, now = Date.now()): { from: number; to: number } {
  const grain = req.granularity;
  const to = parseTime("to", req.to) ?? startOf(grain, now) + (grain === "day" ? DAY_MS : HOUR_MS);
  const from = parseTime("from", req.from) ?? (grain === "day" ? to - 30 * DAY_MS : to - MAX_HOURS_BACK);
  if (from >= to) throw new ApiError(400, "invalid_request", "from: must be before to");
  return { from: startOf(grain, from), to };
}

const withCost = (t: UsageTotals, prices: PriceTable, model: string): Costed => ({ ...t, cost: costOf(t, priceOf(prices, model)) });

function totalsOf<T extends UsageTotals>(r: T): UsageTotals {
  return {
    requests: r.requests,
    errors: r.errors,
    estimated_requests: r.estimated_requests,
    input_tokens: r.input_tokens,
    cached_input_tokens: r.cached_input_tokens,
    output_tokens: r.output_tokens,
    reasoning_tokens: r.reasoning_tokens,
  };
}

/** The environment index's day rows as costed buckets. */
export function bucketsFromIndex(rows: IndexRowOut[], prices: PriceTable): UsageBucket[] {
  return rows.map((r) => ({
    start: new Date(r.day).toISOString(),
    provider_config_key: r.provider_config_key,
    connection_id: r.connection_id,
    model: r.model,
    source: r.source as UsageSource,
    ...withCost(totalsOf(r), prices, r.model),
  }));
}

/** Groups costed buckets into totals and per-connection (per-model) sums, connections by cost first. */
export function summarize(data: UsageBucket[]): Pick<UsageReport, "totals" | "connections"> {
  const totals: Costed = { ...emptyTotals(), cost: 0 };
  const byConn = new Map<string, ConnectionUsage>();
  for (const b of data) {
    addTotals(totals, b);
    totals.cost += b.cost;
    const key = connectionKey(b.provider_config_key, b.connection_id);
    let c = byConn.get(key);
    if (!c) byConn.set(key, (c = { provider_config_key: b.provider_config_key, connection_id: b.connection_id, ...emptyTotals(), cost: 0, models: [] }));
    addTotals(c, b);
    c.cost += b.cost;
    let m = c.models.find((x) => x.model === b.model);
    if (!m) c.models.push((m = { model: b.model, ...emptyTotals(), cost: 0 }));
    addTotals(m, b);
    m.cost += b.cost;
  }
  const connections = [...byConn.values()].sort((a, b) => b.cost - a.cost || b.requests - a.requests);
  for (const c of connections) c.models.sort((a, b) => b.cost - a.cost || b.requests - a.requests);
  return { totals, connections };
}

export async function queryUsage(env: Env, req: UsageRequest, now = Date.now()): Promise<UsageReport> {
  const { from, to } = usageWindow(req, now);
  const prices = effectivePrices(await outboxObject(env).usagePrices());
  let data: UsageBucket[];
  if (req.connection_id !== undefined && req.provider_config_key !== undefined) {
    const { provider_config_key: providerConfigKey, connection_id: connectionId } = req;
    const rows = await connectionObject(env, providerConfigKey, connectionId).usageBuckets({ grain: req.granularity, from, to, model: req.model });
    data = rows.map((r) => ({
      start: new Date(r.start).toISOString(),
      provider_config_key: providerConfigKey,
      connection_id: connectionId,
      model: r.model,
      source: r.source as UsageSource,
      ...withCost(totalsOf(r), prices, r.model),
    }));
  } else {
    if (req.granularity === "hour")
      throw new ApiError(400, "invalid_request", "granularity=hour needs connection_id and provider_config_key (the environment index holds days)");
    let connections: Array<[string, string]> | undefined;
    if (req.end_user_id !== undefined) {
      const page = await registryClient(env).listConnections({
        end_user_id: req.end_user_id,
        provider_config_key: req.provider_config_key,
        connection_id: req.connection_id,
        limit: MAX_END_USER_CONNECTIONS,
      });
      if (page?.next_cursor)
        throw new ApiError(400, "too_many_connections", `More than ${MAX_END_USER_CONNECTIONS} connections match: narrow with provider_config_key`);
      connections = (page?.connections ?? []).map((c) => [c.provider_config_key, c.connection_id]);
    }
    const rows = await readUsageIndex(env.INDEX_DB, {
      from,
      to,
      provider_config_key: req.provider_config_key,
      connection_id: req.connection_id,
      model: req.model,
      connections,
      limit: MAX_INDEX_ROWS + 1,
    });
    if (rows.length > MAX_INDEX_ROWS)
      throw new ApiError(
        400,
        "too_many_rows",
        `More than ${MAX_INDEX_ROWS} usage rows (one per connection, day, model and source) match: narrow with provider_config_key, connection_id, end_user_id, model, or a shorter from/to`,
      );
    data = bucketsFromIndex(rows, prices);
  }
  return {
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    granularity: req.granularity,
    currency: "USD",
    price_version: prices.version,
    ...summarize(data),
    data,
  };
}
