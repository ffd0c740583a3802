// The admin console in a real browser: Playwright (playwright-core) drives Debian's Chromium
// against the service listening on a port, on a real Postgres. The operator flows end to end:
// sign in; create a user, issue a card, grant a gate; that card's verify shows in the live stream
// within a second; lock the gate's zone; the next verify is denied (gate_locked) and shows so;
// explain says why; the audit log says who did it. The page must load nothing from any other
// host. Screenshots go to test-artifacts/ (git-ignored); CONSOLE_DOCS_SCREENSHOTS=1 also
// refreshes docs/console-live.png and docs/console-explain.png.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { startService, type Service } from "../../src/service";
import { hashSecret, newSecret } from "../../src/tokens";
import { CHROMIUM_ARGS, chromiumPath } from "../browser";
import { createTestDb, type TestDb, testConfig } from "../setup";

const CHROMIUM = chromiumPath();

const ARTIFACTS = join(import.meta.dir, "../../test-artifacts");
const DOCS = join(import.meta.dir, "../../docs");
const ADMIN = { username: "ops-admin", password: "correct horse battery staple" };
const USERS = 10_000;

let db: TestDb;
let service: Service;
let origin: string;
let adminToken: string; // the ops-admin's API credential, for seeding and checks from the test
let userDataDir: string;
let ctx: BrowserContext;
let page: Page;
const requests: string[] = [];
const pageErrors: string[] = [];
let cardSecret = "";

