// Explain: "why was I refused at door 3?" — pick a user or paste a token, a gate and a time; the
// service answers the decision with its derivation (POST /api/v1/admin/explain).
import { api, nameText, rememberName } from "../api";
import { fill, fmtTime, fromLocalInput, h, localInputValue, uid } from "../dom";
import type { Route } from "../route";
import type { ExplainAnswer as Explanation } from "../../wire";
import { badge, decisionBadge, field, Form, input, picker, section, table } from "../ui";

const SENTENCE: Record<string, string> = {
  granted: "Allowed: a grant allows it now and no deny applies.",
  unknown_token: "Denied: the service does not know this token.",
  expired_token: "Denied: the token has expired.",
  revoked_token: "Denied: the token was revoked.",
  not_yet_valid: "Denied: the token is not valid yet.",
  inactive_user: "Denied: the user is inactive or outside their validity window.",
  unknown_gate: "Denied: there is no gate with this id.",
  gate_disabled: "Denied: the gate is disabled, so it answers as unknown to clients.",
  gate_locked: "Denied: the gate is locked, which denies everyone whatever the grants say.",
  stale_index: "Denied: the gate has a max_staleness_ms and the deciding node could not confirm its data was that fresh.",
  no_grant: "Denied: no grant in force reaches this user for this gate.",
  denied: "Denied: a deny grant applies, and deny beats allow.",
  outside_schedule: "Denied: a grant would allow it, but its schedule is closed at this time.",
};

function check(ok: boolean, text: string, detail?: string): HTMLElement {
  return h("li", { class: ok ? "check-ok" : "check-bad" }, h("span", { class: "check-mark", "aria-hidden": "true" }, ok ? "✓" : "✗"),
    h("span", { class: "sr-only" }, ok ? "passes: " : "fails: "), text, detail ? h("span", { class: "muted" }, " — " + detail) : null);
}

function result(x: Explanation, atMs: number): HTMLElement {
  const checks: HTMLElement[] = [];
  if (x.credential) {
    const c = x.credential;
    const expired = c.expires_at !== null && Date.parse(c.expires_at) <= atMs;
    const early = c.valid_from !== null && Date.parse(c.valid_from) > atMs;
    checks.push(check(!c.revoked && !expired && !early, `Credential: ${c.kind}`,
      c.revoked ? "revoked" : expired ? `expired ${fmtTime(c.expires_at)}` : early ? `valid from ${fmtTime(c.valid_from)}` : "valid"));
  } else if (!x.user_id) {
    checks.push(check(false, "Token", "unknown to the service"));
  }
  if (x.user) {
    const u = x.user;
    const inWindow = !(u.valid_from && Date.parse(u.valid_from) > atMs) && !(u.valid_until && Date.parse(u.valid_until) <= atMs);
    checks.push(check(u.active && inWindow, `User ${u.username}`, !u.active ? "inactive" : !inWindow ? "outside the user's validity window" : "active"));
  }
  if (x.gate) {
    const g = x.gate;
    checks.push(check(g.mode === "normal", `Gate ${g.id} — ${g.name}`, g.mode === "normal" ? "normal mode" : g.mode === "locked" ? "locked: denies everyone" : "disabled"));
  } else {
    checks.push(check(false, `Gate ${x.gate_id}`, "no such gate"));
  }
  const grantRows = x.grants.map((g) => [
    badge(g.effect, g.effect === "allow" ? "allow" : "deny"),
    "user_id" in g.subject ? "directly" : h("span", null, "group ", h("strong", null, g.subject.group_path[g.subject.group_path.length - 1] ?? ""), g.subject.group_path.length > 1 ? h("span", { class: "muted" }, " via " + g.subject.group_path.slice(0, -1).join(" → ")) : null),
    "gate_id" in g.target ? h("span", null, "gate ", h("code", null, g.target.gate_id)) : h("span", null, "zone ", nameText(g.target.zone_id)),
    g.schedule ? h("span", null, g.schedule.name, h("span", { class: "muted" }, ` (${g.schedule.timezone}, ${g.schedule.local_time}) `), g.schedule.open ? badge("open", "ok") : badge("closed", "off")) : h("span", { class: "muted" }, "any time"),
    badge(g.outcome.replace("_", " "), g.outcome === "allows" ? "allow" : g.outcome === "denies" ? "deny" : "off"),
    g.why,
  ]);
  const headingId = uid("res");
  return h("section", { class: `card explain-result ${x.allow ? "is-allow" : "is-deny"}`, "aria-labelledby": headingId },
    h("h2", { id: headingId, class: "decision" }, decisionBadge(x.allow), " ", h("code", { class: "reason" }, x.reason)),
    h("p", { class: "decision-text" }, SENTENCE[x.reason] ?? x.reason),
    h("p", { class: "muted" }, `At ${fmtTime(x.at)} local (${x.at}) · index revision ${x.revision}`),
    h("h3", null, "Checks, in the order the service makes them"),
    h("ul", { class: "checks" }, checks),
    x.groups.length ? [h("h3", null, "Groups"), h("ul", { class: "paths" }, x.groups.map((g) => h("li", null, h("strong", null, g.name), g.path.length > 1 ? h("span", { class: "muted" }, " via " + g.path.slice(0, -1).join(" → ")) : h("span", { class: "muted" }, " (direct member)"))))] : null,
    h("h3", null, "Grants that reach this gate"),
    table(["Effect", "Through", "On", "Schedule", "Outcome", "Why"], grantRows, { empty: "No grant reaches this user for this gate.", class: "explain-grants" }));
}

