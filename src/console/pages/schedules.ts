// Schedules: weekly windows in the schedule's own timezone. The editor shows the week as the
// gate will see it, in that timezone, with "now" marked, and puts the service's errors on the
// exact window field they name (windows[2].end).
import { api, ApiFailure, type Page, qs, rememberName } from "../api";
import { debounce, fill, h, uid } from "../dom";
import type { Route } from "../route";
import { badge, confirmDialog, type Field, field, Form, humanMessage, input, pager, section, table, toast } from "../ui";

interface Window { days: number[]; start: string; end: string }
interface Schedule { id: string; name: string; timezone: string; windows: Window[] }

const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

const minutes = (t: string) => {
  const m = /^(\d\d):(\d\d)$/.exec(t);
  return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
};

function dayList(days: number[]): string {
  const s = [...new Set(days)].sort((a, b) => a - b);
  const runs: string[] = [];
  for (let i = 0; i < s.length;) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    runs.push(j - i >= 2 ? `${DAYS[s[i]! - 1]}–${DAYS[s[j]! - 1]}` : s.slice(i, j + 1).map((d) => DAYS[d - 1]).join(", "));
    i = j + 1;
  }
  return runs.join(", ");
}
export const windowsSummary = (ws: Window[]) => ws.length ? ws.map((w) => `${dayList(w.days)} ${w.start}–${w.end}`).join("; ") : "never open";

/** Weekday (1..7) and minute of the day now in `tz`, or null for an unknown zone. */
function nowIn(tz: string): { day: number; minute: number; text: string } | null {
  try {
    const parts = new Intl.DateTimeFormat("en-GB", { timeZone: tz, weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date());
    const get = (t: string) => parts.find((p) => p.type === t)?.value ?? "";
    const day = DAYS.indexOf(get("weekday")) + 1;
    const hh = Number(get("hour")), mm = Number(get("minute"));
    return { day, minute: hh * 60 + mm, text: `${DAY_NAMES[day - 1]} ${get("hour")}:${get("minute")}` };
  } catch {
    return null;
  }
}

/** Open [start, end) minute ranges per ISO day; a window ending before it starts runs past midnight. */
function openRanges(ws: Window[]): Array<Array<[number, number]>> {
  const byDay: Array<Array<[number, number]>> = [[], [], [], [], [], [], [], []];
  for (const w of ws) {
    const s = minutes(w.start), e = w.end === "24:00" ? 1440 : minutes(w.end);
    if (Number.isNaN(s) || Number.isNaN(e) || s === e) continue;
    for (const d of w.days) {
      if (d < 1 || d > 7) continue;
      if (e > s) byDay[d]!.push([s, e]);
      else {
        byDay[d]!.push([s, 1440]);
        if (e > 0) byDay[(d % 7) + 1]!.push([0, e]);
      }
    }
  }
  return byDay;
}

function weekView(ws: Window[], tz: string): HTMLElement {
  const ranges = openRanges(ws);
  const now = nowIn(tz);
  const rows = DAYS.map((d, i) => {
    const track = h("div", { class: "week-track" });
    for (const [s, e] of ranges[i + 1]!) {
      const seg = h("span", { class: "week-open", title: `${d} ${fmt(s)}–${fmt(e)}` });
      seg.style.left = `${(s / 1440) * 100}%`;
      seg.style.width = `${((e - s) / 1440) * 100}%`;
      track.appendChild(seg);
    }
    if (now && now.day === i + 1) {
      const mark = h("span", { class: "week-now", title: `now: ${now.text}` });
      mark.style.left = `${(now.minute / 1440) * 100}%`;
      track.appendChild(mark);
    }
    return h("div", { class: "week-row" }, h("span", { class: "week-day" }, d), track);
  });
  const open = now ? ranges[now.day]!.some(([s, e]) => now.minute >= s && now.minute < e) : false;
  return h("div", { class: "week", role: "img", "aria-label": `Open ${windowsSummary(ws)} (${tz})` },
    h("div", { class: "week-row week-hours", "aria-hidden": "true" }, h("span", { class: "week-day" }), h("div", { class: "week-scale" }, ["00", "06", "12", "18", "24"].map((x) => h("span", null, x)))),
    rows,
    h("p", { class: "week-status" }, now ? ["Now in ", h("strong", null, tz), `: ${now.text} — `, open ? badge("open", "ok") : badge("closed", "off")] : badge("unknown timezone", "deny")));
}
const fmt = (m: number) => `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;

export function schedulesPage(main: HTMLElement, r: Route): void {
  if (r.path[1]) return editor(main, r.path[1] === "new" ? null : r.path[1]);
  const search = h("input", { id: "sched-q", type: "search", placeholder: "Schedule name starts with…", autocomplete: "off" });
  const box = h("div");
  const p = pager<Schedule>(
    (cursor) => api<Page<Schedule>>("GET", "/api/v1/admin/schedules" + qs({ q: search.value.trim(), limit: 25, cursor })),
    (items) => fill(box, table(["Schedule", "Timezone", "Open"], items.map((s) => {
      rememberName(s.id, s.name);
      return [h("a", { href: `#/schedules/${encodeURIComponent(s.id)}` }, s.name), s.timezone, windowsSummary(s.windows)];
    }), { empty: "No schedules.", class: "schedules" })),
    "Schedule pages");
  search.addEventListener("input", debounce(() => void p.reload(), 200));
  fill(main,
    h("div", { class: "page-head" }, h("h1", null, "Schedules"),
      h("p", { class: "muted" }, "Weekly windows in the schedule's own timezone (daylight-saving changes included). A grant with a schedule counts only while a window is open.")),
    section("Schedules",
      h("div", { class: "toolbar" }, h("div", { class: "field inline grow" }, h("label", { htmlFor: "sched-q" }, "Search"), search), h("a", { class: "btn btn-primary", href: "#/schedules/new" }, "New schedule")),
      box, p.el));
  void p.reload();
}

