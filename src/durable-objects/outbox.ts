import { DurableObject } from "cloudflare:workers";

/** Outgoing webhooks: environment settings, deliveries and attempts, retried on the alarm. */
export class WebhookOutbox extends DurableObject<Env> {}
