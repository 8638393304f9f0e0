// Cold start: a fresh workerd process to its first proxied response, terapi
// (the deploy bundle, its connection already stored) and the bare Worker alike.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { passThroughHeaders, startFloor } from "./floor.ts";
import { syncsSettled } from "../scenarios/rate-limit.ts";
import { median, type Paired, paired } from "./stats.ts";
import { createConnection, createIntegration, newSecrets, startMiniflare } from "../../scripts/lib/terapi.ts";

/**
 * Medians, ms, from `new Miniflare()` to the first proxied response: terapi,
 * the bare Worker, and the bare Worker given terapi's bindings (KV, Durable
 * Objects, D1, rate limiting: Miniflare starts a service for each, which is
 * neither terapi's code nor production's), so terapi − that is its own part.
 */
export type ColdStart = {
  terapiMs: number;
  bareMs: number;
  bareWithBindingsMs: number;
  /**
   * terapi's own part: the median over rounds of (terapi − the bare Worker with
   * bindings) started back to back in the same round. Paired by round, so a
   * round where the whole machine was slow cancels out (the start phase alone
   * moves by ±60 ms between rounds here); `perRoundMs` lists every round's.
   */
  ownMs: number;
  perRoundMs: number[];
  /** The per-round differences' median and spread (`ownMs` is its median). */
  paired: Paired;
  /** Rounds measured (fewer than asked when the deadline came first). */
  rounds: number;
  /** Where each side's time went (medians, ms): workerd up with the bundle loaded, the first proxied call, a second one. */
  phases: { terapi: Phases; bareWithBindings: Phases };
};
export type Phases = { startMs: number; firstCallMs: number; secondCallMs: number };

/** terapi's Durable Object classes as empty ones, so that a bare Worker given terapi's bindings resolves them. */
export const EMPTY_DURABLE_OBJECTS = `
import { DurableObject } from "cloudflare:workers";
export class Registry extends DurableObject {}
export class ConnectionObject extends DurableObject {}
export class WebhookOutbox extends DurableObject {}`;

/** The bare pass-through's default export (`first`: a statement run before it forwards, e.g. a KV read). */
export const bareFetchHandler = (apiKey: string, first = "") => `
export default {
  async fetch(request, env) {${first ? `\n    ${first}` : ""}${passThroughHeaders(`"Bearer " + ${JSON.stringify(apiKey)}`)}
    return fetch(env.OPENAI_BASE_URL + path + url.search, { method: request.method, headers, body: request.body });
  },
};`;

/** The bare pass-through with terapi's bindings. */
const bareWithBindings = (apiKey: string) => `${EMPTY_DURABLE_OBJECTS}
${bareFetchHandler(apiKey)}`;

const CHAT = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 4 });

