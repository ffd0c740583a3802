// Debian's Chromium for the browser tests (playwright-core drives it; no browser download).
import { existsSync } from "node:fs";

/** The Chromium binary: CHROMIUM_PATH, or Debian's. Throws, saying how to install it, when there is none. */
export function chromiumPath(): string {
  const path = process.env.CHROMIUM_PATH ?? ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
  if (!path) {
    throw new Error("Chromium not found (looked at /usr/bin/chromium, /usr/bin/chromium-browser; set CHROMIUM_PATH). Install it: apt-get install -y chromium — .ci/run does.");
  }
  return path;
}

/** Flags for a headless Chromium in a container that must not call home. */
export const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"];
