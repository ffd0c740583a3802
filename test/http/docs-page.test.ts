// The API reference page (/swagger, Scalar) in Debian's Chromium: it renders the document from
// this service alone — no request to any other host — and shows none of Scalar's buttons that
// need a service on the internet. A screenshot goes to test-artifacts/ (git-ignored).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { CHROMIUM_ARGS, chromiumPath } from "../browser";
import { startTestService, type TestService } from "../setup";

const ARTIFACTS = join(import.meta.dir, "../../test-artifacts");
/** What Scalar offers that calls its own services: none may be on the page of a closed network. */
const INTERNET_ONLY = ["Ask AI", "Generate MCP", "Share", "Deploy", "Open in Scalar", "Powered by Scalar"];

let s: TestService;
let browser: Browser;
let origin: string;
beforeAll(async () => {
  s = await startTestService({}, { http: true });
  origin = `http://127.0.0.1:${s.service.app.server!.port}`;
  browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS });
}, 30_000);
afterAll(async () => {
  await browser?.close();
  await s?.stop();
}, 30_000);

describe("the API reference page", () => {
  // /swagger/ (the trailing slash is where a relative document URL used to break); test/http/docs.test.ts
  // checks that /swagger and /swagger/ name the same document.
  for (const path of ["/swagger/"]) {
    test(`${path} renders the document from this service alone, without internet-only buttons`, async () => {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const requests: string[] = [];
      page.on("request", (r) => requests.push(r.url()));
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      try {
        const res = await page.goto(origin + path);
        expect(res?.status()).toBe(200);
        // Rendered from the document: the first operation's summary.
        await page.getByText("May this token pass this gate, now?").first().waitFor({ timeout: 30_000 });
        mkdirSync(ARTIFACTS, { recursive: true });
        // Scalar's own assets are loaded by now ("load"); what the rendering asked for is in `requests`.
        await page.waitForLoadState("load");
        await page.screenshot({ path: join(ARTIFACTS, "swagger.png") });
        expect(requests.filter((u) => !u.startsWith(origin + "/") && !u.startsWith("data:") && !u.startsWith("blob:"))).toEqual([]);
        expect(requests).toContain(origin + "/swagger/json");
        const text = await page.evaluate(() => document.body.innerText);
        expect(INTERNET_ONLY.filter((label) => text.includes(label))).toEqual([]);
        expect(errors).toEqual([]);
      } finally {
        await page.close();
      }
    }, 60_000);
  }
});
