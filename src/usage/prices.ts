import { listProviders } from "../providers/catalog";
import type { PriceOverride } from "./price-schema";
import type { ModelPrice, PriceTable, UsageTotals } from "./types";

/** Every provider's price list (provider data), then the environment's override. */
export function effectivePrices(override: PriceOverride | null): PriceTable {
  const models: Record<string, ModelPrice> = {};
  const versions: string[] = [];
  for (const p of listProviders()) {
    if (!p.prices || versions.includes(p.prices.version)) continue;
    versions.push(p.prices.version);
    Object.assign(models, p.prices.models);
  }
  if (override) {
    Object.assign(models, override.models);
    versions.push(override.version);
  }
  return { version: versions.join("+"), models };
}

/** A model's price: its own, or its base name's (`gpt-4o-mini-2024-07-18` → `gpt-4o-mini`, longest first). */
export function priceOf(table: PriceTable, model: string): ModelPrice | null {
  if (Object.hasOwn(table.models, model)) return table.models[model] ?? null;
  let best: string | null = null;
  for (const name of Object.keys(table.models)) if (model.startsWith(`${name}-`) && (best === null || name.length > best.length)) best = name;
  return best === null ? null : (table.models[best] ?? null);
}

/** USD: uncached input, cached input and output (reasoning tokens are part of the output) at the model's price. */
export function costOf(t: UsageTotals, price: ModelPrice | null): number {
  if (!price) return 0;
  const uncached = Math.max(0, t.input_tokens - t.cached_input_tokens);
  return (uncached * price.input + t.cached_input_tokens * price.cached_input + t.output_tokens * price.output) / 1_000_000;
}
