// Login and logout.
import { Elysia, t } from "elysia";
import { login, revokeOwnToken } from "../admin/identity";
import { authenticate } from "./auth";
import type { Deps } from "../deps";
import { sourceAddress } from "../request";
import { jsonParse } from "./body";
import { ErrorBody, LoginAnswer, NoContent } from "./schemas";

export function authRoutes(deps: Deps) {
  const { sql, config, loginThrottle } = deps;
  return new Elysia({ name: "auth-routes", prefix: "/api/v1/auth", detail: { tags: ["auth"] } })
    .post("/token", async ({ body, set, server, request }) => {
      const session = await login(sql, loginThrottle, config.sessionTtlMs, body.username, body.password, sourceAddress(server, request, config.trustProxy), body.scope);
      set.status = 201;
      return session;
    }, {
      parse: jsonParse(),
      body: t.Object({
        username: t.String({ minLength: 1, maxLength: 150 }),
        password: t.String({ minLength: 1, maxLength: 1024 }),
        scope: t.Optional(t.Union([t.Literal("user"), t.Literal("admin")], {
          description: "`user` (default) or `admin`: an admin session (scopes `[\"admin\", \"user\"]`), only for a user holding an active, non-session credential with the admin scope (else 403)",
        })),
      }, { additionalProperties: false, examples: [{ username: "alice", password: "correct horse battery staple" }, { username: "ops", password: "correct horse battery staple", scope: "admin" }] }),
      response: {
        201: LoginAnswer,
        400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 429: ErrorBody,
      },
      detail: {
        summary: "Log in: a session token with the user scope (same 401 for unknown user and wrong password)",
        description: "With `\"scope\": \"admin\"` (the admin console's sign-in) the session also carries the admin scope, provided the user holds an active admin credential that is not itself a session (an API token made by `bun run cli create-admin`, say); otherwise 403 `forbidden` with `details.field = \"scope\"`. The session records that credential as its source and lives no longer than it: revoking it, removing its admin scope, deleting it or its expiry ends the session at once (401 on every route, and no gate opens for it).",
      },
    })
    .delete("/token", async ({ headers, set }) => {
      // Any token a person holds (a login, an API token); not a card, PIN or device secret.
      const caller = await authenticate(sql, headers.authorization, ["user", "admin"]);
      const revision = await revokeOwnToken(sql, caller.credentialId);
      set.headers["x-revision"] = String(revision);
      set.status = 204;
    }, { response: { 204: NoContent, 401: ErrorBody, 403: ErrorBody }, detail: { summary: "Log out: revoke the caller's own token everywhere (a token with the user or admin scope; a card, PIN or device secret is 403)", security: [{ bearer: [] }] } });
}
