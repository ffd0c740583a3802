// The app's exported type gives a checked Eden client; this drives the running service through it.
import { treaty } from "@elysiajs/eden";
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { App } from "../../src/http/app";
import { startService, type Service } from "../../src/service";
import { hashSecret, newSecret } from "../../src/tokens";
import { createTestDb, testConfig, type TestDb } from "../setup";

let db: TestDb;
let service: Service;
const admin = newSecret();

beforeAll(async () => {
  db = await createTestDb();
  const [u] = await db.sql`insert into users (username) values ('eden-admin') returning id`;
  await db.sql`insert into credentials (user_id, kind, scopes, secret_hash) values (${u!.id}, 'api', ${["admin"]}, ${hashSecret(admin)})`;
  service = await startService(testConfig({ PORT: "0", HOST: "127.0.0.1" }), { databaseUrl: db.url, listen: true });
});
afterAll(async () => {
  await service.stop();
  await db.drop();
});

test("an Eden client creates a user, a gate, a grant and a card, then verifies over HTTP", async () => {
  const api = treaty<App>(`127.0.0.1:${service.app.server!.port}`, { headers: { authorization: `Bearer ${admin}` } });
  const user = await api.api.v1.admin.users.post({ username: "eden-user" });
  expect(user.status).toBe(201);
  const gate = await api.api.v1.admin.gates.post({ id: "EDEN_1", name: "Eden gate" });
  expect(gate.status).toBe(201);
  const userId = (user.data as any).id as string;
  await api.api.v1.admin.grants.post({ subject: { user_id: userId }, target: { gate_id: "EDEN_1" } });
  const card = await api.api.v1.admin.credentials.post({ user_id: userId, kind: "card" });
  const { secret, revision } = card.data as any;
  const v = await api.api.v1.access.verify.post({ gate_id: "EDEN_1", token: secret, min_revision: revision });
  expect(v.status).toBe(200);
  expect(v.data).toMatchObject({ allow: true, reason: "granted", user_id: userId });
  const ready = await api.readyz.get();
  expect(ready.data).toMatchObject({ status: "ready", feed: { connected: true } });
});
