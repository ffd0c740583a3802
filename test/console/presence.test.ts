// The console's presence page in a real browser (Debian's Chromium through playwright-core): live
// occupancy, the muster list of a zone (and its print layout), anti-passback forgiveness, the
// zone and gate rule settings, and an anti-passback refusal as the live view shows it.
// Screenshots go to test-artifacts/; CONSOLE_DOCS_SCREENSHOTS=1 also refreshes
// docs/console-muster.png and docs/console-anti-passback.png.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { startService, type Service } from "../../src/service";
import { hashSecret, newSecret } from "../../src/tokens";
import { createTestDb, sleepUntil, type TestDb, testConfig } from "../setup";

const CHROMIUM = process.env.CHROMIUM_PATH ?? ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
if (!CHROMIUM) throw new Error("Chromium not found (set CHROMIUM_PATH). Install it: apt-get install -y chromium — .ci/run does.");

const ARTIFACTS = join(import.meta.dir, "../../test-artifacts");
const DOCS = join(import.meta.dir, "../../docs");

let db: TestDb;
let service: Service;
let origin: string;
let adminToken: string;
let userDataDir: string;
let ctx: BrowserContext;
let page: Page;
let vault = "";
const cards: Record<string, string> = {};
const ids: Record<string, string> = {};

async function api(method: string, path: string, body?: unknown, token: string | null = adminToken) {
  const res = await fetch(origin + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  const parsed = text ? JSON.parse(text) : null;
  if (parsed?.revision) await service.deps.feed.waitFor(parsed.revision, 5000);
  return { status: res.status, body: parsed };
}
const verify = async (gate: string, who: string) => (await api("POST", "/api/v1/access/verify", { gate_id: gate, token: cards[who] }, null)).body;

async function shot(name: string) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.evaluate(() => document.querySelectorAll(".toast").forEach((t) => t.remove()));
  await page.screenshot({ path: join(ARTIFACTS, `console-${name}.png`), fullPage: false });
}

beforeAll(async () => {
  db = await createTestDb();
  adminToken = newSecret();
  await db.sql.begin(async (tx) => {
    const [u] = await tx`insert into users (username, display_name) values ('warden', 'Fire warden') returning id`;
    await tx`insert into credentials (user_id, kind, label, scopes, secret_hash) values (${u!.id}, 'api', 'console', ${["admin"]}, ${hashSecret(adminToken)})`;
  });
  service = await startService(testConfig({ HOST: "127.0.0.1" }), { databaseUrl: db.url, listen: true, maintenance: false });
  origin = `http://127.0.0.1:${service.app.server!.port}`;
  const staff = (await api("POST", "/api/v1/admin/groups", { name: "staff" })).body.id;
  const site = (await api("POST", "/api/v1/admin/zones", { name: "building" })).body.id;
  vault = (await api("POST", "/api/v1/admin/zones", { name: "vault", parent_id: site, anti_passback: "hard", anti_passback_reset: "12h", max_occupancy: 20 })).body.id;
  await api("POST", "/api/v1/admin/grants", { subject: { group_id: staff }, target: { zone_id: vault } });
  await api("POST", "/api/v1/admin/gates", { id: "VAULT_IN", name: "Vault entry", zone_id: vault, direction: "in" });
  await api("POST", "/api/v1/admin/gates", { id: "VAULT_OUT", name: "Vault exit", zone_id: vault, direction: "out" });
  for (const name of ["amara.okafor", "ben.hughes", "chen.wei", "dana.kowalski", "emil.larsen", "fatima.rahman"]) {
    const u = (await api("POST", "/api/v1/admin/users", { username: name })).body;
    ids[name] = u.id;
    await api("POST", `/api/v1/admin/groups/${staff}/members`, { user_id: u.id });
    cards[name] = (await api("POST", "/api/v1/admin/credentials", { user_id: u.id, kind: "card", label: `${name} badge` })).body.secret;
  }
  for (const name of Object.keys(cards)) expect((await verify("VAULT_IN", name)).allow).toBe(true);
  expect((await verify("VAULT_OUT", "fatima.rahman")).allow).toBe(true);

  userDataDir = mkdtempSync(join(tmpdir(), "pcl-console-presence-"));
  ctx = await chromium.launchPersistentContext(mkdtempSync(join(userDataDir, "ctx-")), {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1280, height: 820 }, deviceScaleFactor: 1, locale: "en-GB",
    timezoneId: "Europe/Berlin", colorScheme: "light",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
  });
  page = ctx.pages()[0] ?? (await ctx.newPage());
  page.setDefaultTimeout(8000);
  await page.goto(`${origin}/console`);
  await page.getByText("Use an admin API token instead").click();
  await page.getByLabel("Admin token", { exact: true }).fill(adminToken);
  await page.getByRole("button", { name: /token/i }).last().click();
  await page.getByRole("heading", { level: 1, name: "Live" }).waitFor();
}, 60_000);

afterAll(async () => {
  await ctx?.close().catch(() => {});
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  await service?.stop();
  await db?.drop();
});

