import { DurableObject } from "cloudflare:workers";

/** The environment's strongly consistent registry: integrations and the connection index. */
export class Registry extends DurableObject<Env> {}
