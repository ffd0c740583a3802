// POST /api/v1/admin/import: bulk upsert of a JSON object of collections, or of one collection as
// CSV (`Content-Type: text/csv`, `?collection=`). Bodies up to 64 MiB. The work — validation
// with row/field errors, one transaction, set-based SQL — is src/admin/import.ts.
import { Elysia, t } from "elysia";
import { importData } from "../../admin/import";
import { csvToImport } from "../../admin/import-csv";
import { IMPORT_COLLECTIONS, IMPORT_MODELS } from "../../admin/import-fields";
import { ApiError } from "../../errors";
import { adminAuth, adminCaller } from "./auth";
import type { Deps } from "../../deps";
import { refuseRepeatedKey, utf8Text } from "../body";
import { ErrorBody, Propagation } from "../schemas";

export const IMPORT_MAX_BYTES = 64 * 1024 * 1024;

type Body = { kind: "json"; value: unknown } | { kind: "csv"; text: string };

/** For the docs only: the service checks bodies itself, so errors can name row numbers. The rows are the models it checks them with. */
const ImportBody = t.Object(
  Object.fromEntries(IMPORT_COLLECTIONS.map((c) => [c, t.Optional(t.Array(IMPORT_MODELS[c]))])),
  { additionalProperties: false },
);

const ImportAnswer = t.Object({
  counts: t.Record(t.String(), t.Integer(), { description: "rows in the import, per collection present" }),
  inserted: t.Record(t.String(), t.Integer(), { description: "of those, rows that did not exist before" }),
  updated: t.Record(t.String(), t.Integer(), { description: "of those, existing rows that changed (the rest were already equal)" }),
  revision: t.Integer({ description: "the revision that holds the import (unchanged when nothing changed)" }),
  propagation: t.Optional(Propagation),
}, { examples: [{ counts: { users: 2, groups: 2, gates: 1 }, inserted: { users: 1, groups: 0, gates: 1 }, updated: { users: 1, groups: 0, gates: 0 }, revision: 43 }] });

const EXAMPLE = {
  users: [{ username: "alice", email: "alice@example.com", display_name: "Alice" }, { username: "bob", active: false }],
  groups: [{ name: "backend", parent: "engineering" }, { name: "engineering" }],
  memberships: [{ group: "backend", username: "alice" }],
  zones: [{ name: "hq" }],
  gates: [{ id: "HQ_MAIN", name: "HQ main door", zone: "hq", mode: "normal" }],
  schedules: [{ name: "office-hours", timezone: "Europe/Berlin", windows: [{ days: [1, 2, 3, 4, 5], start: "07:00", end: "19:00" }] }],
  grants: [{ group: "engineering", zone: "hq", schedule: "office-hours" }, { username: "bob", gate: "HQ_MAIN", effect: "deny" }],
  credentials: [{ username: "alice", kind: "card", secret: "04A224B1C95E80", label: "badge" }],
};
const CSV_EXAMPLE = 'username,email,display_name,active\nalice,alice@example.com,"Smith, Alice",true\nbob,,"Bob ""the builder""",false\n';

/**
 * Reads the body after authenticating (a 64 MiB upload is not read for an anonymous caller),
 * bounded by IMPORT_MAX_BYTES; JSON is parsed here, CSV in the service (it knows the columns).
 */