describe("console: presence and muster", () => {
  test("live occupancy per zone, counting enclosing zones", async () => {
    await page.evaluate(() => (location.hash = "#/presence"));
    await page.getByRole("heading", { level: 1, name: "Presence & muster" }).waitFor();
    const row = (zone: string) => page.locator("table.occupancy tr", { has: page.getByText(zone, { exact: true }) });
    await row("vault").getByText("5", { exact: true }).waitFor();
    // Leaving the vault (fatima) is not leaving the building around it.
    await row("building").getByText("6", { exact: true }).waitFor();
    // Live: a new entry shows within the refresh.
    expect((await verify("VAULT_OUT", "emil.larsen")).allow).toBe(true);
    await row("vault").getByText("4", { exact: true }).waitFor();
    expect((await verify("VAULT_IN", "emil.larsen")).allow).toBe(true);
    await row("vault").getByText("5", { exact: true }).waitFor();
  }, 20_000);

  test("the muster list: who is inside, since when, through which gate; it prints as a list", async () => {
    await page.getByRole("link", { name: "Muster list of vault" }).click();
    await page.getByRole("heading", { name: "Muster list — vault" }).waitFor();
    const rows = page.locator("table.muster-list tbody tr");
    expect(await rows.count()).toBe(5);
    const names = await page.locator("table.muster-list tbody tr td:nth-child(2)").allTextContents();
    expect(names.sort()).toEqual(["amara.okafor", "ben.hughes", "chen.wei", "dana.kowalski", "emil.larsen"]);
    expect(await page.getByText("5 people inside").count()).toBe(1);
    expect(await rows.first().getByText("VAULT_IN").count()).toBe(1);
    // The print layout: the list alone, no navigation, no buttons.
    await page.emulateMedia({ media: "print" });
    expect(await page.locator(".nav").isVisible()).toBe(false);
    expect(await page.getByRole("button", { name: "Print muster list" }).isVisible()).toBe(false);
    expect(await rows.first().isVisible()).toBe(true);
    await shot("muster");
    await page.emulateMedia({ media: "screen" });
  }, 20_000);

  test("forgive clears one user's anti-passback from the muster list", async () => {
    expect((await verify("VAULT_IN", "chen.wei")).reason).toBe("anti_passback");
    await page.getByRole("button", { name: "Forgive chen.wei" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Forgive" }).click();
    await sleepUntil(async () => (await page.locator("table.muster-list tbody tr").count()) === 4, "the muster list without chen.wei");
    expect((await verify("VAULT_IN", "chen.wei")).allow).toBe(true);
  }, 20_000);

  test("zone and gate rules are edited on the page", async () => {
    const zoneForm = page.getByRole("form", { name: "Zone rules" });
    await zoneForm.getByRole("combobox", { name: "Zone", exact: true }).fill("vau");
    await page.getByRole("option", { name: /vault/ }).first().click();
    await sleepUntil(async () => (await zoneForm.getByLabel("Anti-passback", { exact: true }).inputValue()) === "hard", "the zone's settings loaded");
    expect(await zoneForm.getByLabel("Anti-passback reset", { exact: true }).inputValue()).toBe("12h");
    await zoneForm.getByLabel("Maximum occupancy", { exact: true }).fill("7");
    await zoneForm.getByRole("button", { name: "Save zone rules" }).click();
    await sleepUntil(async () => (await api("GET", `/api/v1/admin/zones/${vault}`)).body.max_occupancy === 7, "max_occupancy saved");

    const gateForm = page.getByRole("form", { name: "Gate rules" });
    await gateForm.getByRole("combobox", { name: "Gate", exact: true }).fill("VAULT_I");
    await page.getByRole("option", { name: /VAULT_IN|Vault entry/ }).first().click();
    await sleepUntil(async () => (await gateForm.getByLabel("Direction", { exact: true }).inputValue()) === "in", "the gate's settings loaded");
    await gateForm.getByLabel("Card + PIN", { exact: true }).check();
    await gateForm.getByRole("button", { name: "Save gate rules" }).click();
    await sleepUntil(async () => (await api("GET", "/api/v1/admin/gates/VAULT_IN")).body.requires_pin === true, "requires_pin saved");
    await api("PATCH", "/api/v1/admin/gates/VAULT_IN", { requires_pin: false });
  }, 20_000);

  test("an anti-passback refusal shows in the live view", async () => {
    await page.evaluate(() => (location.hash = "#/live"));
    await page.getByRole("heading", { level: 1, name: "Live" }).waitFor();
    await Bun.sleep(300); // the stream is open
    expect((await verify("VAULT_IN", "amara.okafor")).reason).toBe("anti_passback");
    await page.locator("tr", { has: page.getByText("amara.okafor") }).getByText("anti_passback").first().waitFor();
    await shot("anti-passback");
    if (process.env.CONSOLE_DOCS_SCREENSHOTS === "1") {
      mkdirSync(DOCS, { recursive: true });
      copyFileSync(join(ARTIFACTS, "console-muster.png"), join(DOCS, "console-muster.png"));
      copyFileSync(join(ARTIFACTS, "console-anti-passback.png"), join(DOCS, "console-anti-passback.png"));
    }
  });
});
