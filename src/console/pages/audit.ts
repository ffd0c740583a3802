// The audit log: who changed what, when, with before/after — newest first, filtered and
// paginated on the server; actors shown as the user behind the credential.
import { api, ApiFailure, nameText, type Page, qs } from "../api";
import { fill, fmtTime, fromLocalInput, h } from "../dom";
import type { Route } from "../route";
import { field, humanMessage, input, pager, section, select, table } from "../ui";

interface Entry {
  id: string;
  at: string;
  revision: number | null;
  actor: string | null;
  action: string;
  entity: string;
  entity_id: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}
interface Actor { credential_id: string; kind: string; label: string | null; user_id: string; username: string }

const actors = new Map<string, Actor>();

const show = (v: unknown) => (v === null || v === undefined ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v));

function summary(e: Entry): string {
  const a = e.after ?? {}, b = e.before ?? {};
  if (e.action === "update" && e.before && e.after) {
    const keys = Object.keys(a).filter((k) => k !== "updated_at" && k !== "via" && JSON.stringify(a[k]) !== JSON.stringify(b[k]));
    return keys.length ? keys.map((k) => `${k}: ${show(b[k])} → ${show(a[k])}`).join("; ") + (a.via ? ` (${a.via})` : "") : "no change";
  }
  if (e.action === "lock_zone" || e.action === "unlock_zone") {
    const gates = (a.gates as string[] | undefined) ?? [];
    return `${a.name ?? e.entity_id}: ${gates.length ? gates.join(", ") : "no gate"} → ${a.mode}`;
  }
  const obj = (e.after ?? e.before ?? {}) as Record<string, any>;
  if (e.entity === "grant" && obj.target) {
    const t = obj.target.gate_id ? `gate ${obj.target.gate_id}` : `zone ${obj.target.zone_id}`;
    const who = obj.subject?.user_id ? `user ${obj.subject.user_id}` : `group ${obj.subject?.group_id}`;
    return `${obj.effect ?? "allow"} ${t} for ${who}${obj.schedule_id ? " on a schedule" : ""}`;
  }
  if (e.entity === "credential" && (obj.kind || obj.label)) return [obj.label, obj.kind, obj.scopes?.length ? `scopes ${obj.scopes.join(",")}` : null].filter(Boolean).join(" · ");
  if (e.action === "add_member" || e.action === "remove_member") return `user ${obj.user_id}`;
  const label = obj.username ?? obj.name ?? obj.label ?? obj.id ?? "";
  return String(label);
}

const HREF: Record<string, (id: string) => string> = {
  user: (id) => `#/users/${encodeURIComponent(id)}`,
  group: (id) => `#/groups/${encodeURIComponent(id)}`,
  schedule: (id) => `#/schedules/${encodeURIComponent(id)}`,
  gate: (id) => `#/gates?q=${encodeURIComponent(id)}`,
  zone: (id) => `#/gates?zone=${encodeURIComponent(id)}`,
};

export function auditPage(main: HTMLElement, _r: Route): void {
  const entity = select("entity", [["", "everything"], ...["user", "group", "zone", "gate", "schedule", "grant", "credential", "import"].map((x) => [x, x] as [string, string])], "", { id: "audit-entity" });
  const from = input("from", { type: "datetime-local", id: "audit-from" });
  const to = input("to", { type: "datetime-local", id: "audit-to" });
  const box = h("div");
  const err = h("p", { class: "form-error", role: "alert", hidden: true });

  const p = pager<Entry>(
    async (cursor) => {
      const page = await api<Page<Entry>>("GET", "/api/v1/admin/audit" + qs({ entity: entity.value, from: fromLocalInput(from.value), to: fromLocalInput(to.value), limit: 25, cursor }));
      const unknown = [...new Set(page.items.map((e) => e.actor).filter((a): a is string => !!a && !actors.has(a)))];
      if (unknown.length) {
        try {
          const res = await api<{ items: Actor[] }>("GET", "/api/v1/admin/actors" + qs({ ids: unknown.join(",") }));
          for (const a of res.items) actors.set(a.credential_id, a);
        } catch {
          // ids stay
        }
      }
      return page;
    },
    (items) => fill(box, table(["Time", "Who", "Action", "What", "Change", "Revision"], items.map((e) => {
      const a = e.actor ? actors.get(e.actor) : undefined;
      const who = e.actor === null
        ? h("span", { class: "muted" }, "system / CLI")
        : a ? h("span", null, h("a", { href: `#/users/${encodeURIComponent(a.user_id)}` }, a.username), h("span", { class: "muted small" }, ` (${a.label ?? a.kind})`)) : h("code", null, e.actor);
      const what = e.entity_id && HREF[e.entity]
        ? h("span", null, `${e.entity} `, h("a", { href: HREF[e.entity]!(e.entity_id) }, nameText(e.entity_id)))
        : h("span", null, e.entity, e.entity_id ? h("code", { class: "small" }, " " + e.entity_id) : null);
      const details = h("details", { class: "diff" }, h("summary", null, summary(e) || "details"),
        h("div", { class: "diff-cols" },
          h("div", null, h("h4", null, "Before"), h("pre", null, e.before ? JSON.stringify(e.before, null, 2) : "—")),
          h("div", null, h("h4", null, "After"), h("pre", null, e.after ? JSON.stringify(e.after, null, 2) : "—"))));
      return [h("time", { datetime: e.at }, fmtTime(e.at)), who, h("code", { class: "action" }, e.action), what, details, e.revision ?? "—"];
    }), { empty: "No entries match.", class: "audit" })),
    "Audit pages");
  const reload = () => {
    err.hidden = true;
    p.reload().catch((e) => {
      err.textContent = e instanceof ApiFailure ? humanMessage(e) : String(e);
      err.hidden = false;
    });
  };
  for (const x of [entity, from, to]) x.addEventListener("change", reload);

  fill(main,
    h("div", { class: "page-head" }, h("h1", null, "Audit log"), h("p", { class: "muted" }, "Every change, who made it and the revision that holds it; newest first. Times are local.")),
    section("Entries",
      h("div", { class: "toolbar wrap" }, field("Entity", entity).el, field("From", from).el, field("To", to).el),
      err, box, p.el));
  reload();
}
