// Live: verifies per second, allow/deny, top deny reasons, gate activity, the index revision and
// feed lag (GET /api/v1/admin/stats, polled every 2 s), and access events as they happen (the
// shared SSE stream).
import { api, ApiFailure, nameText } from "../api";
import { fill, fmtTime, h, svg } from "../dom";
import type { Route } from "../route";
import type { LiveEvent, Stats } from "../../wire";
import { hub } from "../state";
import { decisionBadge, humanMessage, modeBadge, section, table } from "../ui";

const POLL_MS = 2000;
const ROWS_MAX = 100;

export const REASON_TEXT: Record<string, string> = {
  granted: "granted",
  unknown_token: "unknown token",
  expired_token: "token expired",
  revoked_token: "token revoked",
  not_yet_valid: "token not yet valid",
  inactive_user: "user inactive",
  unknown_gate: "unknown gate",
  gate_disabled: "gate disabled",
  gate_locked: "gate locked",
  stale_index: "data too old (stale index)",
  no_grant: "no grant",
  denied: "a deny grant",
  outside_schedule: "outside schedule",
};

function kpi(label: string): { el: HTMLElement; value: HTMLElement; sub: HTMLElement } {
  const value = h("div", { class: "kpi-value" }, "…");
  const sub = h("div", { class: "kpi-sub" });
  return { el: h("div", { class: "kpi card" }, h("div", { class: "kpi-label" }, label), value, sub), value, sub };
}

const pct = (n: number, total: number) => (total ? `${Math.round((n / total) * 100)}%` : "—");

function chart(s: Stats): SVGElement {
  const W = 600, H = 150, pad = 22;
  const n = s.per_second.length;
  const max = Math.max(1, ...s.per_second.map((p) => p.allow + p.deny));
  const bw = (W - pad) / n;
  const y = (v: number) => ((H - pad) * v) / max;
  const bars = s.per_second.flatMap((p, i) => {
    const x = pad + i * bw;
    const ha = y(p.allow), hd = y(p.deny);
    const tip = `${fmtTime(p.t, false)}: ${p.allow} allowed, ${p.deny} denied`;
    return [
      p.allow ? svg("rect", { x: x + 0.5, y: H - pad - ha, width: Math.max(1, bw - 1), height: ha, class: "bar-allow" }, svg("title", null, tip)) : null,
      p.deny ? svg("rect", { x: x + 0.5, y: H - pad - ha - hd, width: Math.max(1, bw - 1), height: hd, class: "bar-deny" }, svg("title", null, tip)) : null,
    ];
  });
  const peak = Math.max(...s.per_second.map((p) => p.allow + p.deny));
  return svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": `Verifies per second over the last ${n} seconds: ${s.total} in all, peak ${peak} per second` },
    svg("line", { x1: pad, y1: H - pad, x2: W, y2: H - pad, class: "axis" }),
    svg("line", { x1: pad, y1: 2, x2: W, y2: 2, class: "grid" }),
    svg("text", { x: 0, y: 12, class: "axis-label" }, String(max)),
    svg("text", { x: 0, y: H - pad, class: "axis-label" }, "0"),
    svg("text", { x: pad, y: H - 6, class: "axis-label" }, `−${n} s`),
    svg("text", { x: W - 24, y: H - 6, class: "axis-label" }, "now"),
    bars);
}

