// The serving processes: every worker of every instance, with the revision it applied, how far
// behind the head that is, its data age and its last heartbeat; gone nodes (silent past
// NODE_TIMEOUT) are what an admin write stops waiting for. Refreshed every two seconds.
import { api, ApiFailure } from "../api";
import { fill, fmtTime, h } from "../dom";
import type { Route } from "../route";
import { humanMessage, section, table } from "../ui";
import type { NodeInfo } from "../../wire";

interface Nodes { head_revision: number; node_timeout_ms: number; self: string; items: NodeInfo[] }

const secs = (ms: number | null) => (ms === null ? "—" : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);

export function nodesPage(main: HTMLElement, _r: Route): () => void {
  const box = h("div");
  const head = h("p", { class: "muted" });
  const err = h("p", { class: "form-error", role: "alert", hidden: true });
  const load = async () => {
    try {
      const n = await api<Nodes>("GET", "/api/v1/admin/nodes");
      err.hidden = true;
      const live = n.items.filter((x) => x.state === "live").length;
      fill(head, `Head revision ${n.head_revision}. ${live} live of ${n.items.length}; a node silent for more than ${secs(n.node_timeout_ms)} is gone and writes stop waiting for it.`);
      fill(box, table(["Node", "State", "Applied revision", "Lag", "Data age", "Last heartbeat", "Started", "Version"], n.items.map((x) => [
        h("span", null, h("code", null, x.id), x.id === n.self ? h("span", { class: "muted small" }, " (this console's)") : null),
        h("span", { class: `state-${x.state}` }, x.state),
        x.applied_revision, x.lag ? `${x.lag} behind` : "—", secs(x.data_age_ms),
        h("span", null, h("time", { datetime: x.heartbeat_at }, fmtTime(x.heartbeat_at)), h("span", { class: "muted small" }, ` (${secs(x.heartbeat_age_ms)} ago)`)),
        h("time", { datetime: x.started_at }, fmtTime(x.started_at)), x.version,
      ]), { empty: "No node has registered.", class: "nodes" }));
    } catch (e) {
      err.textContent = e instanceof ApiFailure ? humanMessage(e) : String(e);
      err.hidden = false;
    }
  };
  fill(main,
    h("div", { class: "page-head" }, h("h1", null, "Nodes"), h("p", { class: "muted" }, "Every process that answers verifies. An admin write answers once every live node has applied it.")),
    section("Serving processes", head, err, box));
  void load();
  const t = setInterval(() => void load(), 2000);
  return () => clearInterval(t);
}