function importBody(sql: Deps["sql"]) {
  return async ({ request }: { request: Request }): Promise<Body> => {
    await adminCaller(sql, request);
    const [mime, ...params] = (request.headers.get("content-type") ?? "").split(";");
    const type = mime!.trim().toLowerCase();
    if (type !== "application/json" && type !== "text/csv") {
      throw new ApiError("invalid_request", "content-type: expected application/json or text/csv", { field: "content-type" });
    }
    // The body is read as UTF-8 (utf8Text refuses other bytes); a file declared in another charset is refused by name.
    const charset = params.map((p) => /^\s*charset\s*=\s*"?([^";\s]*)"?\s*$/i.exec(p)?.[1]).find((c) => c !== undefined);
    if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
      throw new ApiError("invalid_request", `content-type: charset ${charset} is not supported (send UTF-8)`, { field: "content-type" });
    }
    const declared = request.headers.get("content-length");
    if (declared !== null && +declared > IMPORT_MAX_BYTES) throw tooLarge();
    const text = await utf8Text(request);
    if (text.length > IMPORT_MAX_BYTES || (text.length * 3 > IMPORT_MAX_BYTES && Buffer.byteLength(text) > IMPORT_MAX_BYTES)) throw tooLarge();
    if (type === "text/csv") return { kind: "csv", text };
    if (text.length === 0) throw new ApiError("invalid_request", "body: a JSON body is required", { field: "body" });
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new ApiError("invalid_request", "body: not valid JSON", { field: "body" });
    }
    refuseRepeatedKey(text); // a row naming a field twice would be imported with the last value
    return { kind: "json", value };
  };
}

const tooLarge = () => new ApiError("payload_too_large", `body is larger than ${IMPORT_MAX_BYTES} bytes`, { limit: IMPORT_MAX_BYTES });

export function adminImportRoutes(deps: Deps) {
  const { sql } = deps;
  return new Elysia({ name: "admin-import", prefix: "/api/v1/admin", detail: { tags: ["admin"], security: [{ bearer: [] }] } })
    // The parse hook authenticates first; the plugin reuses that answer instead of asking again.
    .use(adminAuth(sql))
    .post(
      "/import",
      async ({ body, query, set, caller }) => {
        const b = body as Body | undefined;
        if (b === undefined) throw new ApiError("invalid_request", "body: a JSON or CSV body is required", { field: "body" });
        let w;
        if (b.kind === "csv") {
          if (!query.collection) throw new ApiError("invalid_request", `collection: required for text/csv (one of ${IMPORT_COLLECTIONS.join(", ")})`, { field: "collection" });
          const { data, rowNumbers } = csvToImport(query.collection, b.text);
          w = await importData(sql, caller, data, rowNumbers);
        } else {
          if (query.collection !== undefined) throw new ApiError("invalid_request", "collection: only for text/csv bodies (a JSON body names its collections)", { field: "collection" });
          w = await importData(sql, caller, b.value);
        }
        set.headers["x-revision"] = String(w.revision);
        return { ...w.value, revision: w.revision };
      },
      {
        parse: importBody(sql),
        query: t.Object({ collection: t.Optional(t.String({ maxLength: 64, description: "with text/csv: " + IMPORT_COLLECTIONS.join(" | ") })) }),
        response: { 200: ImportAnswer, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 409: ErrorBody, 413: ErrorBody },
        detail: {
          summary: "Bulk upsert by natural keys, in one transaction",
          description: [
            "Rows refer to each other by natural keys: users by `username`, groups, zones and schedules by `name`, gates by `id`.",
            "A group's `parent`, a membership's `group`/`username`, a gate's `zone`, a grant's subject (`group` or `username`), target (`gate` or `zone`) and `schedule`, and a credential's `username` must name a row of this import or one already stored.",
            "",
            "Upsert: a key absent from a row leaves that column alone on an existing row (default on a new one); `null` clears it. Unchanged rows are not written, so re-importing a file is a no-op.",
            "Grants are identified by (subject, target, effect, schedule); their validity window is replaced. Credentials are identified by their secret (stored only as SHA-256); an import never moves one to another user (409) and never un-revokes one.",
            "",
            "One bad row rejects the whole import: 400 `invalid_request` with `details: {collection, row, field}` (row = 1-based position; for CSV the line in the file, header = line 1).",
            "",
            "CSV: `Content-Type: text/csv` and `?collection=<name>`; RFC 4180 quoting; a header row of that collection's keys; an empty cell is an absent key. `active` is true/false, `windows` a JSON cell, `scopes` names separated by spaces or commas.",
            "Bodies up to 64 MiB.",
          ].join("\n"),
          requestBody: {
            required: true,
            content: {
              "application/json": { schema: ImportBody, example: EXAMPLE },
              "text/csv": { schema: { type: "string" }, example: CSV_EXAMPLE },
            },
          } as any,
        },
      },
    );
}
