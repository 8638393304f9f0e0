import { ensureChromium } from "./chromium.ts";

/** The browser tests' own set-up: Debian's Chromium, installed on first use (a fresh clone or CI has none). */
export default function setup() {
  ensureChromium();
}
