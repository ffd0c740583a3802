// The Portcullis admin console (index.html loads this and style.css): sign-in, the shell
// (navigation, stream status, sign-out) and a hash router (#/live, #/users/u_…), so the service
// serves one page, /console.
import { api, ApiFailure, setUnauthorizedHandler } from "./api";
import { fill, h } from "./dom";
import { auditPage } from "./pages/audit";
import { nodesPage } from "./pages/nodes";
import { explainPage } from "./pages/explain";
import { gatesPage } from "./pages/gates";
import { grantsPage } from "./pages/grants";
import { groupsPage } from "./pages/groups";
import { livePage } from "./pages/live";
import { presencePage } from "./pages/presence";
import { schedulesPage } from "./pages/schedules";
import { usersPage } from "./pages/users";
import { type PageFn, parseRoute } from "./route";
import { hub } from "./state";
import { field, Form, input, toast } from "./ui";


const PAGES: Array<{ key: string; label: string; page: PageFn }> = [
  { key: "live", label: "Live", page: livePage },
  { key: "gates", label: "Gates & zones", page: gatesPage },
  { key: "presence", label: "Presence & muster", page: presencePage },
  { key: "users", label: "Users", page: usersPage },
  { key: "groups", label: "Groups", page: groupsPage },
  { key: "schedules", label: "Schedules", page: schedulesPage },
  { key: "grants", label: "Grants", page: grantsPage },
  { key: "audit", label: "Audit log", page: auditPage },
  { key: "nodes", label: "Nodes", page: nodesPage },
  { key: "explain", label: "Explain", page: explainPage },
];

const app = document.getElementById("app")!;
let cleanup: (() => void) | void = undefined;
let flash: string | undefined;

// ---- sign-in --------------------------------------------------------------------------------

function signInView(): void {
  document.title = "Sign in — Portcullis console";
  const username = input("username", { autocomplete: "username", required: true, autocapitalize: "none" });
  const password = input("password", { type: "password", autocomplete: "current-password", required: true });
  const pwForm = new Form({
    label: "Sign in with username and password",
    submit: "Sign in",
    action: async (f) => {
      if (!username.value) return void f.fieldError("username", "Enter your username");
      if (!password.value) return void f.fieldError("password", "Enter your password");
      try {
        const s = await api<{ token: string; token_id: string; expires_at: string; scopes: string[] }>(
          "POST", "/api/v1/auth/token", { username: username.value, password: password.value, scope: "admin" }, { token: null, quiet401: true });
        hub.signIn({ token: s.token, via: "login", username: username.value, expiresAt: s.expires_at, tokenId: s.token_id });
        password.value = "";
        start();
      } catch (e) {
        if (e instanceof ApiFailure && e.status === 401) return void f.fieldError("password", "Wrong username or password");
        if (e instanceof ApiFailure && e.status === 403) return void f.fieldError("username", "This user holds no active admin credential, so cannot use the console");
        if (e instanceof ApiFailure && e.status === 429) throw new ApiFailure(429, e.code, "Too many failed sign-ins; wait a few minutes and try again");
        throw e;
      }
    },
  });
  pwForm.add(field("Username", username), field("Password", password));

  const token = input("token", { type: "password", autocomplete: "off", spellcheck: "false" });
  const tokenForm = new Form({
    label: "Sign in with an admin API token",
    submit: "Use token",
    action: async (f) => {
      const t = token.value.trim();
      if (!t) return void f.fieldError("token", "Paste an admin token (pcl_…)");
      try {
        await api("GET", "/api/v1/admin/zones?limit=1", undefined, { token: t, quiet401: true });
      } catch (e) {
        if (e instanceof ApiFailure && e.status === 401) return void f.fieldError("token", "Unknown, revoked or expired token");
        if (e instanceof ApiFailure && e.status === 403) return void f.fieldError("token", "This token has no admin scope");
        throw e;
      }
      hub.signIn({ token: t, via: "token", username: null, expiresAt: null, tokenId: null });
      token.value = "";
      start();
    },
  });
  tokenForm.add(field("Admin token", token, { hint: "An API credential with the admin scope, e.g. from `bun run cli create-admin`." }));

  fill(app, h("main", { id: "main", class: "signin", tabindex: "-1" },
    h("div", { class: "signin-card card" },
      h("div", { class: "brand brand-large" }, h("span", { class: "logo", "aria-hidden": "true" }), "Portcullis"),
      h("h1", null, "Sign in to the console"),
      flash ? h("p", { class: "notice", role: "status" }, flash) : null,
      pwForm.el,
      h("details", { class: "alt-signin" }, h("summary", null, "Use an admin API token instead"), tokenForm.el))));
  flash = undefined;
  username.focus();
}

// ---- the shell ------------------------------------------------------------------------------

let shell: { main: HTMLElement; nav: HTMLElement; status: HTMLElement } | null = null;

