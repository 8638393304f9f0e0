// What every browser test stands on: terapi's deploy bundle on Miniflare
// (served over HTTP, the simulator as OpenAI) and Debian's Chromium driven by
// playwright-core, in a temp dir removed at the end.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { resolve } from "node:path";
import { inject } from "vitest";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { startMiniflare, type RunningTerapi, type TerapiSecrets } from "../../scripts/lib/terapi.ts";
import { SIMULATOR_URL } from "../harness/constants.ts";
import { CHROMIUM, CHROMIUM_ARGS, ensureChromium } from "./chromium.ts";

export const root = resolve(import.meta.dirname, "../..");
/** Screenshots go here. */
export const shots = resolve(root, "test-results");

export type BrowserStack = { terapi: RunningTerapi; browser: BrowserContext; page: Page; stop: () => Promise<void> };

export async function startBrowserStack(opts: {
  tmpPrefix: string;
  secrets: TerapiSecrets;
  viewport: { width: number; height: number };
}): Promise<BrowserStack> {
  ensureChromium();
  mkdirSync(shots, { recursive: true });
  const tmp = mkdtempSync(resolve(tmpdir(), opts.tmpPrefix));
  // The bundle globalSetup built once for the run (test/harness/global-setup.ts).
  const terapi = await startMiniflare({ root, bundleDir: inject("bundleDir"), simUrl: SIMULATOR_URL, secrets: opts.secrets, directSocket: false });
  const browser = await chromium.launchPersistentContext(resolve(tmp, "profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: opts.viewport,
  });
  const page = browser.pages()[0] ?? (await browser.newPage());
  return {
    terapi,
    browser,
    page,
    async stop() {
      await browser.close();
      await terapi.stop();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}
