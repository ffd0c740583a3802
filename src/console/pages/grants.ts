// Grants: who (a user or a group) may or may not pass which gate or zone, when (a schedule and a
// validity window). The list filters on the server; the form is reused on user and group pages.
import { api, nameText, type Page, qs } from "../api";
import { fill, fmtTime, fromLocalInput, h, uid } from "../dom";
import type { Route } from "../route";
import { badge, confirmDialog, type Field, field, Form, humanMessage, input, pager, type Picker, picker, section, select, table, toast } from "../ui";
import { ApiFailure } from "../api";

export interface Grant {
  id: string;
  subject: { user_id: string } | { group_id: string };
  target: { gate_id: string } | { zone_id: string };
  effect: "allow" | "deny";
  schedule_id: string | null;
  valid_from: string | null;
  valid_until: string | null;
}

function choice(legend: string, name: string, options: Array<[string, string]>, onPick: (v: string) => void): { el: HTMLElement; value: () => string } {
  const group = uid("rg");
  const radios = options.map(([v, label], i) => {
    const id = uid("r");
    const r = h("input", { type: "radio", name: group, id, value: v, checked: i === 0 });
    r.addEventListener("change", () => r.checked && onPick(v));
    return h("span", { class: "radio" }, r, h("label", { htmlFor: id }, label));
  });
  const el = h("div", { class: "choice", role: "radiogroup", "aria-label": legend, dataset: { name } }, radios);
  return { el, value: () => (el.querySelector("input:checked") as HTMLInputElement).value };
}

/** Two pickers behind a radio choice (user | group, gate | zone), reported as one field. */
function either(legend: string, name: string, a: [string, Picker], b: [string, Picker]) {
  const pick = (v: string) => {
    a[1].el.hidden = v !== a[0];
    b[1].el.hidden = v !== b[0];
  };
  const c = choice(legend, name, [[a[0], a[0]], [b[0], b[0]]], pick);
  pick(a[0]);
  const error = h("p", { class: "field-error", hidden: true });
  const el = h("fieldset", { class: "fieldset", dataset: { field: name } }, h("legend", null, legend), c.el, a[1].el, b[1].el, error);
  const f: Field = { el, control: el, name, error };
  return {
    field: f,
    pickers: [a[1], b[1]],
    /** {a_id: …} or {b_id: …} for the chosen kind, or null when nothing is picked. */
    value(): Record<string, string> | null {
      const [kind, p] = c.value() === a[0] ? a : b;
      const id = p.value();
      return id ? { [`${kind}_id`]: id } : null;
    },
    kind: () => c.value(),
  };
}

export function grantForm(o: { subject?: { user_id: string } | { group_id: string }; onDone: () => void }): HTMLElement {
  const subject = o.subject ? null : either("Who", "subject",
    ["user", picker("User", "subject.user_id", "users")], ["group", picker("Group", "subject.group_id", "groups")]);
  const target = either("Where", "target",
    ["gate", picker("Gate", "target.gate_id", "gates")], ["zone", picker("Zone", "target.zone_id", "zones")]);
  const effect = select("effect", [["allow", "allow"], ["deny", "deny (beats any allow)"]], "allow");
  const schedule = picker("Schedule", "schedule_id", "schedules", { hint: "Optional: only while one of its weekly windows is open." });
  const from = input("valid_from", { type: "datetime-local" });
  const until = input("valid_until", { type: "datetime-local" });
  const form = new Form({
    label: "New grant", submit: "Add grant",
    action: async (f) => {
      const subj = o.subject ?? subject!.value();
      if (!subj) return void f.fieldError(`subject.${subject!.kind()}_id`, `Pick a ${subject!.kind()}`);
      const tgt = target.value();
      if (!tgt) return void f.fieldError(`target.${target.kind()}_id`, `Pick a ${target.kind()}`);
      const body: Record<string, unknown> = { subject: subj, target: tgt, effect: effect.value };
      if (schedule.value()) body.schedule_id = schedule.value();
      const vf = fromLocalInput(from.value), vu = fromLocalInput(until.value);
      if (vf) body.valid_from = vf;
      if (vu) body.valid_until = vu;
      const g = await api<Grant & { revision: number }>("POST", "/api/v1/admin/grants", body);
      toast(`Grant added (revision ${g.revision}).`);
      for (const p of target.pickers) p.set(null);
      schedule.set(null);
      from.value = until.value = "";
      o.onDone();
    },
  });
  if (subject) {
    form.add(subject.field);
    for (const p of subject.pickers) form.register(p);
  }
  form.add(target.field);
  for (const p of target.pickers) form.register(p);
  form.add(field("Effect", effect), schedule,
    h("div", { class: "field-row" },
      form.register(field("Valid from (local time)", from, { hint: "Optional." })).el,
      form.register(field("Valid until (local time)", until, { hint: "Optional." })).el));
  return form.el;
}

