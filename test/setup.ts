// Test helpers: a fresh database per test file, the service started in-process on it, a client
// that goes through the whole HTTP stack, and sleepUntil instead of sleeping.
import { afterAll } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { loadConfig, type Config } from "../src/config";
import { createSql, type Sql } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { startService, type Service } from "../src/service";
import { hashSecret, newSecret } from "../src/tokens";

const adminUrl = () => {
  const url = process.env.PCL_TEST_ADMIN_URL;
  if (!url) throw new Error("test/preload.ts did not run (bunfig.toml preloads it)");
  return url;
};

export interface TestDb {
  url: string;
  name: string;
  sql: Sql;
  drop(): Promise<void>;
}

/** Creates and migrates a database for one test file; dropped after the file's tests. */
export async function createTestDb(): Promise<TestDb> {
  const name = `pcl_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = postgres(adminUrl(), { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const u = new URL(adminUrl());
  u.pathname = "/" + name;
  const url = u.toString();
  const sql = createSql(url, { max: 4 });
  await migrate(sql);
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    await sql.end({ timeout: 1 }).catch(() => {});
    await admin.unsafe(`drop database if exists ${name} with (force)`).catch(() => {});
    await admin.end({ timeout: 1 });
  };
  return { url, name, sql, drop };
}

/** A config for an in-process service; each gets its own event journal directory. */
export function testConfig(env: Record<string, string> = {}): Readonly<Config> {
  const journal = mkdtempSync(join(tmpdir(), "pcl-journal-"));
  return loadConfig({ LOG_LEVEL: "error", WORKERS: "1", PORT: "0", EVENT_FLUSH_MS: "5", EVENT_JOURNAL_DIR: journal, ...env });
}

export interface TestService {
  db: TestDb;
  service: Service;
  adminToken: string;
  userToken: string;
  call(method: string, path: string, init?: { body?: unknown; token?: string | null; headers?: Record<string, string>; raw?: string }): Promise<Res>;
  stop(): Promise<void>;
}

export interface Res {
  status: number;
  body: any;
  headers: Headers;
}

/**
 * A fresh database with the service running on it. By default requests go in-process through
 * app.handle (the whole Elysia stack); with `http` the service listens on a port and requests go
 * over real HTTP — which also exercises routes Bun serves natively (the verify fast path).
 */
export async function startTestService(env: Record<string, string> = {}, opts: { http?: boolean } = {}): Promise<TestService> {
  const db = await createTestDb();
  const adminToken = newSecret();
  const userToken = newSecret();
  await db.sql.begin(async (tx) => {
    const [admin] = await tx`insert into users (username) values ('test-admin') returning id`;
    const [user] = await tx`insert into users (username) values ('test-user') returning id`;
    await tx`insert into credentials (user_id, kind, scopes, secret_hash) values
      (${admin!.id}, 'api', ${["admin"]}, ${hashSecret(adminToken)}),
      (${user!.id}, 'session', ${["user"]}, ${hashSecret(userToken)})`;
  });
  const service = await startService(testConfig(opts.http ? { HOST: "127.0.0.1", ...env } : env), { databaseUrl: db.url, listen: opts.http });
  const base = opts.http ? `http://127.0.0.1:${service.app.server!.port}` : "http://localhost";
  const call = caller(service, adminToken, opts.http ? base : null);
  const stop = async () => {
    await service.stop();
    await db.drop();
  };
  return { db, service, adminToken, userToken, call, stop };
}

export type Call = TestService["call"];

/**
 * A JSON client for a running service, authenticating as `token` unless a call says otherwise:
 * over real HTTP to `base`, or in-process through app.handle when `base` is null.
 */
export function caller(service: Service, token: string, base: string | null): Call {
  return async (method, path, init = {}) => {
    const headers: Record<string, string> = { ...init.headers };
    const bearer = init.token === undefined ? token : init.token;
    if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
    let body: string | undefined = init.raw;
    if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers["content-type"] ??= "application/json";
    }
    const req = new Request(`${base ?? "http://localhost"}${path}`, { method, headers, body });
    const res = base !== null ? await fetch(req) : await service.app.handle(req);
    const text = await res.text();
    let parsed: any = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {}
    return { status: res.status, body: parsed, headers: res.headers };
  };
}

/** Polls `cond` until it is truthy (returns it) or `timeoutMs` passes (throws, naming `what`). */
export async function sleepUntil<T>(cond: () => T | null | undefined | false | Promise<T | null | undefined | false>, what = "condition", timeoutMs = 5000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

/** Registers cleanup of a started test service after the file's tests. */
export function cleanupAfterAll(stop: () => Promise<void>): void {
  afterAll(stop);
}

/** A TCP port free right now (for a process the test spawns). */
export async function freePort(): Promise<number> {
  const s = Bun.serve({ port: 0, fetch: () => new Response() });
  const p = s.port!;
  s.stop(true);
  return p;
}

/** A user with a card that is granted `gateId` (created here); answers the card's secret. */
export async function seedGrantedCard(sql: Sql, username: string, gateId: string): Promise<string> {
  const card = newSecret();
  const [u] = await sql`insert into users (username) values (${username}) returning id`;
  await sql`insert into gates (id, name) values (${gateId}, ${gateId.toLowerCase()})`;
  await sql`insert into grants (subject_user_id, target_gate_id) values (${u!.id}, ${gateId})`;
  await sql`insert into credentials (user_id, kind, secret_hash) values (${u!.id}, 'card', ${hashSecret(card)})`;
  return card;
}
