// Read-side admin routes: the audit log, access events, "explain", and names for ids.
import { Elysia, t } from "elysia";
import { listAudit } from "../../admin/audit";
import { actorsOf, namesOf } from "../../admin/names";
import { listEvents } from "../../events/events-query";
import { ApiError, invalid } from "../../errors";
import { explain } from "../../index/explain";
import type { ExplainAnswer, Explanation } from "../../wire";
import type { CredentialRec } from "../../index/types";
import { rulesFor } from "../../state/rules";
import { hashSecret } from "../../tokens";
import { adminAuth } from "./auth";
import type { Deps } from "../../deps";
import { dateTimeMs } from "../../dates";
import { jsonParse } from "../body";
import { AuditPage, DateTime, ErrorBody, EventPage, ExplainAnswer as ExplainSchema, ListQuery, parseLimit, QueryDate } from "../schemas";

const Names = t.Object({
  names: t.Record(t.String(), t.Object({ kind: t.String({ examples: ["user", "group", "zone", "schedule", "gate"] }), name: t.String() })),
  revision: t.Integer(),
}, { examples: [{ names: { g_0193a1b2c3d4e5f6a7b8c9d0e1f2: { kind: "group", name: "engineering" }, GATE_001: { kind: "gate", name: "HQ main door" } }, revision: 57 }] });

const Actors = t.Object({
  items: t.Array(t.Object({
    credential_id: t.String(), kind: t.String(), label: t.Union([t.String(), t.Null()]),
    user_id: t.String(), username: t.String(), display_name: t.Union([t.String(), t.Null()]),
  })),
}, { examples: [{ items: [{ credential_id: "c_0193a1b2c3d4e5f6a7b8c9d0e1f2", kind: "api", label: "ops laptop", user_id: "u_0193a1b2c3d4e5f6a7b8c9d0e1f2", username: "ops", display_name: null }] }] });

export function adminInsightRoutes(deps: Deps) {
  const { sql, feed } = deps;
  return new Elysia({ name: "admin-insight", prefix: "/api/v1/admin", detail: { tags: ["admin"], security: [{ bearer: [] }] } })
    .use(adminAuth(sql))
    .get("/audit", ({ query }) => listAudit(sql, query, parseLimit(query.limit), query.cursor), {
      query: t.Composite([ListQuery, t.Object({
        entity: t.Optional(t.String({ maxLength: 50 })),
        id: t.Optional(t.String({ maxLength: 200 })),
        actor: t.Optional(t.String({ maxLength: 64 })),
        from: t.Optional(QueryDate("RFC 3339, inclusive")),
        to: t.Optional(QueryDate("RFC 3339, exclusive")),
      })]),
      response: { 200: AuditPage, 400: ErrorBody },
      detail: { summary: "Who changed what, when, with before/after; newest first" },
    })
    .get("/events", ({ query }) => listEvents(sql, query, parseLimit(query.limit), query.cursor), {
      query: t.Composite([ListQuery, t.Object({
        gate_id: t.Optional(t.String({ maxLength: 64 })),
        user_id: t.Optional(t.String({ maxLength: 64 })),
        allow: t.Optional(t.String({ description: "true or false", maxLength: 5 })),
        from: t.Optional(QueryDate("RFC 3339, inclusive")),
        to: t.Optional(QueryDate("RFC 3339, exclusive")),
      })]),
      response: { 200: EventPage, 400: ErrorBody },
      detail: { summary: "Access events, newest first (written asynchronously in batches)" },
    })
    .post("/explain", async ({ body }) => {
      const at = body.at !== undefined ? dateTimeMs(body.at, "at") : Date.now();
      if ((body.token === undefined) === (body.user_id === undefined)) {
        throw new ApiError("invalid_request", "give exactly one of token, user_id", { field: "token" });
      }
      const ix = feed.current;
      let credential: CredentialRec | undefined;
      if (body.token !== undefined) {
        credential = ix.credentialsByHash.get(hashSecret(body.token));
        if (!credential) return { ...explain(ix, {}, body.gate_id, at), revision: ix.revision };
      } else if (!ix.users.has(body.user_id!)) throw invalid("user_id", "no such user");
      const out: Omit<ExplainAnswer, "revision"> = explain(ix, credential ? { credential } : { userId: body.user_id }, body.gate_id, at);
      // The stateful part (rules with memory), against the shared state as it is now.
      const rules = rulesFor(ix, body.gate_id);
      if (rules !== undefined && out.user_id !== undefined) {
        const stateful = await deps.state.explain(ix, rules, credential, out.user_id, at);
        out.stateful = stateful;
        if (out.allow && stateful.outcome !== "passes" && stateful.outcome !== "state_failure_open") {
          out.allow = false;
          out.reason = stateful.outcome as Explanation["reason"];
        }
      }
      return { ...out, revision: ix.revision };
    }, {
      parse: jsonParse(),
      body: t.Object({
        gate_id: t.String({ minLength: 1, maxLength: 64 }),
        token: t.Optional(t.String({ minLength: 1, maxLength: 1024 })),
        user_id: t.Optional(t.String({ minLength: 1, maxLength: 64 })),
        at: t.Optional(DateTime),
      }, {
        additionalProperties: false,
        examples: [{ gate_id: "GATE_001", token: "pcl_Jx2Q7rYb3n0VfWk1tHc9pL4sZa8DgEu6MyRoBiXqTvN" }, { gate_id: "GATE_001", user_id: "u_0193a1b2c3d4e5f6a7b8c9d0e1f2", at: "2026-01-05T08:30:00Z" }],
      }),
      response: { 200: ExplainSchema, 400: ErrorBody },
      detail: { summary: "The decision for a token or user at a gate and instant, with every grant, group path and schedule window behind it" },
    })
    .get("/names", ({ query }) => namesOf(feed.current, idList(query.ids)), {
      query: t.Object({ ids: t.Optional(t.String({ maxLength: 7000, description: "comma-separated ids of users, groups, zones, schedules or gates, at most 100" })) }),
      response: { 200: Names, 400: ErrorBody },
      detail: { summary: "Names for ids (usernames, group, zone, schedule and gate names), from the in-memory index; unknown ids are left out" },
    })
    .get("/actors", ({ query }) => actorsOf(sql, idList(query.ids)), {
      query: t.Object({ ids: t.Optional(t.String({ maxLength: 7000, description: "comma-separated credential ids (audit `actor` values), at most 100" })) }),
      response: { 200: Actors, 400: ErrorBody },
      detail: { summary: "Who audit actors are: credential id → kind, label and user" },
    });
}

/** A comma-separated `ids` parameter: distinct, trimmed, at most 100. */
function idList(raw: string | undefined): string[] {
  const ids = [...new Set((raw ?? "").split(",").map((s) => s.trim()).filter(Boolean))];
  if (ids.length > 100) throw invalid("ids", "at most 100 ids");
  return ids;
}
