// Presence: live occupancy of every zone, the muster list of one zone (who is inside, since when,
// through which gate — printable as a list for a fire warden), anti-passback forgiveness, and the
// settings of the rules with memory on zones and gates.
import { api, ApiFailure, nameText, qs, rememberName } from "../api";
import { fill, fmtTime, h } from "../dom";
import type { Route } from "../route";
import { badge, confirmDialog, field, Form, humanMessage, input, picker, section, select, table, toast } from "../ui";

interface Occupancy {
  store: string;
  items: Array<{ zone_id: string; name: string; parent_id: string | null; count: number; max_occupancy: number | null; anti_passback: string }>;
}
interface Muster {
  zone_id: string;
  name: string;
  count: number;
  max_occupancy: number | null;
  at: string;
  items: Array<{ user_id: string; username: string | null; since: string; gate_id: string; gate_name: string | null }>;
}

const STORES: Record<string, string> = {
  redis: "shared by every node (Redis)",
  local: "kept by this process (no REDIS_URL)",
  ipc: "kept by this host's primary process (no REDIS_URL)",
  none: "unavailable here: each zone's state failure setting decides",
};

export function presencePage(main: HTMLElement, r: Route): () => void {
  const zoneId = r.params.get("zone");
  const occBox = h("div");
  const storeNote = h("p", { class: "muted" });
  const musterBox = h("div", { class: "muster" });

  const loadOccupancy = async () => {
    try {
      const o = await api<Occupancy>("GET", "/api/v1/admin/occupancy");
      storeNote.textContent = `Presence is ${STORES[o.store] ?? o.store}.`;
      fill(occBox, table(["Zone", "Inside", "Limit", "Anti-passback", ""], o.items.map((z) => {
        rememberName(z.zone_id, z.name);
        const full = z.max_occupancy !== null && z.count >= z.max_occupancy;
        return [
          h("strong", null, z.name),
          h("span", { class: "count" }, String(z.count)),
          z.max_occupancy === null ? h("span", { class: "muted" }, "none") : full ? badge(`${z.max_occupancy} (full)`, "deny") : String(z.max_occupancy),
          z.anti_passback === "off" ? h("span", { class: "muted" }, "off") : badge(z.anti_passback, z.anti_passback === "hard" ? "deny" : "warn"),
          h("a", { class: "btn btn-small", href: `#/presence?zone=${encodeURIComponent(z.zone_id)}` }, `Muster list of ${z.name}`),
        ];
      }), { empty: "No zones yet.", class: "occupancy" }));
    } catch (e) {
      fill(occBox, h("p", { class: "form-error" }, e instanceof ApiFailure ? humanMessage(e) : String(e)));
    }
  };

  const forgive = async (m: Muster, u: Muster["items"][number]) => {
    const who = u.username ?? u.user_id;
    const ok = await confirmDialog({
      title: `Forgive ${who} in ${m.name}?`,
      body: h("p", null, `Clears ${who}'s presence and exit record in ${m.name}: their next entry or exit passes anti-passback whatever came before. The audit log keeps who did it.`),
      confirm: "Forgive",
    });
    if (!ok) return;
    try {
      await api("POST", `/api/v1/admin/zones/${encodeURIComponent(m.zone_id)}/presence/${encodeURIComponent(u.user_id)}/forgive`);
      toast(`${who} forgiven in ${m.name}.`);
      void loadMuster();
    } catch (e) {
      toast(`Could not forgive ${who}: ${e instanceof ApiFailure ? humanMessage(e) : e}`, "error");
    }
  };

  const loadMuster = async () => {
    if (!zoneId) return;
    try {
      const m = await api<Muster>("GET", `/api/v1/admin/zones/${encodeURIComponent(zoneId)}/presence`);
      fill(musterBox,
        h("div", { class: "muster-head" },
          h("h2", { id: "muster-h" }, `Muster list — ${m.name}`),
          h("p", null, h("strong", null, `${m.count} ${m.count === 1 ? "person" : "people"} inside`),
            m.max_occupancy !== null ? ` (limit ${m.max_occupancy})` : "", ` · as of ${fmtTime(m.at)}`),
          h("div", { class: "row-actions no-print" },
            h("button", { type: "button", class: "btn btn-primary", onclick: () => window.print() }, "Print muster list"),
            h("button", { type: "button", class: "btn", onclick: () => void loadMuster() }, "Refresh"))),
        table(["#", "Name", "Inside since", "Through gate", "Accounted for", ""], m.items.map((u, i) => [
          String(i + 1),
          h("strong", null, u.username ?? u.user_id),
          fmtTime(u.since),
          h("span", null, h("code", null, u.gate_id), u.gate_name ? ` ${u.gate_name}` : ""),
          h("span", { class: "checkbox-cell", "aria-hidden": "true" }, "☐"),
          h("button", { type: "button", class: "btn btn-small no-print", onclick: () => void forgive(m, u) }, `Forgive ${u.username ?? u.user_id}`),
        ]), { empty: `Nobody is inside ${m.name}.`, class: "muster-list", caption: `People inside ${m.name}` }));
    } catch (e) {
      fill(musterBox, h("p", { class: "form-error" }, e instanceof ApiFailure ? humanMessage(e) : String(e)));
    }
  };

  fill(main,
    h("div", { class: "page-head no-print" }, h("h1", null, "Presence & muster"),
      h("p", { class: "muted" }, "Who is inside each zone, from gates with a direction (in / out); anti-passback, occupancy limits and the other rules with memory are set below.")),
    zoneId ? h("section", { class: "card", "aria-labelledby": "muster-h" }, musterBox) : null,
    h("div", { class: "no-print" },
      section("Live occupancy", storeNote, occBox),
      zoneRules(),
      gateRules()));
  void loadOccupancy();
  void loadMuster();
  const timer = setInterval(() => {
    void loadOccupancy();
  }, 2000);
  return () => clearInterval(timer);
}

