// Gates and zones: search, modes (normal / locked / disabled), lock or unlock a whole zone in one
// action with a confirmation, create zones and gates.
import { api, ApiFailure, nameText, type Page, qs, rememberName } from "../api";
import { debounce, fill, h } from "../dom";
import type { Route } from "../route";
import { confirmDialog, field, Form, humanMessage, input, modeBadge, pager, picker, section, select, table, toast } from "../ui";

interface Zone { id: string; name: string }
interface Gate { id: string; name: string; zone_id: string | null; mode: string; unlock_ms: number }

const MODES: Array<[string, string]> = [["normal", "normal"], ["locked", "locked (deny all)"], ["disabled", "disabled"]];

export function gatesPage(main: HTMLElement, r: Route): void {
  // ---- zones ----
  const zoneSearch = h("input", { id: "zone-q", type: "search", placeholder: "Zone name starts with…", autocomplete: "off" });
  const zonesBox = h("div");
  let gateZoneFilter: string | null = r.params.get("zone");

  const zoneAction = async (z: Zone, action: "lock" | "unlock") => {
    let affected: Gate[] = [];
    try {
      affected = (await api<Page<Gate>>("GET", "/api/v1/admin/gates" + qs({ zone_id: z.id, mode: action === "lock" ? "normal" : "locked", limit: 500 }))).items;
    } catch {
      // the confirmation can do without the list
    }
    const names = affected.slice(0, 12).map((g) => h("li", null, h("code", null, g.id), " ", g.name));
    const ok = await confirmDialog({
      title: action === "lock" ? `Lock zone ${z.name}?` : `Unlock zone ${z.name}?`,
      body: [
        h("p", null, action === "lock"
          ? `Every gate of ${z.name} in normal mode will deny everyone (reason gate_locked) until the zone is unlocked. Disabled gates stay disabled.`
          : `Every locked gate of ${z.name} goes back to normal mode — also a gate that was locked on its own before. Disabled gates stay disabled.`),
        affected.length
          ? [h("p", null, `${affected.length}${affected.length === 500 ? "+" : ""} gate${affected.length === 1 ? "" : "s"} will change:`), h("ul", { class: "compact" }, names, affected.length > 12 ? h("li", null, `… and ${affected.length - 12} more`) : null)]
          : h("p", { class: "muted" }, action === "lock" ? "No gate of this zone is in normal mode right now." : "No gate of this zone is locked right now."),
      ],
      confirm: action === "lock" ? "Lock zone" : "Unlock zone",
      danger: action === "lock",
    });
    if (!ok) return;
    try {
      const res = await api<{ changed: string[]; revision: number }>("POST", `/api/v1/admin/zones/${encodeURIComponent(z.id)}/${action}`);
      toast(`Zone ${z.name} ${action}ed: ${res.changed.length} gate${res.changed.length === 1 ? "" : "s"} changed (revision ${res.revision}).`);
      void gatePager.refresh();
    } catch (e) {
      toast(`Could not ${action} ${z.name}: ${e instanceof ApiFailure ? humanMessage(e) : e}`, "error");
    }
  };

  const zonePager = pager<Zone>(
    (cursor) => api<Page<Zone>>("GET", "/api/v1/admin/zones" + qs({ q: zoneSearch.value.trim(), limit: 20, cursor })),
    (items) => {
      for (const z of items) rememberName(z.id, z.name);
      fill(zonesBox, table(["Zone", "Gates", "Whole zone"], items.map((z) => [
        h("strong", null, z.name),
        h("button", { type: "button", class: "btn btn-small btn-link", onclick: () => { gateZoneFilter = z.id; zoneFilter.set(z.id, z.name); void gatePager.reload(); document.getElementById("gates-h")?.scrollIntoView(); } }, `Show gates of ${z.name}`),
        h("div", { class: "row-actions" },
          h("button", { type: "button", class: "btn btn-small btn-danger", onclick: () => zoneAction(z, "lock") }, `Lock ${z.name}`),
          h("button", { type: "button", class: "btn btn-small", onclick: () => zoneAction(z, "unlock") }, `Unlock ${z.name}`)),
      ]), { empty: zoneSearch.value ? "No zone starts with that." : "No zones yet.", class: "zones" }));
    }, "Zone pages");
  zoneSearch.addEventListener("input", debounce(() => void zonePager.reload(), 200));

  const zoneName = input("name", { required: true });
  const zoneForm = new Form({
    label: "New zone", submit: "Create zone", class: "inline-form",
    action: async () => {
      const z = await api<Zone & { revision: number }>("POST", "/api/v1/admin/zones", { name: zoneName.value.trim() });
      toast(`Zone ${z.name} created (revision ${z.revision}).`);
      zoneName.value = "";
      void zonePager.reload();
    },
  });
  zoneForm.add(field("New zone name", zoneName));

  // ---- gates ----
  const gateSearch = h("input", { id: "gate-q", type: "search", placeholder: "Gate id or name starts with…", autocomplete: "off" });
  const zoneFilter = picker("Zone", "zone_filter", "zones", { hint: "Only gates of this zone (clear the text for all)." });
  const modeFilter = select("mode_filter", [["", "any mode"], ...MODES], "", { id: "gate-mode-filter" });
  const gatesBox = h("div");
  zoneFilter.onChange((id) => {
    gateZoneFilter = id;
    void gatePager.reload();
  });
  if (gateZoneFilter) zoneFilter.set(gateZoneFilter, gateZoneFilter);

  const modeCell = (g: Gate) => {
    const sel = select("mode", MODES, g.mode, { "aria-label": `Mode of ${g.id}` });
    const save = h("button", { type: "button", class: "btn btn-small", disabled: true }, "Save");
    const err = h("span", { class: "field-error", role: "alert" });
    sel.addEventListener("change", () => (save.disabled = sel.value === g.mode));
    save.addEventListener("click", async () => {
      err.textContent = "";
      save.disabled = true;
      try {
        const res = await api<Gate & { revision: number }>("PATCH", `/api/v1/admin/gates/${encodeURIComponent(g.id)}`, { mode: sel.value });
        toast(`${g.id} is now ${res.mode} (revision ${res.revision}).`);
        g.mode = res.mode;
        void gatePager.refresh();
      } catch (e) {
        err.textContent = e instanceof ApiFailure ? humanMessage(e) : String(e);
        save.disabled = false;
      }
    });
    return h("div", { class: "mode-edit" }, sel, save, err);
  };

  const gatePager = pager<Gate>(
    (cursor) => api<Page<Gate>>("GET", "/api/v1/admin/gates" + qs({ q: gateSearch.value.trim(), zone_id: gateZoneFilter, mode: modeFilter.value, limit: 25, cursor })),
    (items) => {
      for (const g of items) rememberName(g.id, g.name);
      fill(gatesBox, table(["Gate", "Name", "Zone", "Mode", "Change mode"], items.map((g) => [
        h("code", null, g.id), g.name, g.zone_id ? nameText(g.zone_id) : h("span", { class: "muted" }, "none"), modeBadge(g.mode), modeCell(g),
      ]), { empty: "No gates match.", class: "gates" }));
    }, "Gate pages");
  gateSearch.addEventListener("input", debounce(() => void gatePager.reload(), 200));
  modeFilter.addEventListener("change", () => void gatePager.reload());

  const gId = input("id", { required: true, placeholder: "GATE_010", spellcheck: "false" });
  const gName = input("name", { required: true });
  const gZone = picker("Zone", "zone_id", "zones", { hint: "Optional." });
  const gMode = select("mode", MODES, "normal");
  const gUnlock = input("unlock_ms", { type: "number", min: 0, max: 600000, step: 100, value: "800", inputmode: "numeric" });
  const gateForm = new Form({
    label: "New gate", submit: "Create gate",
    action: async () => {
      const body: Record<string, unknown> = { id: gId.value.trim(), name: gName.value.trim(), mode: gMode.value };
      if (gZone.value()) body.zone_id = gZone.value();
      if (gUnlock.value !== "") body.unlock_ms = Number(gUnlock.value);
      const g = await api<Gate & { revision: number }>("POST", "/api/v1/admin/gates", body);
      toast(`Gate ${g.id} created (revision ${g.revision}).`);
      gId.value = gName.value = "";
      gZone.set(null);
      void gatePager.reload();
    },
  });
  gateForm.add(field("Gate id", gId, { hint: "The code the gate controller sends: letters, digits, _ . : -" }), field("Name", gName), gZone, field("Mode", gMode), field("Unlock time (ms)", gUnlock));

  fill(main,
    h("div", { class: "page-head" }, h("h1", null, "Gates & zones"),
      h("p", { class: "muted" }, "A locked gate denies everyone (gate_locked); a disabled gate answers as unknown to clients (gate_disabled). Changes reach every verify within the propagation time.")),
    section("Zones",
      h("div", { class: "toolbar" }, h("div", { class: "field inline" }, h("label", { htmlFor: "zone-q" }, "Search zones"), zoneSearch)),
      zonesBox, zonePager.el, zoneForm.el),
    h("section", { class: "card", "aria-labelledby": "gates-h" },
      h("h2", { id: "gates-h" }, "Gates"),
      h("div", { class: "toolbar" },
        h("div", { class: "field inline" }, h("label", { htmlFor: "gate-q" }, "Search gates"), gateSearch),
        zoneFilter.el,
        h("div", { class: "field inline" }, h("label", { htmlFor: "gate-mode-filter" }, "Mode"), modeFilter)),
      gatesBox, gatePager.el,
      h("details", { class: "create" }, h("summary", null, "New gate"), gateForm.el)));
  void zonePager.reload();
  void gatePager.reload();
}