function editor(main: HTMLElement, id: string | null): void {
  fill(main, h("div", { class: "page-head" }, h("h1", null, id ? "Schedule" : "New schedule"), h("p", { class: "muted" }, id ? "Loading…" : "")));
  const load = id ? api<Schedule>("GET", `/api/v1/admin/schedules/${encodeURIComponent(id)}`) : Promise.resolve(null);
  load.then((s) => render(s), (e) => fill(main, h("div", { class: "page-head" }, h("h1", null, "Schedule"), h("p", { class: "form-error", role: "alert" }, e instanceof ApiFailure ? humanMessage(e) : String(e)))));

  function render(s: Schedule | null): void {
    const browserTz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    const name = input("name", { value: s?.name ?? "", required: true });
    const tzList = uid("tzs");
    const tz = input("timezone", { value: s?.timezone ?? browserTz, list: tzList, spellcheck: "false" });
    const zones: string[] = (Intl as any).supportedValuesOf?.("timeZone") ?? [];
    const datalist = h("datalist", { id: tzList }, zones.map((z) => h("option", { value: z })));
    const windows: Window[] = (s?.windows ?? []).map((w) => ({ days: [...w.days], start: w.start, end: w.end }));
    const rowsBox = h("div", { class: "windows" });
    const preview = h("div");

    const form = new Form({
      label: id ? "Edit schedule" : "New schedule", submit: id ? "Save schedule" : "Create schedule",
      action: async (f) => {
        for (let i = 0; i < windows.length; i++) {
          if (windows[i]!.days.length === 0) return void f.fieldError(`windows[${i}].days`, "Pick at least one day");
        }
        const body = { name: name.value.trim(), timezone: tz.value.trim(), windows };
        const res = s
          ? await api<Schedule & { revision: number }>("PATCH", `/api/v1/admin/schedules/${encodeURIComponent(s.id)}`, body)
          : await api<Schedule & { revision: number }>("POST", "/api/v1/admin/schedules", body);
        toast(`Schedule ${res.name} saved (revision ${res.revision}).`);
        if (!s) location.hash = `#/schedules/${encodeURIComponent(res.id)}`;
        else {
          s.name = res.name;
          s.timezone = res.timezone;
          s.windows = res.windows;
        }
      },
      secondary: s ? h("button", { type: "button", class: "btn btn-danger", onclick: () => void del() }, "Delete schedule") : null,
    });
    const del = async () => {
      const ok = await confirmDialog({ title: `Delete ${s!.name}?`, body: h("p", null, "A schedule still used by a grant cannot be deleted; the service will say so."), confirm: "Delete", danger: true });
      if (!ok) return;
      try {
        const res = await api<{ revision: number }>("DELETE", `/api/v1/admin/schedules/${encodeURIComponent(s!.id)}`);
        toast(`Deleted (revision ${res.revision}).`);
        location.hash = "#/schedules";
      } catch (e) {
        form.showError(e);
      }
    };

    const refreshPreview = () => fill(preview, weekView(windows, tz.value.trim()));
    const windowFields: Field[][] = [];
    const renderRows = () => {
      windowFields.length = 0;
      fill(rowsBox, windows.length ? windows.map((w, i) => {
        const dayBoxes = DAYS.map((d, di) => {
          const cid = uid("day");
          const cb = h("input", { type: "checkbox", id: cid, checked: w.days.includes(di + 1) });
          cb.addEventListener("change", () => {
            w.days = cb.checked ? [...new Set([...w.days, di + 1])].sort() : w.days.filter((x) => x !== di + 1);
            refreshPreview();
          });
          return h("span", { class: "day-toggle" }, cb, h("label", { htmlFor: cid, title: DAY_NAMES[di] }, d));
        });
        const daysError = h("p", { class: "field-error", hidden: true });
        const days = h("div", { class: "day-toggles", role: "group", "aria-label": `Window ${i + 1} days` }, dayBoxes);
        const daysField: Field = { el: h("div", { class: "field", dataset: { field: `windows[${i}].days` } }, h("span", { class: "label" }, "Days"), days, daysError), control: days, name: `windows[${i}].days`, error: daysError };
        const start = input(`windows[${i}].start`, { value: w.start, placeholder: "HH:MM", inputmode: "numeric", class: "time", maxlength: 5 });
        const end = input(`windows[${i}].end`, { value: w.end, placeholder: "HH:MM", inputmode: "numeric", class: "time", maxlength: 5 });
        start.addEventListener("input", () => { w.start = start.value.trim(); refreshPreview(); });
        end.addEventListener("input", () => { w.end = end.value.trim(); refreshPreview(); });
        const fStart = field("Opens", start), fEnd = field("Closes", end, { hint: "Earlier than opening = past midnight; 24:00 = end of day." });
        const rm = h("button", { type: "button", class: "btn btn-small", "aria-label": `Remove window ${i + 1}` }, "Remove");
        rm.addEventListener("click", () => { windows.splice(i, 1); renderRows(); });
        const fs = h("fieldset", { class: "window-row" }, h("legend", null, `Window ${i + 1}`), daysField.el, h("div", { class: "field-row" }, fStart.el, fEnd.el), rm);
        const wf: Field = { el: fs, control: fs, name: `windows[${i}]`, error: h("p") };
        for (const f of [daysField, fStart, fEnd, wf]) form.register(f);
        return fs;
      }) : h("p", { class: "muted" }, "No windows: a grant with this schedule never opens."));
      refreshPreview();
    };
    const preset = (label: string, w: Window) => h("button", { type: "button", class: "btn btn-small", onclick: () => { windows.push({ ...w, days: [...w.days] }); renderRows(); } }, label);
    tz.addEventListener("input", debounce(refreshPreview, 150));
    renderRows();
    const timer = setInterval(refreshPreview, 30_000);
    window.addEventListener("hashchange", () => clearInterval(timer), { once: true });

    const windowsField = form.register({ el: h("div"), control: rowsBox, name: "windows", error: h("p", { class: "field-error", hidden: true }) });
    form.add(field("Name", name), field("Timezone", tz, { hint: "IANA name, e.g. Europe/Berlin; windows are in this timezone's local time." }), datalist,
      h("fieldset", { class: "fieldset" }, h("legend", null, "Weekly windows"), rowsBox, windowsField.error,
        h("div", { class: "row-actions" },
          preset("+ Add window", { days: [1, 2, 3, 4, 5], start: "08:00", end: "18:00" }),
          preset("+ Weekends all day", { days: [6, 7], start: "00:00", end: "24:00" }),
          preset("+ Night shift", { days: [1, 2, 3, 4, 5], start: "22:00", end: "06:00" }))));

    fill(main,
      h("div", { class: "page-head" },
        h("p", { class: "crumbs" }, h("a", { href: "#/schedules" }, "Schedules"), " / "),
        h("h1", null, s ? s.name : "New schedule")),
      h("div", { class: "grid-2" },
        section("Schedule", form.el),
        section("The week in its timezone", preview)));
  }
}
