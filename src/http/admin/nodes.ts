// GET /api/v1/admin/nodes: every serving process in the registry — live, gone (silent past
// NODE_TIMEOUT) or stopped — with the revision it applied, how far behind the head that is, its
// data age and its last heartbeat.
import { Elysia, t } from "elysia";
import { mapDbError } from "../../db/errors";
import { listNodes } from "../../nodes/registry";
import { authenticate } from "../auth";
import type { Deps } from "../../deps";
import { ErrorBody } from "../schemas";

const Node = t.Object({
  id: t.String(),
  host: t.String(),
  pid: t.Integer(),
  version: t.String(),
  started_at: t.String({ format: "date-time" }),
  heartbeat_at: t.String({ format: "date-time" }),
  heartbeat_age_ms: t.Integer(),
  applied_revision: t.Integer(),
  lag: t.Integer({ description: "revisions behind the head" }),
  data_age_ms: t.Union([t.Integer(), t.Null()], { description: "ms since the node last confirmed it had everything Postgres had, as of its last heartbeat plus the time since" }),
  state: t.Union([t.Literal("live"), t.Literal("gone"), t.Literal("stopped")]),
});

export function adminNodeRoutes(deps: Deps) {
  const { sql, config, nodes } = deps;
  return new Elysia({ name: "admin-nodes", prefix: "/api/v1/admin", detail: { tags: ["admin"], security: [{ bearer: [] }] } })
    .derive(async ({ headers }) => ({ caller: await authenticate(sql, headers.authorization, "admin") }))
    .get("/nodes", async () => {
      try {
        const l = await listNodes(sql, config.nodeTimeoutMs);
        return { head_revision: l.head, node_timeout_ms: config.nodeTimeoutMs, self: nodes.id, items: l.nodes };
      } catch (e) {
        throw mapDbError(e);
      }
    }, {
      response: {
        200: t.Object(
          { head_revision: t.Integer(), node_timeout_ms: t.Integer(), self: t.String({ description: "the node that answered" }), items: t.Array(Node) },
          { examples: [{ head_revision: 58, node_timeout_ms: 10000, self: "gate-host-1-4242-k3x9", items: [
            { id: "gate-host-1-4242-k3x9", host: "gate-host-1", pid: 4242, version: "0.1.0", started_at: "2026-01-05T08:00:00.000Z", heartbeat_at: "2026-01-05T08:30:00.000Z", heartbeat_age_ms: 310, applied_revision: 58, lag: 0, data_age_ms: 420, state: "live" },
            { id: "gate-host-2-977-p0qe", host: "gate-host-2", pid: 977, version: "0.1.0", started_at: "2026-01-05T07:58:00.000Z", heartbeat_at: "2026-01-05T08:29:41.000Z", heartbeat_age_ms: 19310, applied_revision: 51, lag: 7, data_age_ms: 19800, state: "gone" },
          ] }] },
        ),
        401: ErrorBody, 403: ErrorBody,
      },
      detail: {
        summary: "The serving processes: applied revision, lag, data age, last heartbeat, live or gone",
        description: "Every process that answers verifies (each worker of each host) registers, heartbeats every second and marks itself stopped on a clean stop. A node silent for longer than NODE_TIMEOUT is `gone`: admin writes stop waiting for it. Rows are kept for a day.",
      },
    });
}
