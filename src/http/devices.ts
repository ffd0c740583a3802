// A user's own devices: each is a credential that verifies as its user.
import { Elysia, t } from "elysia";
import { deleteMyDevice, listMyDevices, registerDevice } from "../admin/identity";
import { authenticate } from "./auth";
import type { Deps } from "../deps";
import { jsonParse } from "./body";
import { DeviceList, DeviceRegistered, ErrorBody, NoContent } from "./schemas";

export function deviceRoutes(deps: Deps) {
  const { sql } = deps;
  return new Elysia({ name: "devices", prefix: "/api/v1/devices", detail: { tags: ["devices"], security: [{ bearer: [] }] } })
    // derive runs before body validation: an anonymous caller gets 401 whatever it sent.
    .derive(async ({ headers }) => ({ caller: await authenticate(sql, headers.authorization, "user") }))
    .post("/register", async ({ caller, body, set }) => {
      const d = await registerDevice(sql, caller, body.name, body.platform);
      set.headers["x-revision"] = String(d.revision);
      set.status = 201;
      return { device_id: d.device_id, token: d.token, token_id: d.token_id, revision: d.revision };
    }, {
      parse: jsonParse(),
      body: t.Object({ name: t.String({ minLength: 1, maxLength: 150 }), platform: t.String({ minLength: 1, maxLength: 50 }) }, { additionalProperties: false, examples: [{ name: "Pixel 8", platform: "android" }] }),
      response: { 201: DeviceRegistered, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
      detail: { summary: "Register a device: its token verifies as the caller (shown once)" },
    })
    .get("/me", async ({ caller }) => {
      return { items: await listMyDevices(sql, caller.userId) };
    }, { response: { 200: DeviceList, 401: ErrorBody, 403: ErrorBody }, detail: { summary: "The caller's active devices, newest first" } })
    .delete("/:device_id", async ({ caller, params, set }) => {
      const revision = await deleteMyDevice(sql, caller, params.device_id);
      set.headers["x-revision"] = String(revision);
      set.status = 204;
    }, {
      params: t.Object({ device_id: t.String({ minLength: 1, maxLength: 64 }) }),
      response: { 204: NoContent, 401: ErrorBody, 404: ErrorBody },
      detail: { summary: "Delete one of the caller's devices; its credential is revoked at once" },
    });
}