const bool = (name: string) => h("input", { type: "checkbox", name, id: `f-${name}` });
const num = (name: string, attrs: Record<string, string | number> = {}) => input(name, { type: "number", inputmode: "numeric", ...attrs });
const orNull = (v: string) => (v.trim() === "" ? null : Number(v));

function zoneRules(): HTMLElement {
  const zone = picker("Zone", "rules_zone", "zones", { hint: "Pick a zone to see and change its settings." });
  const apb = select("anti_passback", [["off", "off"], ["soft", "soft (pass, flag the event)"], ["hard", "hard (deny anti_passback)"]], "off");
  const reset = input("anti_passback_reset", { placeholder: "e.g. 12h (empty: never)", spellcheck: "false" });
  const max = num("max_occupancy", { min: 1, placeholder: "empty: no limit" });
  const failure = select("state_failure", [["closed", "closed (deny state_unavailable)"], ["open", "open (decide without the rules, flagged)"]], "closed");
  const parent = picker("Enclosing zone", "parent_id", "zones", { hint: "Entering this zone enters the enclosing one too (presence only)." });
  const supGroup = picker("Supervisor group", "supervisor_group_id", "groups", { hint: "First person in: with a schedule, the zone opens only after a member entered that day." });
  const supSchedule = picker("Supervisor schedule", "supervisor_schedule_id", "schedules");
  const escort = bool("requires_escort");
  const escortS = num("escort_window_s", { min: 1, max: 3600, value: "60" });
  const form = new Form({
    label: "Zone rules", submit: "Save zone rules",
    action: async () => {
      const id = zone.value();
      if (!id) throw new Error("Pick a zone first.");
      const z = await api<any>("PATCH", `/api/v1/admin/zones/${encodeURIComponent(id)}`, {
        anti_passback: apb.value, anti_passback_reset: reset.value.trim() || null, max_occupancy: orNull(max.value),
        state_failure: failure.value, parent_id: parent.value(), supervisor_group_id: supGroup.value(),
        supervisor_schedule_id: supSchedule.value(), requires_escort: escort.checked, escort_window_s: Number(escortS.value || 60),
      });
      toast(`Zone ${z.name} saved (revision ${z.revision}).`);
    },
  });
  zone.onChange(async (id) => {
    if (!id) return;
    const z = await api<any>("GET", `/api/v1/admin/zones/${encodeURIComponent(id)}`);
    apb.value = z.anti_passback;
    reset.value = z.anti_passback_reset ?? "";
    max.value = z.max_occupancy ?? "";
    failure.value = z.state_failure;
    parent.set(z.parent_id, z.parent_id ? nameText(z.parent_id).textContent ?? z.parent_id : undefined);
    supGroup.set(z.supervisor_group_id, z.supervisor_group_id ?? undefined);
    supSchedule.set(z.supervisor_schedule_id, z.supervisor_schedule_id ?? undefined);
    escort.checked = z.requires_escort;
    escortS.value = String(z.escort_window_s);
  });
  form.add(zone, field("Anti-passback", apb), field("Anti-passback reset", reset, { hint: "A presence older than this no longer counts against the next pass." }),
    field("Maximum occupancy", max), field("When the shared state is unreachable", failure), parent, supGroup, supSchedule,
    field("Visitors need an escort", escort), field("Escort window (s)", escortS, { hint: "The host must have passed the same gate this recently." }));
  return section("Zone rules", form.el);
}

function gateRules(): HTMLElement {
  const gate = picker("Gate", "rules_gate", "gates", { hint: "Pick a gate to see and change its settings." });
  const dir = select("direction", [["both", "both (moves no one)"], ["in", "in (enters its zone)"], ["out", "out (leaves its zone)"]], "both");
  const twoPerson = num("two_person_window_ms", { min: 1000, max: 600000, step: 1000, placeholder: "empty: one person opens" });
  const pin = bool("requires_pin");
  const escort = bool("requires_escort");
  const escortS = num("escort_window_s", { min: 1, max: 3600, value: "60" });
  const form = new Form({
    label: "Gate rules", submit: "Save gate rules",
    action: async () => {
      const id = gate.value();
      if (!id) throw new Error("Pick a gate first.");
      const g = await api<any>("PATCH", `/api/v1/admin/gates/${encodeURIComponent(id)}`, {
        direction: dir.value, two_person_window_ms: orNull(twoPerson.value), requires_pin: pin.checked,
        requires_escort: escort.checked, escort_window_s: Number(escortS.value || 60),
      });
      toast(`Gate ${g.id} saved (revision ${g.revision}).`);
    },
  });
  gate.onChange(async (id) => {
    if (!id) return;
    const g = await api<any>("GET", `/api/v1/admin/gates/${encodeURIComponent(id)}` + qs({}));
    dir.value = g.direction;
    twoPerson.value = g.two_person_window_ms ?? "";
    pin.checked = g.requires_pin;
    escort.checked = g.requires_escort;
    escortS.value = String(g.escort_window_s);
  });
  form.add(gate, field("Direction", dir), field("Two-person window (ms)", twoPerson, { hint: "A second, different authorized person within this window opens." }),
    field("Card + PIN", pin), field("Visitors need an escort", escort), field("Escort window (s)", escortS));
  return section("Gate rules", form.el);
}
