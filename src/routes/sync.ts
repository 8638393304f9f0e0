import { createRoute, z } from "@hono/zod-openapi";
import { badRequest } from "../errors";
import { createRouter } from "../openapi";
import { parseFrequency } from "../sync/frequency";
import { checkSyncNames, resolveConnection, resolveConnections } from "../sync/targets";
import { ErrorSchema } from "./schemas";

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });
const errors = {
  400: json(ErrorSchema, "Bad input (unknown sync, bad frequency)"),
  404: json(ErrorSchema, "Unknown integration or connection"),
};

const Target = {
  syncs: z
    .array(z.string().min(1))
    .openapi({ description: "Empty: every sync of the connection (Nango's `triggerSync(providerConfigKey)`)", example: ["files", "batches"] }),
  provider_config_key: z.string().min(1).openapi({ example: "openai" }),
  connection_id: z.string().min(1).optional().openapi({ description: "Omitted: every connection of the integration", example: "tenant-42" }),
};
const TriggerBody = z.object({ ...Target, opts: z.object({ reset: z.boolean().optional() }).optional() });
const TargetBody = z.object(Target);
const Success = z.object({ success: z.literal(true) });

const Counts = z.object({ added: z.number(), updated: z.number(), deleted: z.number() });
const SyncStatusSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    type: z.literal("INCREMENTAL"),
    checkpoint: z.null(),
    connection_id: z.string(),
    status: z.enum(["RUNNING", "PAUSED", "STOPPED", "SUCCESS", "ERROR"]),
    frequency: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    nextScheduledSyncAt: z.string().nullable(),
    latestResult: z.record(z.string(), Counts),
    recordCount: z.record(z.string(), z.number()),
    lastError: z.string().nullable(),
    latestRun: z
      .object({
        id: z.string().nullable(),
        status: z.enum(["SUCCESS", "ERROR"]).nullable(),
        pages: z.number(),
        records_seen: z.number(),
        rows_written: z.number(),
        duration_ms: z.number().nullable(),
      })
      .nullable(),
  })
  .openapi("SyncStatus");

const trigger = createRoute({
  method: "post",
  path: "/trigger",
  tags: ["Syncs"],
  summary: "Run syncs now",
  description: "Runs now even when paused. A run in progress goes on; `opts.reset` forgets the models' records and walks from scratch.",
  request: { body: { content: { "application/json": { schema: TriggerBody } }, required: true } },
  responses: { 200: json(Success, "Scheduled"), ...errors },
});

const pause = createRoute({
  method: "post",
  path: "/pause",
  tags: ["Syncs"],
  summary: "Pause syncs' schedules (a run in progress stops at its checkpoint)",
  request: { body: { content: { "application/json": { schema: TargetBody } }, required: true } },
  responses: { 200: json(Success, "Paused"), ...errors },
});

const start = createRoute({
  method: "post",
  path: "/start",
  tags: ["Syncs"],
  summary: "Start paused syncs again (overdue runs go now)",
  request: { body: { content: { "application/json": { schema: TargetBody } }, required: true } },
  responses: { 200: json(Success, "Started"), ...errors },
});

const status = createRoute({
  method: "get",
  path: "/status",
  tags: ["Syncs"],
  summary: "Syncs' state, latest run and record counts",
  description: "STOPPED: has not run yet. `syncs`: comma separated, `*` or omitted for all.",
  request: {
    query: z.strictObject({
      provider_config_key: z.string().min(1),
      connection_id: z.string().min(1).optional(),
      syncs: z.string().optional().openapi({ example: "files,batches" }),
    }),
  },
  responses: { 200: json(z.object({ syncs: z.array(SyncStatusSchema) }), "Per connection and sync"), ...errors },
});

const frequency = createRoute({
  method: "put",
  path: "/update-connection-frequency",
  tags: ["Syncs"],
  summary: "Change one connection's schedule for a sync",
  description: "e.g. `every 5 minutes`, `every 30s`, `every 1h` (minimum 30 seconds, maximum 365 days); null goes back to the sync's default.",
  request: {
    body: {
      content: {
        "application/json": {
          schema: z.object({
            sync_name: z.string().min(1),
            provider_config_key: z.string().min(1),
            connection_id: z.string().min(1),
            frequency: z.string().min(1).max(64).nullable(),
          }),
        },
      },
      required: true,
    },
  },
  responses: { 200: json(z.object({ frequency: z.string() }), "The schedule now"), ...errors },
});

/** The named syncs this connection has; none named means all of them. */
const chosen = (own: string[], named: string[]) => (named.length === 0 ? own : named.filter((s) => own.includes(s)));

/** `/sync/*`: Nango's sync controls, per connection or for an integration's connections. */
export const syncRoutes = createRouter()
  .openapi(trigger, async (c) => {
    const body = c.req.valid("json");
    const conns = await resolveConnections(c.env, body.provider_config_key, body.connection_id);
    checkSyncNames(conns, body.syncs);
    await Promise.all(conns.map((k) => k.stub.triggerSyncs(k.target, chosen(k.target.syncs, body.syncs), body.opts?.reset === true)));
    return c.json({ success: true as const }, 200);
  })
  .openapi(pause, async (c) => {
    const body = c.req.valid("json");
    const conns = await resolveConnections(c.env, body.provider_config_key, body.connection_id);
    checkSyncNames(conns, body.syncs);
    await Promise.all(conns.map((k) => k.stub.setSyncsPaused(k.target, chosen(k.target.syncs, body.syncs), true)));
    return c.json({ success: true as const }, 200);
  })
  .openapi(start, async (c) => {
    const body = c.req.valid("json");
    const conns = await resolveConnections(c.env, body.provider_config_key, body.connection_id);
    checkSyncNames(conns, body.syncs);
    await Promise.all(conns.map((k) => k.stub.setSyncsPaused(k.target, chosen(k.target.syncs, body.syncs), false)));
    return c.json({ success: true as const }, 200);
  })
  .openapi(status, async (c) => {
    const q = c.req.valid("query");
    const names =
      q.syncs === undefined || q.syncs.trim() === "*" || q.syncs.trim() === ""
        ? null
        : q.syncs
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean);
    const conns = await resolveConnections(c.env, q.provider_config_key, q.connection_id);
    if (names) checkSyncNames(conns, names);
    const all = await Promise.all(conns.map((k) => k.stub.syncStatus(k.target, names)));
    return c.json({ syncs: all.flat() }, 200);
  })
  .openapi(frequency, async (c) => {
    const body = c.req.valid("json");
    const conn = await resolveConnection(c.env, body.provider_config_key, body.connection_id);
    checkSyncNames([conn], [body.sync_name]);
    const def = conn.defs.find((d) => d.name === body.sync_name);
    const text = body.frequency ?? def?.frequency ?? "every hour";
    const ms = parseFrequency(text);
    if (ms === null)
      throw badRequest(
        "invalid_frequency",
        `frequency: '${text}' is not a schedule like 'every 5 minutes', 'every 30s', 'every 1h' (minimum 30 seconds, maximum 365 days)`,
      );
    await conn.stub.setSyncFrequency(conn.target, body.sync_name, text, ms);
    return c.json({ frequency: text }, 200);
  });
