// Users: server-side search and pagination (a site has thousands), create, and a user's page:
// profile, credentials (issue with the secret shown once, revoke), groups and grants.
import { api, ApiFailure, type Page, qs, rememberName } from "../api";
import { debounce, fill, fmtTime, fromLocalInput, h, localInputValue } from "../dom";
import type { Route } from "../route";
import { badge, confirmDialog, copyText, field, Form, humanMessage, input, pager, picker, section, select, table, toast } from "../ui";
import { type Grant, grantForm, grantTable } from "./grants";

export interface User {
  id: string;
  username: string;
  email: string | null;
  display_name: string | null;
  active: boolean;
  valid_from: string | null;
  valid_until: string | null;
  created_at: string;
}
interface Credential {
  id: string;
  kind: string;
  label: string | null;
  scopes: string[];
  expires_at: string | null;
  valid_from: string | null;
  revoked_at: string | null;
  created_at: string;
}

export function usersPage(main: HTMLElement, r: Route): void {
  if (r.path[1]) return userPage(main, r.path[1]);
  const search = h("input", { id: "user-q", type: "search", placeholder: "Username, name or email starts with…", autocomplete: "off", spellcheck: "false", value: r.params.get("q") ?? "" });
  const box = h("div");
  const p = pager<User>(
    (cursor) => api<Page<User>>("GET", "/api/v1/admin/users" + qs({ q: search.value.trim(), limit: 25, cursor })),
    (items) => {
      for (const u of items) rememberName(u.id, u.username);
      fill(box, table(["Username", "Name", "Email", "Status", "Created"], items.map((u) => [
        h("a", { href: `#/users/${encodeURIComponent(u.id)}` }, u.username),
        u.display_name ?? "", u.email ?? "",
        u.active ? badge("active", "ok") : badge("inactive", "off"),
        fmtTime(u.created_at),
      ]), { empty: search.value ? "No user starts with that." : "No users yet.", class: "users" }));
    }, "User pages");
  search.addEventListener("input", debounce(() => {
    history.replaceState(null, "", "#/users" + (search.value ? "?q=" + encodeURIComponent(search.value) : ""));
    void p.reload();
  }, 200));

  const username = input("username", { required: true, autocapitalize: "none", spellcheck: "false" });
  const display = input("display_name");
  const email = input("email", { type: "email" });
  const password = input("password", { type: "password", autocomplete: "new-password" });
  const form = new Form({
    label: "New user", submit: "Create user",
    action: async (f) => {
      if (!username.value.trim()) return void f.fieldError("username", "Enter a username");
      const body: Record<string, unknown> = { username: username.value.trim() };
      if (display.value.trim()) body.display_name = display.value.trim();
      if (email.value.trim()) body.email = email.value.trim();
      if (password.value) body.password = password.value;
      const u = await api<User & { revision: number }>("POST", "/api/v1/admin/users", body);
      toast(`User ${u.username} created (revision ${u.revision}).`);
      location.hash = `#/users/${encodeURIComponent(u.id)}`;
    },
  });
  form.add(field("Username", username), field("Display name", display), field("Email", email),
    field("Password", password, { hint: "Optional: only for people who sign in (8 characters or more)." }));

  fill(main,
    h("div", { class: "page-head" }, h("h1", null, "Users")),
    section("Find users", h("div", { class: "toolbar" }, h("div", { class: "field inline grow" }, h("label", { htmlFor: "user-q" }, "Search"), search)), box, p.el),
    section("New user", form.el));
  void p.reload();
}

