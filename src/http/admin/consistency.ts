// GET /api/v1/admin/consistency: the index compared with SQL at one revision (src/admin/consistency.ts).
import { Elysia, t } from "elysia";
import { checkConsistency, feedSource, MAX_PAIRS } from "../../admin/consistency";
import { invalid } from "../../errors";
import { adminAuth } from "./auth";
import type { Deps } from "../../deps";
import { ErrorBody } from "../schemas";

const Side = t.Object({ allow: t.Boolean(), reason: t.String() });
const Report = t.Object({
  revision: t.Integer({ description: "The revision both sides were compared at" }),
  checked: t.Integer({ description: "(credential, gate) pairs compared" }),
  mode: t.String({ examples: ["all", "sample"] }),
  mismatches: t.Array(t.Object({
    credential_id: t.String(),
    gate_id: t.String(),
    index: t.Object({ allow: t.Boolean(), reason: t.String(), credential_id: t.Optional(t.Union([t.String(), t.Null()])) }),
    sql: Side,
  }), { description: "At most 1000; mismatch_count has the total" }),
  mismatch_count: t.Integer(),
  at: t.String({ description: "The instant both sides decided at" }),
  counts: t.Unknown({ description: "Credentials and gates on each side" }),
  by_reason: t.Record(t.String(), t.Integer(), { description: "The SQL side's decisions by reason" }),
  consistent: t.Boolean(),
  attempts: t.Integer(),
  ms: t.Integer(),
}, {
  examples: [{
    revision: 57, checked: 20, mode: "all", mismatches: [], mismatch_count: 0, at: "2026-01-05T08:30:00.000Z",
    counts: { index: { credentials: 4, gates: 5 }, sql: { credentials: 4, gates: 5 } }, by_reason: { granted: 6, no_grant: 14 },
    consistent: true, attempts: 1, ms: 12,
  }],
});

/** `sample`: absent, empty or 0 → every pair; else 1..MAX_PAIRS. */
function parseSample(raw: string | undefined): number {
  if (raw === undefined || raw === "") return 0;
  const n = /^\d{1,8}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 0 && n <= MAX_PAIRS)) throw invalid("sample", `must be an integer from 0 (every pair) to ${MAX_PAIRS}`);
  return n;
}

export function adminConsistencyRoutes(deps: Deps) {
  const { sql, feed } = deps;
  return new Elysia({ name: "admin-consistency", prefix: "/api/v1/admin", detail: { tags: ["admin"], security: [{ bearer: [] }] } })
    .use(adminAuth(sql))
    .get("/consistency", async ({ query, server, request }) => {
      const sample = parseSample(query.sample);
      // A check of millions of pairs may take longer than the server's idle timeout.
      server?.timeout(request, 0);
      return checkConsistency(sql, feedSource(feed), { sample });
    }, {
      query: t.Object({ sample: t.Optional(t.String({ maxLength: 20, description: `pairs to sample; absent or 0: every pair (at most ${MAX_PAIRS})` })) }),
      response: { 200: Report, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 503: ErrorBody },
      detail: {
        summary: "Compare the in-memory index with decisions computed straight from SQL, at one revision",
        description: "Every (credential, gate) pair, or a random sample of them, decided by SQL in one REPEATABLE READ snapshot and by the index at that snapshot's revision, at the same instant. 503 when the index cannot be caught at the snapshot's revision (busy writes or a lagging feed): try again.",
      },
    });
}
