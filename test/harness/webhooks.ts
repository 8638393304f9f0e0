import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { inject } from "vitest";
import { jobObject } from "../../src/jobs/ids";
import { outboxObject } from "../../src/bindings/stubs";
import { flushOperationLogs } from "../../src/logs/record";
import { flushIndexFeed } from "../../src/ops-index/feed";
import { writeIndexBatch } from "../../src/ops-index/write";
import type { DeliveryDetail, DeliveryList, EnvironmentSettings } from "../../src/webhooks/schemas";
import { api } from "./api";
import { waitFor } from "./wait";
import type { ReceivedRequest, ScriptedResponse } from "./receiver";

/** Helpers for the webhook tests (inbound verification and outgoing deliveries). */

/** An integration (if new) and a connection of it holding `webhookSecret`, through the public API. */
export async function createWebhookConnection(providerConfigKey: string, connectionId: string, webhookSecret: string | null, apiKey = "sk-test-good") {
  const integ = await api("POST", "/integrations", { unique_key: providerConfigKey, provider: "openai" });
  if (integ.status !== 201 && integ.status !== 200 && integ.status !== 409) throw new Error(`integration: ${integ.status} ${JSON.stringify(integ.body)}`);
  const conn = await api("POST", "/connections", {
    provider_config_key: providerConfigKey,
    connection_id: connectionId,
    credentials: { type: "API_KEY", apiKey },
    ...(webhookSecret ? { connection_config: { webhook_secret: webhookSecret } } : {}),
  });
  if (conn.status !== 201 && conn.status !== 200) throw new Error(`connection: ${conn.status} ${JSON.stringify(conn.body)}`);
}

// --- the scriptable receiver (test/harness/receiver.ts) ----------------------

export function receiverUrl(id: string): string {
  return `${inject("receiverUrl")}/${id}`;
}

export async function scriptReceiver(id: string, responses: ScriptedResponse[]): Promise<string> {
  const res = await fetch(`${inject("receiverUrl")}/__receiver/script`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ id, responses }),
  });
  if (!res.ok) throw new Error(`receiver script: ${res.status}`);
  return receiverUrl(id);
}

export async function receivedBy(id: string): Promise<ReceivedRequest[]> {
  const res = await fetch(`${inject("receiverUrl")}/__receiver/received?id=${encodeURIComponent(id)}`);
  return ((await res.json()) as { requests: ReceivedRequest[] }).requests;
}

// --- environment and deliveries -------------------------------------------------

export async function setWebhookUrls(webhook_url: string | null, secondary_webhook_url: string | null = null): Promise<EnvironmentSettings> {
  const res = await api<EnvironmentSettings>("PATCH", "/environment", { webhook_url, secondary_webhook_url });
  if (res.status !== 200) throw new Error(`PATCH /environment: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export async function getDelivery(id: string): Promise<DeliveryDetail> {
  const res = await api<DeliveryDetail>("GET", `/webhook-deliveries/${id}`);
  if (res.status !== 200) throw new Error(`GET delivery: ${res.status}`);
  return res.body;
}

/** Lists deliveries; the environment-wide index is brought up to date first (see drainIndex). */
export async function listDeliveries(query: string): Promise<DeliveryList> {
  await drainIndex();
  const res = await api<DeliveryList>("GET", `/webhook-deliveries?${query}`);
  if (res.status !== 200) throw new Error(`GET deliveries: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export async function waitForAttempts(deliveryId: string, count: number): Promise<DeliveryDetail> {
  return waitFor(async () => {
    const d = await getDelivery(deliveryId);
    return d.attempt_count >= count ? d : undefined;
  }, `${count} attempt(s) of ${deliveryId}`);
}

/**
 * Drives the environment-wide index instead of waiting for it: the isolate's
 * buffered log lines go to their connections' objects, and what those handed
 * to the index feed is written to D1 by the queue consumer's own code, now.
 */
export async function drainIndex(): Promise<void> {
  await flushOperationLogs(env);
  await flushIndexFeed((messages) => writeIndexBatch(env.INDEX_DB, messages));
}

/** The environment's settings object (URLs, the signing secret sealed at rest). */
export function outbox() {
  return outboxObject(env);
}

/** The connection object that holds a delivery (its id names it). */
export function deliveryObject(deliveryId: string) {
  const stub = jobObject(env, "delivery", deliveryId);
  if (!stub) throw new Error(`not a delivery id: ${deliveryId}`);
  return stub;
}

/** The alarm time of the object holding a delivery, or null. */
export function outboxAlarm(deliveryId: string): Promise<number | null> {
  return runInDurableObject(deliveryObject(deliveryId), (_instance, state) => state.storage.getAlarm());
}

/**
 * Makes a pending delivery due now and runs its connection object's alarm,
 * instead of waiting out the real backoff.
 */
export async function runRetryNow(deliveryId: string): Promise<void> {
  const stub = deliveryObject(deliveryId);
  await runInDurableObject(stub, (_instance, state) => {
    state.storage.sql.exec("UPDATE deliveries SET next_attempt_at = ? WHERE id = ? AND status = 'pending'", Date.now(), deliveryId);
  });
  await runDurableObjectAlarm(stub);
}
