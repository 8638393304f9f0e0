import { outboxObject } from "../bindings/stubs";
import { emitEvent } from "../events/emit";
import { sendUsageIndex } from "../ops-index/feed";
import { CAP_THRESHOLDS, capAmount, capState, type CapState } from "./caps";
import { effectivePrices } from "./prices";
import { createUsageStore, periodOf, type Grain, type StoredCap, type UsageRow } from "./store";
import type { PriceTable, UsageSample } from "./types";

/** What an isolate's log batch carries besides the lines (src/logs/record.ts). */
export type UsageBatch = { providerConfigKey: string; connectionId: string; samples: UsageSample[] };

/** Changed days are copied to the environment index at most this long after the change. */
const INDEX_DELAY_MS = 30_000;
/** The environment's price override is re-read this often (a PATCH shows in caps within this bound). */
const PRICES_TTL_MS = 30_000;

/**
 * A connection object's usage: the store, its cap with the 80 % / 100 %
 * webhooks, and the copy of changed days to the environment index.
 */
export function createUsageLedger(deps: { sql: SqlStorage; transaction: <T>(fn: () => T) => T; env: Env; now?: () => number }) {
  const now = deps.now ?? (() => Date.now());
  const store = createUsageStore(deps.sql, deps.transaction);
  let dirtySince: number | null = store.unindexed(1).length ? now() : null;
  let prices: { table: PriceTable; at: number } | null = null;
  // The cap row, read once and kept until `setCap` changes it (every batch asks for it).
  let storedCap: StoredCap | null | undefined;
  const cap = (): StoredCap | null => (storedCap === undefined ? (storedCap = store.getCap()) : storedCap);

  async function priceTable(): Promise<PriceTable> {
    if (prices && now() - prices.at < PRICES_TTL_MS) return prices.table;
    const table = effectivePrices(await outboxObject(deps.env).usagePrices());
    prices = { table, at: now() };
    return table;
  }

  async function currentCap(): Promise<CapState | null> {
    const c = cap();
    if (!c) return null;
    const at = now();
    const { start, end } = periodOf(c.period, at);
    const table = c.metric === "cost" ? await priceTable() : effectivePrices(null);
    return capState(c, capAmount(c, store.perModel(start, end), table), at, table);
  }

  /** Writes a batch's samples (synchronous: the caller may put it in a transaction of its own). */
  function write(batch: UsageBatch): void {
    store.add(batch.samples, now());
    dirtySince ??= now();
  }

  async function add(batch: UsageBatch): Promise<void> {
    write(batch);
    await alertCap(batch);
  }

  /** The cap's 80 % / 100 % webhooks, once each per period, after a batch was written. */
  async function alertCap(batch: UsageBatch): Promise<void> {
    const c = cap();
    if (!c) return;
    const state = await currentCap();
    if (!state) return;
    for (const threshold of CAP_THRESHOLDS) {
      if (state.ratio * 100 < threshold || !store.claimAlert(state.period_start, threshold)) continue;
      await emitEvent(deps.env, {
        type: "usage",
        connection_id: batch.connectionId,
        provider_config_key: batch.providerConfigKey,
        provider: c.provider,
        payload: {
          threshold,
          metric: c.metric,
          period: c.period,
          limit: c.limit,
          used: state.used,
          period_start: new Date(state.period_start).toISOString(),
          period_end: new Date(state.period_end).toISOString(),
          price_version: state.price_version,
        },
      });
    }
  }

  /** Usage of what the object itself calls (sync pages): no batch, no cap alerts (they carry no tokens). */
  function addOwn(sample: UsageSample): void {
    store.add([sample], now());
    dirtySince ??= now();
  }

  async function flushIndex(providerConfigKey: string, connectionId: string): Promise<number> {
    let written = 0;
    for (;;) {
      const rows = store.unindexed();
      if (rows.length === 0) break;
      await sendUsageIndex(deps.env, { provider_config_key: providerConfigKey, connection_id: connectionId, at: now(), rows });
      store.markIndexed(rows);
      written += rows.length;
    }
    dirtySince = null;
    return written;
  }

  return {
    add,
    write,
    alertCap,
    addOwn,
    flushIndex,
    query: (q: { grain: Grain; from: number; to: number; model?: string }): UsageRow[] => store.query(q),
    setCap: (next: StoredCap | null) => {
      store.setCap(next);
      storedCap = undefined;
    },
    capState: currentCap,
    nextIndexDue: () => (dirtySince === null ? null : dirtySince + INDEX_DELAY_MS),
  };
}

export type UsageLedger = ReturnType<typeof createUsageLedger>;