async function proxied(base: string, headers: Record<string, string>): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${base}/v1/chat/completions`, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: CHAT });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`cold start: proxied call answered ${res.status}`);
  return performance.now() - t0;
}

/** One cold start: `start` resolves with the origin to call once workerd is up; the total and its phases. */
async function coldStart(
  start: () => Promise<{ base: string; stop: () => Promise<void> }>,
  headers: Record<string, string>,
): Promise<Phases & { totalMs: number }> {
  const t0 = performance.now();
  const s = await start();
  try {
    const startMs = performance.now() - t0;
    const firstCallMs = await proxied(s.base, headers);
    const totalMs = performance.now() - t0;
    return { totalMs, startMs, firstCallMs, secondCallMs: await proxied(s.base, headers) };
  } finally {
    await s.stop();
  }
}

/**
 * Median of `rounds` cold starts each: terapi restarts on storage that already
 * holds its integration and connection (set up by a first process), so the
 * time is workerd's start, the bundle's load and one proxied call.
 */
export async function measureColdStart(opts: {
  root: string;
  bundleDir: string;
  tmp: string;
  simUrl: string;
  simKey: string;
  rounds: number;
  /**
   * A/A control (`--aa`): terapi's side is a second copy of the bare Worker with bindings (its own storage,
   * set up the same way), so the per-round differences are the method's own noise.
   */
  aa?: boolean;
  /** performance.now() after which no new round starts (at least one runs). */
  deadline?: number;
}): Promise<ColdStart> {
  const persistTo = mkdtempSync(resolve(opts.tmp, "cold-"));
  const secrets = newSecrets();
  const setup = await startMiniflare({ root: opts.root, bundleDir: opts.bundleDir, simUrl: opts.simUrl, secrets, directSocket: true, persistTo });
  try {
    await createIntegration(setup.origin, secrets.secretKey, "openai-cold");
    await createConnection(setup.origin, secrets.secretKey, "openai-cold", "cold-tenant", opts.simKey);
    // The connection's first sync runs ("now" at its creation) done before this process stops: left
    // due, the connection's object ran them at the next starts, in terapi's isolate, during the first call.
    await syncsSettled(setup.origin, secrets.secretKey, "openai-cold", "cold-tenant", performance.now() + 30_000);
  } finally {
    await setup.stop();
  }
  const headers = { authorization: `Bearer ${secrets.secretKey}`, "connection-id": "cold-tenant", "provider-config-key": "openai-cold" };
  const terapi: (Phases & { totalMs: number })[] = [];
  const bare: number[] = [];
  const withBindings: (Phases & { totalMs: number })[] = [];
  const bareDir = resolve(persistTo, "bare-bundle");
  mkdirSync(bareDir, { recursive: true });
  writeFileSync(resolve(bareDir, "index.js"), bareWithBindings(opts.simKey));
  // The bare Worker with bindings starts on storage of its own, persisted as terapi's is (Miniflare
  // opens persisted storage differently from in-memory: not terapi's code either way).
  const barePersist = mkdtempSync(resolve(opts.tmp, "cold-bare-"));
  // --aa: the copy has storage of its own too, opened once before the rounds as terapi's was by its set-up.
  const copyPersist = mkdtempSync(resolve(opts.tmp, "cold-copy-"));
  const startBare = (persist: string) => async () => {
    const b = await startMiniflare({
      root: opts.root,
      bundleDir: bareDir,
      simUrl: opts.simUrl,
      secrets,
      directSocket: true,
      persistTo: persist,
      migrate: false,
    });
    return { base: `${b.origin}/proxy`, stop: b.stop };
  };
  if (opts.aa) await coldStart(startBare(copyPersist), {});
  let compatibilityDate: string | undefined;
  const startTerapi = opts.aa
    ? startBare(copyPersist)
    : async () => {
        const t = await startMiniflare({
          root: opts.root,
          bundleDir: opts.bundleDir,
          simUrl: opts.simUrl,
          secrets,
          directSocket: true,
          persistTo,
          migrate: false,
        });
        compatibilityDate = t.compatibilityDate;
        return { base: `${t.origin}/proxy`, stop: t.stop };
      };
  for (let i = 0; i < opts.rounds; i++) {
    if (i > 0 && opts.deadline !== undefined && performance.now() > opts.deadline) break;
    // The two sides judged against each other start in turn, first one then the other, so that
    // neither always follows the same process's exit.
    const terapiSide = () => coldStart(startTerapi, opts.aa ? {} : headers);
    const bareSide = () => coldStart(startBare(barePersist), {});
    if (i % 2 === 0) {
      terapi.push(await terapiSide());
      withBindings.push(await bareSide());
    } else {
      withBindings.push(await bareSide());
      terapi.push(await terapiSide());
    }
    // The bare Worker without bindings is information, not judged: three rounds of it are enough.
    if (i >= 3) continue;
    const t0 = performance.now();
    const f = await startFloor({ simUrl: opts.simUrl, apiKey: opts.simKey, compatibilityDate, directSocket: true });
    try {
      await proxied(f.target.base, {});
      bare.push(performance.now() - t0);
    } finally {
      await f.stop();
    }
  }
  const perRoundMs = terapi.map((t, i) => t.totalMs - (withBindings[i]?.totalMs ?? 0));
  const phases = (xs: Phases[]): Phases => ({
    startMs: median(xs.map((x) => x.startMs)),
    firstCallMs: median(xs.map((x) => x.firstCallMs)),
    secondCallMs: median(xs.map((x) => x.secondCallMs)),
  });
  return {
    terapiMs: median(terapi.map((x) => x.totalMs)),
    bareMs: median(bare),
    bareWithBindingsMs: median(withBindings.map((x) => x.totalMs)),
    ownMs: median(perRoundMs),
    perRoundMs,
    paired: paired(perRoundMs),
    rounds: perRoundMs.length,
    phases: { terapi: phases(terapi), bareWithBindings: phases(withBindings) },
  };
}