async function apiCall(method: string, path: string, body?: unknown, token: string | null = adminToken) {
  const res = await fetch(origin + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** The newest revision in the audit log: a verify with it as min_revision reads our writes. */
const latestRevision = async () => (await apiCall("GET", "/api/v1/admin/audit?limit=1")).body.items[0].revision as number;

async function verify(gate: string, token: string) {
  const r = await apiCall("POST", "/api/v1/access/verify", { gate_id: gate, token, min_revision: await latestRevision() }, null);
  expect(r.status).toBe(200);
  return r.body as { allow: boolean; reason: string };
}

async function shot(name: string, p: Page = page) {
  mkdirSync(ARTIFACTS, { recursive: true });
  // Notices ("Grant added (revision 6)") fade after a few seconds; they would only cover the page.
  await p.evaluate(() => document.querySelectorAll(".toast").forEach((t) => t.remove()));
  await p.screenshot({ path: join(ARTIFACTS, `console-${name}.png`), fullPage: false });
}

async function go(hash: string, heading: string | RegExp) {
  await page.evaluate((h) => (location.hash = h), hash);
  await page.getByRole("heading", { level: 1, name: heading }).waitFor();
}

/** Picks an option in a search-as-you-type picker. */
async function pick(p: Page, label: string | RegExp, text: string, option: string | RegExp, scope?: ReturnType<Page["locator"]>) {
  const box = (scope ?? p.locator("body")).getByRole("combobox", { name: label });
  await box.fill(text);
  await p.getByRole("option", { name: option }).first().click();
}

function launch(viewport: { width: number; height: number }, opts: { isMobile?: boolean } = {}) {
  return chromium.launchPersistentContext(mkdtempSync(join(userDataDir, "ctx-")), {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    isMobile: opts.isMobile,
    hasTouch: opts.isMobile,
    deviceScaleFactor: 1,
    locale: "en-GB",
    timezoneId: "Europe/Berlin",
    colorScheme: "light",
    permissions: ["clipboard-read", "clipboard-write"],
    args: CHROMIUM_ARGS,
  });
}

function watch(p: Page) {
  p.setDefaultTimeout(8000); // a broken step fails in seconds, well inside the test's own limit
  p.on("request", (r) => requests.push(r.url()));
  p.on("pageerror", (e) => pageErrors.push(String(e)));
}

beforeAll(async () => {
  db = await createTestDb();
  adminToken = newSecret();
  const hash = await Bun.password.hash(ADMIN.password, "argon2id");
  await db.sql.begin(async (tx) => {
    const [u] = await tx`insert into users (username, display_name, password_hash) values (${ADMIN.username}, 'Operations admin', ${hash}) returning id`;
    await tx`insert into credentials (user_id, kind, label, scopes, secret_hash) values (${u!.id}, 'api', 'ops automation', ${["admin"]}, ${hashSecret(adminToken)})`;
  });
  service = await startService(testConfig({ HOST: "127.0.0.1" }), { databaseUrl: db.url, listen: true, maintenance: false });
  origin = `http://127.0.0.1:${service.app.server!.port}`;

  // A site: 10k users, nested groups, two zones, gates, a schedule, grants and cards.
  const users = Array.from({ length: USERS }, (_, i) => ({ username: `user-${String(i).padStart(5, "0")}`, display_name: `Person ${i}` }));
  users.push({ username: "alice", display_name: "Alice Engineer" }, { username: "bob", display_name: "Bob Contractor" });
  const imported = await apiCall("POST", "/api/v1/admin/import", {
    users,
    groups: [{ name: "staff" }, { name: "engineering", parent: "staff" }, { name: "backend", parent: "engineering" }, { name: "frontend", parent: "engineering" }, { name: "contractors" }],
    memberships: [{ group: "backend", username: "alice" }, { group: "contractors", username: "bob" }, ...users.slice(0, 40).map((u) => ({ group: "staff", username: u.username }))],
    zones: [{ name: "hq" }, { name: "lab" }],
    gates: [
      { id: "HQ_MAIN", name: "Main entrance", zone: "hq" }, { id: "HQ_SIDE", name: "Side door", zone: "hq" },
      { id: "LAB_1", name: "Lab door", zone: "lab" }, { id: "GARAGE", name: "Parking barrier" },
    ],
    schedules: [{ name: "night shift", timezone: "Europe/Berlin", windows: [{ days: [1, 2, 3, 4, 5], start: "22:00", end: "06:00" }] }],
    grants: [{ group: "staff", zone: "hq" }, { group: "engineering", zone: "lab" }, { group: "contractors", gate: "HQ_MAIN", schedule: "night shift" }, { username: "bob", zone: "lab", effect: "deny" }],
    credentials: [{ username: "alice", kind: "card", secret: "ALICE-CARD-0001" }, { username: "bob", kind: "card", secret: "BOB-CARD-0002" }],
  });
  expect(imported.status).toBe(200);

  userDataDir = mkdtempSync(join(tmpdir(), "pcl-console-"));
  ctx = await launch({ width: 1366, height: 900 });
  page = ctx.pages()[0] ?? (await ctx.newPage());
  watch(page);
}, 120_000);

afterAll(async () => {
  await ctx?.close().catch(() => {});
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  await service?.stop();
  await db?.drop();
});

/** Some traffic so the live view has something to show: allowed, denied and unknown. */
async function traffic(rounds: number) {
  for (let i = 0; i < rounds; i++) {
    await Promise.all([
      apiCall("POST", "/api/v1/access/verify", { gate_id: "LAB_1", token: "ALICE-CARD-0001" }, null),
      apiCall("POST", "/api/v1/access/verify", { gate_id: i % 2 ? "HQ_SIDE" : "LAB_1", token: "ALICE-CARD-0001" }, null),
      apiCall("POST", "/api/v1/access/verify", { gate_id: "LAB_1", token: "BOB-CARD-0002" }, null),
      i % 3 === 0 ? apiCall("POST", "/api/v1/access/verify", { gate_id: "GARAGE", token: "ALICE-CARD-0001" }, null) : null,
      i % 4 === 0 ? apiCall("POST", "/api/v1/access/verify", { gate_id: "HQ_MAIN", token: "pcl_not_a_real_token_" + i }, null) : null,
    ]);
    await Bun.sleep(100);
  }
}

describe("admin console in Chromium", () => {
  test("the service serves the page, its assets and a strict content security policy", async () => {
    const res = await fetch(origin + "/console");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(res.headers.get("content-security-policy")).toContain("connect-src 'self'");
    const html = await res.text();
    expect(html).not.toMatch(/https?:\/\//);
    const assets = [...html.matchAll(/<(?:script|link)[^>]*?(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(3);
    for (const a of assets) {
      expect(a.startsWith("/console/")).toBe(true);
      const r = await fetch(origin + a);
      expect(r.status).toBe(200);
      expect(r.headers.get("cache-control")).toContain("immutable");
      const text = await r.text();
      expect(text).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)[a-z]/i); // no URL to load anything from
    }
    expect((await fetch(origin + "/console/nope.js")).status).toBe(404);
  });

  test("sign in with username and password; the session survives a reload", async () => {
    await page.goto(origin + "/console");
    await page.getByRole("heading", { name: "Sign in to the console" }).waitFor();
    await shot("signin");
    // A wrong password is reported at the password field.
    await page.getByLabel("Username", { exact: true }).fill(ADMIN.username);
    await page.getByLabel("Password", { exact: true }).fill("wrong password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator('[data-field="password"] .field-error', { hasText: "Wrong username or password" }).waitFor();
    await page.getByLabel("Password", { exact: true }).fill(ADMIN.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { level: 1, name: "Live" }).waitFor();
    await page.getByRole("status").filter({ hasText: "● Live" }).waitFor();
    const session = await page.evaluate(() => JSON.parse(sessionStorage.getItem("portcullis.console.session")!));
    expect(session.via).toBe("login");
    // The login session carries the admin scope.
    expect((await apiCall("GET", "/api/v1/admin/zones?limit=1", undefined, session.token)).status).toBe(200);
    await page.reload();
    await page.getByRole("heading", { level: 1, name: "Live" }).waitFor();
    expect(await page.getByText("Sign in to the console").count()).toBe(0);
  }, 30_000);

  test("users: server-side search over 10k users, each page under a second; errors next to the field", async () => {
    let t0 = performance.now();
    await go("#/users", "Users");
    await page.locator("table.users tbody tr").nth(24).waitFor();
    const listMs = performance.now() - t0;
    expect(listMs).toBeLessThan(1000);
    t0 = performance.now();
    await page.getByLabel("Search", { exact: true }).fill("user-0999");
    await page.locator("table.users tbody tr", { hasText: "user-09999" }).waitFor();
    const searchMs = performance.now() - t0;
    expect(searchMs).toBeLessThan(1000);
    expect(await page.locator("table.users tbody tr").count()).toBe(10); // user-09990 … user-09999
    t0 = performance.now();
    await page.getByLabel("Search", { exact: true }).fill("");
    await page.locator("table.users tbody tr").nth(24).waitFor();
    await page.getByRole("button", { name: "Next →" }).click();
    await page.getByText("Page 2").waitFor();
    expect(performance.now() - t0).toBeLessThan(1000);
    await shot("users");
    console.log(`users page: list ${Math.round(listMs)} ms, search ${Math.round(searchMs)} ms over ${USERS} users`);

    // Duplicate username → 409 naming `username` → shown at that field.
    const form = page.getByRole("form", { name: "New user" });
    await form.getByLabel("Username", { exact: true }).fill("alice");
    await form.getByRole("button", { name: "Create user" }).click();
    const err = form.locator('[data-field="username"] .field-error');
    await err.waitFor();
    expect(await err.textContent()).toMatch(/already exists/);
    expect(await form.getByLabel("Username", { exact: true }).getAttribute("aria-invalid")).toBe("true");
  }, 30_000);

  test("create a user, issue a card (secret shown once, copy button), grant a gate", async () => {
    const form = page.getByRole("form", { name: "New user" });
    await form.getByLabel("Username", { exact: true }).fill("dana");
    await form.getByLabel("Display name", { exact: true }).fill("Dana Newhire");
    await form.getByRole("button", { name: "Create user" }).click();
    await page.getByRole("heading", { level: 1, name: /dana/ }).waitFor();

    const issue = page.getByRole("form", { name: "Issue a credential" });
    await issue.getByLabel("Label", { exact: true }).fill("Dana badge");
    await issue.getByRole("button", { name: "Issue credential" }).click();
    const secret = page.locator("#secret-value");
    await secret.waitFor();
    cardSecret = await secret.inputValue();
    expect(cardSecret).toMatch(/^pcl_/);
    await page.getByRole("button", { name: "Copy" }).click();
    await page.getByRole("button", { name: "Copied ✓" }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(cardSecret);
    await page.locator("table.credentials tbody tr", { hasText: "Dana badge" }).waitFor();
    await shot("user");

    await page.getByText("Add a grant").click();
    const grant = page.getByRole("form", { name: "New grant" });
    await pick(page, "Gate", "HQ_M", /HQ_MAIN/, grant);
    await grant.getByRole("button", { name: "Add grant" }).click();
    await page.locator("table.grants tbody tr", { hasText: "HQ_MAIN" }).waitFor();
    await page.getByRole("button", { name: "Done — hide it" }).click();
    expect(await page.locator("#secret-value").count()).toBe(0);
  }, 30_000);

  test("a verify with that card appears in the live stream within a second", async () => {
    await go("#/live", "Live");
    await page.getByRole("status").filter({ hasText: "● Live" }).waitFor();
    const answer = await verify("HQ_MAIN", cardSecret);
    expect(answer).toMatchObject({ allow: true, reason: "granted" });
    const t0 = performance.now();
    const row = page.locator('#live-events tr[data-reason="granted"]', { hasText: "HQ_MAIN" }).filter({ hasText: "dana" });
    await row.first().waitFor({ timeout: 1000 });
    const ms = performance.now() - t0;
    console.log(`verify → live stream row: ${Math.round(ms)} ms`);
    expect(ms).toBeLessThan(1000);
    await traffic(40);
    // The statistics catch up (polled every 2 s): verifies counted, deny reasons listed, gates shown.
    await page.locator("table.gates-activity tbody tr", { hasText: "LAB_1" }).waitFor({ timeout: 5000 });
    await page.locator(".bars li", { hasText: "no_grant" }).waitFor({ timeout: 5000 });
    await page.locator(".kpi", { hasText: "Index revision" }).getByText(/feed lag 0 ms/).waitFor({ timeout: 5000 });
    await shot("live");
  }, 30_000);

  test("lock the gate's zone (keyboard, with a confirmation); the next verify is denied with gate_locked", async () => {
    await go("#/gates", "Gates & zones");
    const lockButton = page.getByRole("button", { name: "Lock hq", exact: true });
    await lockButton.focus();
    await page.keyboard.press("Enter");
    const dialog = page.getByRole("dialog", { name: "Lock zone hq?" });
    await dialog.waitFor();
    await dialog.getByText("HQ_MAIN").waitFor();
    await shot("lock-confirm");
    // The safe choice has the focus; the operator tabs to the action.
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Cancel");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Lock zone");
    await page.keyboard.press("Enter");
    await page.getByText(/Zone hq locked: 2 gates changed/).waitFor();
    await page.locator("table.gates tbody tr", { hasText: "HQ_MAIN" }).getByText("locked", { exact: true }).waitFor();
    await shot("gates");

    const answer = await verify("HQ_MAIN", cardSecret);
    expect(answer).toMatchObject({ allow: false, reason: "gate_locked" });
    await go("#/live", "Live");
    const row = page.locator('#live-events tr[data-reason="gate_locked"]', { hasText: "HQ_MAIN" }).filter({ hasText: "dana" });
    await row.first().waitFor({ timeout: 2000 });
    expect(await row.first().getByText("DENY").count()).toBe(1);
  }, 30_000);

  test("explain shows why", async () => {
    const row = page.locator('#live-events tr[data-reason="gate_locked"]', { hasText: "HQ_MAIN" }).first();
    await row.getByRole("link", { name: /Explain/ }).click();
    await page.getByRole("heading", { level: 1, name: "Explain" }).waitFor();
    const result = page.locator(".explain-result");
    await result.waitFor();
    expect(await result.locator(".reason").first().textContent()).toBe("gate_locked");
    await result.getByText("Denied: the gate is locked, which denies everyone whatever the grants say.").waitFor();
    await result.locator(".check-bad", { hasText: "Gate HQ_MAIN" }).waitFor();
    // The grant itself would allow: explain shows it in force, but the lock comes first.
    await result.locator("table.explain-grants tbody tr", { hasText: "allows" }).waitFor();
    await shot("explain");

    // The card itself, as a gate would check it.
    await page.getByLabel("A token or card").check();
    await page.getByLabel("Token", { exact: true }).fill(cardSecret);
    await page.getByRole("button", { name: "Explain", exact: true }).click();
    await page.locator(".explain-result .check-ok", { hasText: "Credential: card" }).waitFor();
    expect(await page.locator(".explain-result .reason").textContent()).toBe("gate_locked");

    // Asked by hand for another user and time: bob at LAB_1 is denied by his deny grant.
    await go("#/explain", "Explain");
    await pick(page, "User", "bob", /^bob/);
    await pick(page, "Gate", "LAB", /LAB_1/);
    await page.getByRole("button", { name: "Explain", exact: true }).click();
    await page.locator(".explain-result .reason", { hasText: "denied" }).waitFor();
    await page.locator("table.explain-grants tbody tr", { hasText: "denies" }).waitFor();
  }, 30_000);

  test("the audit log shows who did it", async () => {
    await go("#/audit", "Audit log");
    const row = page.locator("table.audit tbody tr", { hasText: "lock_zone" }).first();
    await row.waitFor();
    expect(await row.textContent()).toContain(ADMIN.username);
    expect(await row.textContent()).toContain("HQ_MAIN");
    const gateRow = page.locator("table.audit tbody tr", { hasText: "mode: normal → locked" }).first();
    expect(await gateRow.textContent()).toContain(ADMIN.username);
    await shot("audit");
  }, 30_000);

  test("the nodes page lists the serving process, live, at the head revision", async () => {
    await go("#/nodes", "Nodes");
    const row = page.locator("table.nodes tbody tr", { hasText: "this console's" }).first();
    await row.waitFor();
    expect(await row.textContent()).toContain("live");
    expect(await row.textContent()).toContain("—"); // no lag
  }, 30_000);

  test("groups as a tree; schedules edited in their timezone, errors at the window field", async () => {
    await go("#/groups", "Groups");
    await page.getByRole("button", { name: "Show the subgroups of staff" }).click();
    await page.getByRole("button", { name: "Show the subgroups of engineering" }).click();
    await page.getByRole("link", { name: "backend" }).click();
    await page.getByRole("heading", { level: 2, name: "backend" }).waitFor();
    await page.locator(".crumbs", { hasText: "staff → engineering" }).waitFor();
    await page.locator("table.members tbody tr", { hasText: "alice" }).waitFor();
    await shot("groups");

    await go("#/schedules/new", "New schedule");
    const form = page.getByRole("form", { name: "New schedule" });
    await form.getByLabel("Name", { exact: true }).fill("office hours");
    await form.getByLabel("Timezone", { exact: true }).fill("Europe/Berlin");
    await page.getByRole("button", { name: "+ Add window" }).click();
    await form.getByLabel("Closes", { exact: true }).fill("25:00");
    await form.getByRole("button", { name: "Create schedule" }).click();
    const err = form.locator('[data-field="windows[0].end"] .field-error');
    await err.waitFor();
    expect(await err.textContent()).toMatch(/HH:MM/);
    await form.getByLabel("Closes", { exact: true }).fill("18:30");
    await form.getByRole("button", { name: "Create schedule" }).click();
    await page.getByRole("heading", { level: 1, name: "office hours" }).waitFor();
    await page.locator(".week-status", { hasText: "Europe/Berlin" }).waitFor();
    await shot("schedule");
  }, 30_000);

  test("phone width: usable, nothing wider than the screen; sign in with an admin token", async () => {
    const phone = await launch({ width: 390, height: 844 }, { isMobile: true });
    try {
      const p = phone.pages()[0] ?? (await phone.newPage());
      watch(p);
      await p.goto(origin + "/console");
      await p.getByText("Use an admin API token instead").click();
      await p.getByLabel("Admin token", { exact: true }).fill("pcl_wrong_token");
      await p.getByRole("button", { name: "Use token" }).click();
      await p.locator('[data-field="token"] .field-error', { hasText: "Unknown, revoked or expired token" }).waitFor();
      await p.getByLabel("Admin token", { exact: true }).fill(adminToken);
      await p.getByRole("button", { name: "Use token" }).click();
      await p.getByRole("heading", { level: 1, name: "Live" }).waitFor();
      for (const [hash, heading] of [["#/live", "Live"], ["#/gates", "Gates & zones"], ["#/users", "Users"], ["#/explain", "Explain"], ["#/audit", "Audit log"]] as const) {
        await p.evaluate((h) => (location.hash = h), hash);
        await p.getByRole("heading", { level: 1, name: heading }).waitFor();
        await p.waitForTimeout(300);
        const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        expect(overflow, `page ${hash} is wider than the phone`).toBeLessThanOrEqual(0);
      }
      await p.evaluate(() => (location.hash = "#/live"));
      await p.locator("table.gates-activity tbody tr").first().waitFor({ timeout: 5000 });
      await p.screenshot({ path: join(ARTIFACTS, "console-phone-live.png") });
      // The navigation sits behind the menu button.
      await p.getByRole("button", { name: "Menu" }).click();
      await p.getByRole("link", { name: "Explain" }).click();
      await p.getByRole("heading", { level: 1, name: "Explain" }).waitFor();
      await p.screenshot({ path: join(ARTIFACTS, "console-phone-explain.png") });
      // Signing out with a pasted token asks first; "forget" keeps the shared token alive.
      await p.getByRole("button", { name: "Sign out" }).click();
      await p.getByRole("button", { name: "Forget on this browser" }).click();
      await p.getByRole("heading", { name: "Sign in to the console" }).waitFor();
      expect((await apiCall("GET", "/api/v1/admin/zones?limit=1")).status).toBe(200);
    } finally {
      await phone.close();
    }
  }, 45_000);

  test("sign-out revokes the session token", async () => {
    await go("#/live", "Live");
    const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem("portcullis.console.session")!).token as string);
    expect((await apiCall("GET", "/api/v1/admin/zones?limit=1", undefined, token)).status).toBe(200);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in to the console" }).waitFor();
    await page.getByText("Signed out; the token is revoked.").waitFor();
    expect((await apiCall("GET", "/api/v1/admin/zones?limit=1", undefined, token)).status).toBe(401);
    expect(await page.evaluate(() => sessionStorage.getItem("portcullis.console.session"))).toBeNull();
  }, 30_000);

  test("the page made no request to any host but the service, and threw no error", () => {
    expect(requests.length).toBeGreaterThan(20);
    const foreign = requests.filter((u) => new URL(u).origin !== origin);
    expect(foreign).toEqual([]);
    expect(pageErrors).toEqual([]);
    if (process.env.CONSOLE_DOCS_SCREENSHOTS === "1") {
      mkdirSync(DOCS, { recursive: true });
      copyFileSync(join(ARTIFACTS, "console-live.png"), join(DOCS, "console-live.png"));
      copyFileSync(join(ARTIFACTS, "console-explain.png"), join(DOCS, "console-explain.png"));
    }
  });
});
