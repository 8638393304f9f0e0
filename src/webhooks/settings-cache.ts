import { outboxObject } from "../bindings/stubs";
import type { EndpointUrls } from "./delivery-queue";

/**
 * What a delivery needs of the environment's settings: where to send and the
 * secrets that sign. The settings live in one object (the outbox); reading it
 * per event would put that one object on every event's path, so each isolate
 * keeps a copy for SETTINGS_TTL_MS. A change made through this isolate applies
 * at once; elsewhere within SETTINGS_TTL_MS.
 */
export type DeliveryConfig = { urls: EndpointUrls; secrets: string[] };

const SETTINGS_TTL_MS = 10_000;

/**
 * Settled values only: a pending read shared between requests would die with
 * the request that started it (workerd cancels its continuations), so
 * concurrent misses each read, and the first answer is kept.
 */
let cached: { config: DeliveryConfig; until: number } | null = null;

export async function deliveryConfig(env: Env, now = Date.now()): Promise<DeliveryConfig> {
  if (cached && cached.until > now) return cached.config;
  const config = await outboxObject(env).deliveryConfig(now);
  cached = { config, until: now + SETTINGS_TTL_MS };
  return config;
}

/** After a settings change made through this isolate. */
export function forgetDeliveryConfig(): void {
  cached = null;
}