function userPage(main: HTMLElement, id: string): void {
  const head = h("div", { class: "page-head" }, h("h1", null, "User"), h("p", { class: "muted" }, "Loading…"));
  fill(main, head);
  api<User>("GET", `/api/v1/admin/users/${encodeURIComponent(id)}`).then((u) => render(u), (e) => {
    fill(main, h("div", { class: "page-head" }, h("h1", null, "User"), h("p", { class: "form-error", role: "alert" }, e instanceof ApiFailure ? humanMessage(e) : String(e)), h("a", { href: "#/users" }, "← All users")));
  });

  function render(u: User): void {
    rememberName(u.id, u.username);
    // ---- profile ----
    const display = input("display_name", { value: u.display_name ?? "" });
    const email = input("email", { type: "email", value: u.email ?? "" });
    const active = h("input", { type: "checkbox", name: "active", id: "user-active", checked: u.active });
    const vFrom = input("valid_from", { type: "datetime-local", value: u.valid_from ? localInputValue(new Date(u.valid_from)) : "" });
    const vUntil = input("valid_until", { type: "datetime-local", value: u.valid_until ? localInputValue(new Date(u.valid_until)) : "" });
    const password = input("password", { type: "password", autocomplete: "new-password", placeholder: "leave empty to keep" });
    const profile = new Form({
      label: "Profile", submit: "Save profile",
      action: async () => {
        const body: Record<string, unknown> = {};
        if (display.value !== (u.display_name ?? "")) body.display_name = display.value || null;
        if (email.value !== (u.email ?? "")) body.email = email.value || null;
        if (active.checked !== u.active) body.active = active.checked;
        const vf = fromLocalInput(vFrom.value), vu = fromLocalInput(vUntil.value);
        if ((vf ?? null) !== (u.valid_from ? fromLocalInput(localInputValue(new Date(u.valid_from))) : null)) body.valid_from = vf;
        if ((vu ?? null) !== (u.valid_until ? fromLocalInput(localInputValue(new Date(u.valid_until))) : null)) body.valid_until = vu;
        if (password.value) body.password = password.value;
        if (Object.keys(body).length === 0) return void toast("Nothing to save.");
        const res = await api<User & { revision: number }>("PATCH", `/api/v1/admin/users/${encodeURIComponent(u.id)}`, body);
        Object.assign(u, res);
        password.value = "";
        toast(`Saved ${u.username} (revision ${res.revision}).`);
      },
    });
    const activeField = profile.register({ el: h("div", { class: "field check", dataset: { field: "active" } }, active, h("label", { htmlFor: "user-active" }, "Active (an inactive user is refused everywhere)"), h("p", { class: "field-error", hidden: true })), control: active, name: "active", error: h("p") });
    profile.add(field("Display name", display), field("Email", email), activeField.el,
      h("div", { class: "field-row" },
        profile.register(field("Valid from (local time)", vFrom)).el,
        profile.register(field("Valid until (local time)", vUntil)).el),
      field("New password", password, { hint: "Write-only; 8 characters or more." }));

    // ---- credentials ----
    const credBox = h("div");
    const secretBox = h("div", { class: "secret-slot" });
    const credPager = pager<Credential>(
      (cursor) => api<Page<Credential>>("GET", "/api/v1/admin/credentials" + qs({ user_id: u.id, limit: 20, cursor })),
      (items) => fill(credBox, table(["Kind", "Label", "Scopes", "Created", "Expires", "Status", ""], items.map((c) => {
        const expired = c.expires_at !== null && Date.parse(c.expires_at) <= Date.now();
        return [
          c.kind, c.label ?? "", c.scopes.length ? c.scopes.join(", ") : h("span", { class: "muted" }, "none"),
          fmtTime(c.created_at), c.expires_at ? fmtTime(c.expires_at) : h("span", { class: "muted" }, "never"),
          c.revoked_at ? badge("revoked", "off") : expired ? badge("expired", "off") : badge("active", "ok"),
          c.revoked_at ? "" : h("button", { type: "button", class: "btn btn-small btn-danger", onclick: () => revoke(c) }, `Revoke ${c.label ?? c.kind}`),
        ];
      }), { empty: "No credentials.", class: "credentials" })),
      "Credential pages");
    const revoke = async (c: Credential) => {
      const ok = await confirmDialog({
        title: `Revoke ${c.label ?? c.kind}?`,
        body: h("p", null, `${u.username}'s ${c.kind}${c.label ? ` “${c.label}”` : ""} stops working everywhere within the propagation time. This cannot be undone.`),
        confirm: "Revoke", danger: true,
      });
      if (!ok) return;
      try {
        const res = await api<{ revision: number }>("POST", `/api/v1/admin/credentials/${encodeURIComponent(c.id)}/revoke`);
        toast(`Revoked (revision ${res.revision}).`);
        void credPager.refresh();
      } catch (e) {
        toast("Could not revoke: " + (e instanceof ApiFailure ? humanMessage(e) : e), "error");
      }
    };
    const kind = select("kind", [["card", "card"], ["pin", "PIN"], ["api", "API token"], ["device", "device"]], "card");
    const label = input("label", { placeholder: "e.g. Badge 0421" });
    const secret = input("secret", { spellcheck: "false", placeholder: "leave empty to generate one" });
    const adminScope = h("input", { type: "checkbox", id: "cred-admin", name: "scopes" });
    const expires = input("expires_at", { type: "datetime-local" });
    const issue = new Form({
      label: "Issue a credential", submit: "Issue credential",
      action: async () => {
        const body: Record<string, unknown> = { user_id: u.id, kind: kind.value };
        if (label.value.trim()) body.label = label.value.trim();
        if (secret.value.trim()) body.secret = secret.value.trim();
        if (adminScope.checked) body.scopes = ["admin"];
        const ex = fromLocalInput(expires.value);
        if (ex) body.expires_at = ex;
        const c = await api<Credential & { secret: string; revision: number }>("POST", "/api/v1/admin/credentials", body);
        label.value = secret.value = expires.value = "";
        adminScope.checked = false;
        showSecret(c);
        void credPager.reload();
      },
    });
    issue.add(field("Kind", kind), field("Label", label),
      field("Secret", secret, { hint: "A card's own number, if it has one; otherwise the service generates a secret." }),
      issue.register({ el: h("div", { class: "field check", dataset: { field: "scopes" } }, adminScope, h("label", { htmlFor: "cred-admin" }, "Admin scope (may run this console and the admin API)"), h("p", { class: "field-error", hidden: true })), control: adminScope, name: "scopes", error: h("p") }).el,
      field("Expires (local time)", expires, { hint: "Optional." }));
    const showSecret = (c: Credential & { secret: string }) => {
      const value = h("input", { type: "text", readonly: true, value: c.secret, class: "mono secret-value", id: "secret-value", "aria-label": "Secret", spellcheck: "false" });
      const copy = h("button", { type: "button", class: "btn btn-primary" }, "Copy");
      copy.addEventListener("click", () => void copyText(c.secret, copy, value));
      const done = h("button", { type: "button", class: "btn" }, "Done — hide it");
      done.addEventListener("click", () => fill(secretBox));
      fill(secretBox, h("div", { class: "secret-once", role: "status" },
        h("h3", null, `Secret for ${c.label ?? c.kind} — shown once`),
        h("p", null, "Copy it now: the service keeps only its hash and cannot show it again."),
        h("div", { class: "secret-row" }, value, copy),
        done));
      value.focus();
      value.select();
    };

    // ---- groups ----
    const groupsBox = h("div");
    const loadGroups = async () => {
      try {
        const g = await api<{ direct: Array<{ id: string; name: string }>; effective: Array<{ id: string; name: string; path: string[] }> }>("GET", `/api/v1/admin/users/${encodeURIComponent(u.id)}/groups`);
        const directIds = new Set(g.direct.map((x) => x.id));
        fill(groupsBox,
          h("h3", null, "Member of"),
          g.direct.length
            ? h("ul", { class: "chips" }, g.direct.map((x) => h("li", { class: "chip" },
              h("a", { href: `#/groups/${encodeURIComponent(x.id)}` }, x.name),
              h("button", { type: "button", class: "chip-x", "aria-label": `Remove ${u.username} from ${x.name}`, onclick: () => removeFrom(x) }, "×"))))
            : h("p", { class: "muted" }, "No group memberships."),
          g.effective.some((x) => !directIds.has(x.id))
            ? [h("h3", null, "Through nesting also in"), h("ul", { class: "paths" }, g.effective.filter((x) => !directIds.has(x.id)).map((x) => h("li", null, h("strong", null, x.name), h("span", { class: "muted" }, " via " + x.path.slice(0, -1).join(" → ")))))]
            : null);
      } catch (e) {
        fill(groupsBox, h("p", { class: "form-error" }, e instanceof ApiFailure ? humanMessage(e) : String(e)));
      }
    };
    const removeFrom = async (g: { id: string; name: string }) => {
      const ok = await confirmDialog({ title: `Remove ${u.username} from ${g.name}?`, body: h("p", null, "Grants that reached the user through this group stop applying."), confirm: "Remove", danger: true });
      if (!ok) return;
      try {
        const res = await api<{ revision: number }>("DELETE", `/api/v1/admin/groups/${encodeURIComponent(g.id)}/members/${encodeURIComponent(u.id)}`);
        toast(`Removed from ${g.name} (revision ${res.revision}).`);
        void loadGroups();
      } catch (e) {
        toast("Could not remove: " + (e instanceof ApiFailure ? humanMessage(e) : e), "error");
      }
    };
    const groupPick = picker("Add to group", "group_id", "groups");
    const join = new Form({
      label: "Add to a group", submit: "Add to group", class: "inline-form",
      action: async (f) => {
        const gid = groupPick.value();
        if (!gid) return void f.fieldError("group_id", "Pick a group from the list");
        const res = await api<{ revision: number }>("POST", `/api/v1/admin/groups/${encodeURIComponent(gid)}/members`, { user_id: u.id });
        toast(`Added to the group (revision ${res.revision}).`);
        groupPick.set(null);
        void loadGroups();
      },
    });
    join.add(groupPick);
    // a conflict names user_id: show it at the picker
    join.register({ ...groupPick, name: "user_id" });

    // ---- grants ----
    const grantsBox = h("div");
    const grantPager = pager<Grant>(
      (cursor) => api<Page<Grant>>("GET", "/api/v1/admin/grants" + qs({ user_id: u.id, limit: 20, cursor })),
      (items) => fill(grantsBox, grantTable(items, () => void grantPager.refresh(), { subject: false })),
      "Grant pages");

    fill(main,
      h("div", { class: "page-head" },
        h("p", { class: "crumbs" }, h("a", { href: "#/users" }, "Users"), " / "),
        h("h1", null, u.username, " ", u.active ? badge("active", "ok") : badge("inactive", "off")),
        h("p", { class: "muted" }, [u.display_name, u.email].filter(Boolean).join(" · ") || "—", " · ", h("code", null, u.id)),
        h("p", null, h("a", { class: "btn btn-small", href: `#/explain?user=${encodeURIComponent(u.id)}` }, "Explain this user's access…"))),
      h("div", { class: "grid-2" },
        section("Profile", profile.el),
        section("Groups", groupsBox, join.el)),
      section("Credentials", secretBox, credBox, credPager.el, h("details", { class: "create", open: true }, h("summary", null, "Issue a credential"), issue.el)),
      section("Direct grants", h("p", { class: "muted" }, "Grants through groups show on each group's page and in Explain."), grantsBox, grantPager.el,
        h("details", { class: "create" }, h("summary", null, "Add a grant"), grantForm({ subject: { user_id: u.id }, onDone: () => void grantPager.reload() }))));
    void credPager.reload();
    void loadGroups();
    void grantPager.reload();
  }
}
