import { connectionObject } from "../bindings/stubs";
import { flushConnectionLogs, type WaitUntil } from "../logs/record";
import { capReachedError, type CapState } from "./caps";
import { costOf, effectivePrices, priceOf } from "./prices";
import { periodOf } from "./store";
import type { UsageCap, UsageSample } from "./types";
import { connectionKey } from "../lib/connection-key";

/**
 * The usage cap on the proxy's path, without a Durable Object round trip per
 * request: the isolate keeps each capped connection's last known usage (from
 * its object) plus what it counted itself since. Far from the cap a request
 * goes straight on (a stale view is refreshed in the background); near it
 * (>= NEAR of the limit) or with no view yet, the isolate writes its pending
 * usage and asks the object, which answers exactly. Uncapped connections never
 * get here (the cap rides in the cached connection).
 */

const NEAR = 0.9;
/** A view older than this is refreshed (in the background while far from the cap). */
const FRESH_MS = 15_000;

type View = { capKey: string; periodStart: number; used: number; blocked: boolean; state: CapState; checkedAt: number; refreshing: Promise<void> | null };

const views = new Map<string, View>();
/** Capped connections this isolate keeps a view of; past it the least recently checked goes (it is re-read exactly). */
const MAX_VIEWS = 10_000;
const defaultPrices = effectivePrices(null);

/** What this isolate just counted for a connection (src/usage/tap.ts). */
export function noteUsage(providerConfigKey: string, connectionId: string, sample: UsageSample): void {
  const view = views.get(connectionKey(providerConfigKey, connectionId));
  if (!view) return;
  view.used +=
    view.state.cap.metric === "tokens"
      ? sample.input + sample.output
      : costOf(
          {
            requests: 1,
            errors: 0,
            estimated_requests: 0,
            input_tokens: sample.input,
            cached_input_tokens: sample.cachedInput,
            output_tokens: sample.output,
            reasoning_tokens: sample.reasoning,
          },
          // The object's table (the environment's override included), as its exact check counts.
          priceOf(view.state.prices ?? defaultPrices, sample.model),
        );
}

async function exact(env: Env, providerConfigKey: string, connectionId: string, capKey: string): Promise<View> {
  // The object counts what this isolate still holds too.
  await flushConnectionLogs(env, providerConfigKey, connectionId);
  const state = await connectionObject(env, providerConfigKey, connectionId).usageCapState();
  const view: View = {
    capKey,
    periodStart: state?.period_start ?? 0,
    used: state?.used ?? 0,
    blocked: state?.blocked ?? false,
    state:
      state ??
      ({
        cap: { metric: "tokens", period: "day", limit: Infinity },
        used: 0,
        ratio: 0,
        blocked: false,
        period_start: 0,
        period_end: 0,
        price_version: "",
      } as CapState),
    checkedAt: Date.now(),
    refreshing: null,
  };
  const key = connectionKey(providerConfigKey, connectionId);
  views.delete(key); // re-inserted last: the Map's order stays least recently checked first
  views.set(key, view);
  if (views.size > MAX_VIEWS) views.delete(views.keys().next().value as string);
  return view;
}

function refuse(connectionId: string, s: CapState): never {
  throw capReachedError(connectionId, s);
}

/** Throws 429 `usage_cap_reached` when the connection's cap is reached; resolves otherwise. */
export async function enforceUsageCap(env: Env, waitUntil: WaitUntil, providerConfigKey: string, connectionId: string, cap: UsageCap): Promise<void> {
  const now = Date.now();
  const capKey = `${cap.metric}/${cap.period}/${cap.limit}`;
  let view = views.get(connectionKey(providerConfigKey, connectionId));
  const sameTerms = view !== undefined && view.capKey === capKey && view.periodStart === periodOf(cap.period, now).start;
  if (view && sameTerms) {
    const fresh = now - view.checkedAt < FRESH_MS;
    if (view.blocked && fresh) refuse(connectionId, view.state);
    if (!view.blocked && view.used < NEAR * cap.limit) {
      if (!fresh && !view.refreshing) {
        const v = view;
        v.refreshing = exact(env, providerConfigKey, connectionId, capKey).then(
          () => undefined,
          () => void (v.refreshing = null),
        );
        waitUntil(v.refreshing);
      }
      return;
    }
  }
  view = await exact(env, providerConfigKey, connectionId, capKey);
  if (view.blocked) refuse(connectionId, view.state);
}