function buildShell(): NonNullable<typeof shell> {
  const s = hub.session!;
  const navList = h("ul", { class: "nav-list" }, PAGES.map((p) => h("li", null, h("a", { href: `#/${p.key}`, dataset: { key: p.key } }, p.label))));
  const nav = h("nav", { class: "nav", id: "nav", "aria-label": "Sections" }, navList);
  const menu = h("button", { type: "button", class: "btn menu-btn", "aria-expanded": "false", "aria-controls": "nav" }, "Menu");
  menu.addEventListener("click", () => {
    const open = !nav.classList.contains("open");
    nav.classList.toggle("open", open);
    menu.setAttribute("aria-expanded", String(open));
  });
  nav.addEventListener("click", (ev) => {
    if ((ev.target as HTMLElement).closest("a")) {
      nav.classList.remove("open");
      menu.setAttribute("aria-expanded", "false");
    }
  });
  const status = h("span", { class: "stream-status", role: "status", title: "The live access-event stream" });
  const who = h("span", { class: "who" }, s.via === "login" ? s.username : "API token");
  const out = h("button", { type: "button", class: "btn btn-ghost" }, "Sign out");
  out.addEventListener("click", () => void signOut());
  const main = h("main", { id: "main", tabindex: "-1" });
  fill(app,
    h("header", { class: "topbar" },
      h("a", { class: "brand", href: "#/live" }, h("span", { class: "logo", "aria-hidden": "true" }), "Portcullis"),
      menu,
      h("div", { class: "topbar-right" }, status, who, out)),
    h("div", { class: "layout" }, nav, main));
  hub.onStreamStatus((st) => {
    status.textContent = st === "live" ? "● Live" : st === "stopped" ? "○ Stopped" : st === "connecting" ? "◌ Connecting…" : "◌ Reconnecting…";
    status.className = `stream-status stream-${st}`;
  });
  return { main, nav, status };
}

async function signOut(): Promise<void> {
  const s = hub.session;
  if (!s) return;
  if (s.via === "token") {
    const choice = await choose({
      title: "Sign out",
      body: [
        h("p", null, "Signing out revokes the token you signed in with, everywhere: any script or person using the same token loses access."),
        h("p", null, "If the token is shared, forget it on this browser only."),
      ],
      options: [["cancel", "Cancel", "btn"], ["forget", "Forget on this browser", "btn"], ["revoke", "Revoke token and sign out", "btn btn-danger"]],
    });
    if (choice === "cancel") return;
    await hub.signOut(choice === "revoke");
  } else {
    await hub.signOut(true);
  }
}

function choose(o: { title: string; body: any; options: Array<[string, string, string]> }): Promise<string> {
  return new Promise((resolve) => {
    const dlg = h("dialog", { class: "dialog", "aria-label": o.title },
      h("h2", null, o.title), h("div", { class: "dialog-body" }, o.body),
      h("div", { class: "actions" }, o.options.map(([v, label, cls]) => h("button", { type: "button", class: cls, onclick: () => { dlg.close(); dlg.remove(); resolve(v); } }, label))));
    dlg.addEventListener("cancel", () => { dlg.remove(); resolve("cancel"); });
    document.body.appendChild(dlg);
    dlg.showModal();
    (dlg.querySelector("button") as HTMLButtonElement).focus();
  });
}

function route(): void {
  if (!hub.session) return signInView();
  shell ??= buildShell();
  const r = parseRoute();
  const key = r.path[0] ?? "";
  const page = PAGES.find((p) => p.key === key);
  if (!page) {
    location.replace("#/live");
    return;
  }
  for (const a of shell.nav.querySelectorAll("a")) {
    if (a.dataset.key === key) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (typeof cleanup === "function") cleanup();
  cleanup = undefined;
  shell.main.replaceChildren();
  document.title = `${page.label} — Portcullis console`;
  window.scrollTo(0, 0);
  cleanup = page.page(shell.main, r);
  // Move focus to the page heading so keyboard and screen-reader users land on the new page.
  const h1 = shell.main.querySelector("h1");
  if (h1 && document.activeElement !== document.body && !shell.main.contains(document.activeElement)) {
    h1.setAttribute("tabindex", "-1");
    h1.focus({ preventScroll: true });
  }
}

function start(): void {
  shell = null;
  hub.startStream();
  if (!location.hash || location.hash === "#" || location.hash === "#main") location.replace("#/live");
  route();
}

hub.onSignedOut = (message) => {
  if (typeof cleanup === "function") cleanup();
  cleanup = undefined;
  shell = null;
  flash = message;
  signInView();
};
setUnauthorizedHandler((f) => {
  if (hub.session) {
    toast("Your session has ended: " + f.message, "error");
    hub.forget("Your session has ended (" + f.message + "); sign in again.");
  }
});

document.getElementById("skip-link")!.addEventListener("click", (ev) => {
  ev.preventDefault();
  const m = document.getElementById("main");
  m?.focus();
});
window.addEventListener("hashchange", () => {
  if (location.hash === "#main") return;
  route();
});

if (hub.session) start();
else signInView();