export function explainPage(main: HTMLElement, r: Route): void {
  const whoId = uid("who");
  const byUser = h("input", { type: "radio", name: whoId, id: whoId + "-u", value: "user", checked: !r.params.get("token") });
  const byToken = h("input", { type: "radio", name: whoId, id: whoId + "-t", value: "token" });
  const user = picker("User", "user_id", "users");
  const token = input("token", { type: "password", autocomplete: "off", spellcheck: "false", placeholder: "pcl_… or a card number" });
  const tokenField = field("Token", token, { hint: "Checked exactly as a gate would check it; the token is not stored." });
  const gate = picker("Gate", "gate_id", "gates");
  const at = input("at", { type: "datetime-local", value: localInputValue(new Date(r.params.get("at") ?? Date.now()), true), step: 1 });
  const nowBtn = h("button", { type: "button", class: "btn btn-small" }, "Now");
  nowBtn.addEventListener("click", () => (at.value = localInputValue(new Date(), true)));
  const out = h("div", { "aria-live": "polite" });
  const sync = () => {
    user.el.hidden = !byUser.checked;
    tokenField.el.hidden = byUser.checked;
  };
  byUser.addEventListener("change", sync);
  byToken.addEventListener("change", sync);

  const form = new Form({
    label: "Explain a decision", submit: "Explain",
    action: async (f) => {
      const body: Record<string, unknown> = {};
      if (byUser.checked) {
        if (!user.value()) return void f.fieldError("user_id", "Pick a user from the list");
        body.user_id = user.value();
      } else {
        if (!token.value.trim()) return void f.fieldError("token", "Paste a token");
        body.token = token.value.trim();
      }
      if (!gate.value()) return void f.fieldError("gate_id", "Pick a gate from the list");
      body.gate_id = gate.value();
      const when = fromLocalInput(at.value);
      if (at.value && !when) return void f.fieldError("at", "Not a valid time");
      if (when) body.at = when;
      const x = await api<Explanation>("POST", "/api/v1/admin/explain", body);
      fill(out, result(x, Date.parse(x.at)));
    },
  });
  form.add(
    h("fieldset", { class: "fieldset" }, h("legend", null, "Whose access"),
      h("div", { class: "choice" },
        h("span", { class: "radio" }, byUser, h("label", { htmlFor: byUser.id }, "A user")),
        h("span", { class: "radio" }, byToken, h("label", { htmlFor: byToken.id }, "A token or card"))),
      user.el, tokenField.el),
    gate.el,
    h("div", { class: "field-row align-end" }, form.register(field("At (local time)", at)).el, nowBtn));
  form.register(user);
  form.register(tokenField);
  form.register(gate);
  sync();

  fill(main,
    h("div", { class: "page-head" }, h("h1", null, "Explain"),
      h("p", { class: "muted" }, "The decision a gate would get, and every grant, group path and schedule window behind it.")),
    h("div", { class: "grid-sidebar" }, section("Question", form.el), out));

  // Prefilled from a live event or a user page.
  const uidParam = r.params.get("user"), gateParam = r.params.get("gate");
  if (uidParam) {
    user.set(uidParam, uidParam);
    void api<{ username: string }>("GET", `/api/v1/admin/users/${encodeURIComponent(uidParam)}`).then((u) => {
      rememberName(uidParam, u.username);
      user.set(uidParam, u.username);
    }, () => {});
  }
  if (gateParam) gate.set(gateParam, gateParam);
  if (uidParam && gateParam) form.el.requestSubmit();
}