export function livePage(main: HTMLElement, _r: Route): () => void {
  const kRate = kpi("Verifies / s"), kAllow = kpi("Allowed"), kDeny = kpi("Denied"), kRev = kpi("Index revision"), kGates = kpi("Gates");
  const chartBox = h("div", { class: "chart-box" }, h("p", { class: "muted" }, "Loading…"));
  const reasonsBox = h("div");
  const gatesBox = h("div");
  const statsError = h("p", { class: "form-error", role: "alert", hidden: true });
  const streamNote = h("p", { class: "muted small", hidden: true });

  // Live events
  const gateFilter = h("input", { id: "live-gate", type: "search", placeholder: "e.g. GATE_001", autocomplete: "off", spellcheck: "false" });
  const denyOnly = h("input", { id: "live-deny", type: "checkbox" });
  const pause = h("button", { type: "button", class: "btn btn-small", "aria-pressed": "false" }, "Pause");
  const pausedNote = h("span", { class: "muted", "aria-live": "polite" });
  const tbody = h("tbody", { id: "live-events" });
  const events = h("div", { class: "table-wrap events-wrap" },
    h("table", { class: "events" },
      h("caption", { class: "sr-only" }, "Access events, newest first"),
      h("thead", null, h("tr", null, ["Time", "Gate", "User", "Decision", "Reason", ""].map((x) => h("th", { scope: "col" }, x)))),
      tbody));
  let paused = false;
  let missed = 0;

  const matches = (e: LiveEvent) => {
    const g = gateFilter.value.trim().toLowerCase();
    return (!g || e.gate_id.toLowerCase().startsWith(g)) && (!denyOnly.checked || !e.allow);
  };
  const row = (e: LiveEvent, fresh: boolean) => {
    const at = e.at;
    const explain = `#/explain?${new URLSearchParams({ ...(e.user_id ? { user: e.user_id } : {}), gate: e.gate_id, at }).toString()}`;
    return h("tr", { class: fresh ? "fresh" : "", dataset: { id: e.id, reason: e.reason } },
      h("td", { class: "mono" }, h("time", { datetime: at }, fmtTime(at, false))),
      h("td", { class: "mono" }, e.gate_id),
      h("td", null, e.user_id ? nameText(e.user_id) : h("span", { class: "muted" }, "unknown")),
      h("td", null, decisionBadge(e.allow)),
      h("td", { class: "reason" }, h("code", null, e.reason)),
      h("td", null, e.user_id ? h("a", { href: explain, class: "small-link", "aria-label": `Explain ${e.reason} at ${e.gate_id}` }, "Explain") : null));
  };
  const emptyRow = () => h("tr", { class: "empty-row" }, h("td", { colspan: 6, class: "empty" }, "Waiting for access events…"));
  const renderAll = () => {
    const rows = hub.recent.filter(matches).slice(0, ROWS_MAX).map((e) => row(e, false));
    fill(tbody, rows.length ? rows : emptyRow());
  };
  // Rows are added in batches (a few a second), so a busy site costs the browser one small DOM
  // update per batch, not one per event; only the newest ROWS_MAX are ever drawn.
  let pending: LiveEvent[] = [];
  let flushTimer: ReturnType<typeof setTimeout> | null = null;
  const flush = () => {
    flushTimer = null;
    const batch = pending.slice(-ROWS_MAX).reverse(); // newest first
    pending = [];
    if (!batch.length) return;
    tbody.querySelector(".empty-row")?.remove();
    const frag = document.createDocumentFragment();
    for (const e of batch) frag.appendChild(row(e, true));
    tbody.prepend(frag);
    while (tbody.children.length > ROWS_MAX) tbody.lastElementChild!.remove();
  };
  const onEvent = (e: LiveEvent) => {
    if (paused) {
      missed++;
      pausedNote.textContent = `${missed} new while paused`;
      return;
    }
    if (!matches(e)) return;
    pending.push(e);
    if (pending.length > ROWS_MAX * 2) pending = pending.slice(-ROWS_MAX);
    flushTimer ??= setTimeout(flush, 150);
  };
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    pause.setAttribute("aria-pressed", String(paused));
    if (!paused) {
      missed = 0;
      pausedNote.textContent = "";
      renderAll();
    }
  });
  gateFilter.addEventListener("input", renderAll);
  denyOnly.addEventListener("change", renderAll);
  renderAll();
  const offEvent = hub.onEvent(onEvent);

  fill(main,
    h("div", { class: "page-head" },
      h("h1", null, "Live"),
      h("p", { class: "muted" }, "Counts cover the last 60 seconds on every process, refreshed every 2 seconds; times are this browser's local time.")),
    statsError,
    h("div", { class: "kpis" }, kRate.el, kAllow.el, kDeny.el, kRev.el, kGates.el),
    h("div", { class: "grid-2" },
      section("Verifies per second", chartBox, h("p", { class: "legend" }, h("span", { class: "swatch swatch-allow" }), "allowed ", h("span", { class: "swatch swatch-deny" }), "denied")),
      section("Top deny reasons", reasonsBox)),
    section("Access events as they happen",
      h("div", { class: "toolbar" },
        h("div", { class: "field inline" }, h("label", { htmlFor: "live-gate" }, "Gate starts with"), gateFilter),
        h("div", { class: "check" }, denyOnly, h("label", { htmlFor: "live-deny" }, "Denies only")),
        pause, pausedNote),
      streamNote,
      events),
    section("Gate activity (last 60 s)", gatesBox));

  let timer: ReturnType<typeof setTimeout> | null = null;
  let stopped = false;
  const poll = async () => {
    try {
      const s = await api<Stats>("GET", "/api/v1/admin/stats?window=60");
      if (stopped) return;
      statsError.hidden = true;
      const last10 = s.per_second.slice(-10).reduce((a, p) => a + p.allow + p.deny, 0) / 10;
      kRate.value.textContent = last10 >= 10 ? String(Math.round(last10)) : last10.toFixed(1);
      kRate.sub.textContent = `avg of the last 10 s · ${s.total} in 60 s`;
      kAllow.value.textContent = String(s.allow);
      kAllow.sub.textContent = `${pct(s.allow, s.total)} of verifies`;
      kDeny.value.textContent = String(s.deny);
      kDeny.sub.textContent = `${pct(s.deny, s.total)} of verifies`;
      kRev.value.textContent = String(s.index.revision);
      const lag = s.index.lag_ms;
      kRev.sub.textContent = !s.index.feed_connected ? "feed disconnected" : lag > 0 ? `feed lag ${lag} ms (head ${s.index.known_revision})` : "feed lag 0 ms · up to date";
      kRev.el.classList.toggle("kpi-warn", !s.index.feed_connected || lag > 1000);
      const locked = s.gate_modes.locked ?? 0, disabled = s.gate_modes.disabled ?? 0, normal = s.gate_modes.normal ?? 0;
      kGates.value.textContent = String(locked + disabled + normal);
      kGates.sub.textContent = `${locked} locked · ${disabled} disabled`;
      kGates.el.classList.toggle("kpi-warn", locked > 0);
      fill(chartBox, chart(s));
      streamNote.hidden = s.processes <= 1;
      streamNote.textContent = `The service runs ${s.processes} processes; this stream carries the decisions of the one serving it. The counts above cover all of them.`;
      const maxR = Math.max(1, ...s.deny_reasons.map((r) => r.count));
      fill(reasonsBox, s.deny_reasons.length
        ? h("ol", { class: "bars" }, s.deny_reasons.slice(0, 8).map((r) => {
          const bar = h("span", { class: "bar-fill" });
          bar.style.width = `${Math.max(2, (r.count / maxR) * 100)}%`;
          return h("li", null, h("span", { class: "bar-label" }, h("code", null, r.reason), " ", h("span", { class: "muted" }, REASON_TEXT[r.reason] ?? "")),
            h("span", { class: "bar-track" }, bar), h("span", { class: "bar-count" }, String(r.count)));
        }))
        : h("p", { class: "muted" }, "No denies in the last 60 seconds."));
      fill(gatesBox, table(["Gate", "Name", "Mode", "Allowed", "Denied", "Last"], s.gates.map((g) => [
        h("code", null, g.gate_id), g.name ?? h("span", { class: "muted" }, "unknown gate"), g.mode ? modeBadge(g.mode) : "—",
        String(g.allow), String(g.deny), fmtTime(g.last_at, false),
      ]), { empty: "No verifies in the last 60 seconds.", class: "gates-activity" }));
    } catch (e) {
      if (stopped) return;
      statsError.textContent = "Statistics unavailable: " + (e instanceof ApiFailure ? humanMessage(e) : String(e));
      statsError.hidden = false;
    } finally {
      if (!stopped) timer = setTimeout(poll, POLL_MS);
    }
  };
  void poll();

  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    if (flushTimer) clearTimeout(flushTimer);
    offEvent();
  };
}