export function grantTable(items: Grant[], onChange: () => void, show: { subject?: boolean } = {}): HTMLElement {
  const del = async (g: Grant) => {
    const ok = await confirmDialog({ title: "Delete this grant?", body: h("p", null, "Access it gave (or denied) ends as soon as the change propagates."), confirm: "Delete grant", danger: true });
    if (!ok) return;
    try {
      const res = await api<{ revision: number }>("DELETE", `/api/v1/admin/grants/${encodeURIComponent(g.id)}`);
      toast(`Grant deleted (revision ${res.revision}).`);
      onChange();
    } catch (e) {
      toast("Could not delete the grant: " + (e instanceof ApiFailure ? humanMessage(e) : e), "error");
    }
  };
  const subj = (g: Grant) => "user_id" in g.subject
    ? h("span", null, "user ", h("a", { href: `#/users/${encodeURIComponent(g.subject.user_id)}` }, nameText(g.subject.user_id)))
    : h("span", null, "group ", h("a", { href: `#/groups/${encodeURIComponent(g.subject.group_id)}` }, nameText(g.subject.group_id)));
  const tgt = (g: Grant) => "gate_id" in g.target ? h("span", null, "gate ", h("code", null, g.target.gate_id)) : h("span", null, "zone ", nameText(g.target.zone_id));
  const validity = (g: Grant) => !g.valid_from && !g.valid_until ? h("span", { class: "muted" }, "always") : `${g.valid_from ? fmtTime(g.valid_from) : "…"} → ${g.valid_until ? fmtTime(g.valid_until) : "…"}`;
  const headers = [...(show.subject === false ? [] : ["Who"]), "Where", "Effect", "Schedule", "Valid", ""];
  return table(headers, items.map((g) => [
    ...(show.subject === false ? [] : [subj(g)]),
    tgt(g),
    badge(g.effect, g.effect === "allow" ? "allow" : "deny"),
    g.schedule_id ? h("a", { href: `#/schedules/${encodeURIComponent(g.schedule_id)}` }, nameText(g.schedule_id)) : h("span", { class: "muted" }, "any time"),
    validity(g),
    h("button", { type: "button", class: "btn btn-small", onclick: () => del(g) }, "Delete"),
  ]), { empty: "No grants.", class: "grants" });
}

export function grantsPage(main: HTMLElement, _r: Route): void {
  const box = h("div");
  const who = picker("Who (user)", "f_user", "users", { hint: "Filter by a user's direct grants." });
  const grp = picker("Who (group)", "f_group", "groups", { hint: "Filter by a group's grants." });
  const gate = picker("Gate", "f_gate", "gates", { hint: "Grants on this gate." });
  const zone = picker("Zone", "f_zone", "zones", { hint: "Grants on this zone." });
  const p = pager<Grant>(
    (cursor) => api<Page<Grant>>("GET", "/api/v1/admin/grants" + qs({ user_id: who.value(), group_id: grp.value(), gate_id: gate.value(), zone_id: zone.value(), limit: 25, cursor })),
    (items) => fill(box, grantTable(items, () => void p.refresh())),
    "Grant pages");
  for (const x of [who, grp, gate, zone]) x.onChange(() => void p.reload());
  fill(main,
    h("div", { class: "page-head" }, h("h1", null, "Grants"),
      h("p", { class: "muted" }, "Deny beats allow. A grant counts only inside its validity window and while its schedule is open.")),
    section("Find grants", h("div", { class: "toolbar wrap" }, who.el, grp.el, gate.el, zone.el), box, p.el),
    section("New grant", grantForm({ onDone: () => void p.reload() })));
  void p.reload();
}
