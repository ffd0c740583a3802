// Runs once per `bun test`: finds the Postgres the tests use — TEST_DATABASE_URL when set;
// otherwise 127.0.0.1:5432 when reachable; otherwise (or with TEST_DATABASE_URL=embedded) an
// embedded Postgres started once for the run. Each test file then makes its own database.
import postgres from "postgres";
import { afterAll } from "bun:test";
import { runningEmbedded, startEmbedded } from "../src/db/embedded";
import { type LogLevel, setLogLevel } from "../src/log";

async function reachable(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

const given = process.env.TEST_DATABASE_URL;
let adminUrl: string;
if (given && given !== "embedded") {
  adminUrl = given;
} else if (given !== "embedded" && (await reachable("postgres://postgres@127.0.0.1:5432/test"))) {
  adminUrl = "postgres://postgres@127.0.0.1:5432/test";
} else {
  // One left running by an interrupted run is used as it is; one started here stops after the run
  // (the library's own exit hook cannot wait for it, so it would outlive the run and block the next).
  const running = runningEmbedded("./.data/test", "test");
  if (running) {
    adminUrl = running.url;
  } else {
    const pg = await startEmbedded("./.data/test", Number(process.env.TEST_EMBEDDED_PORT ?? 54339), "test");
    afterAll(() => pg.stop());
    adminUrl = pg.url;
  }
}
process.env.PCL_TEST_ADMIN_URL = adminUrl;
process.env.LOG_LEVEL ??= "error";
// The logger read LOG_LEVEL when the imports above loaded it, before this line set it.
if (["debug", "info", "warn", "error"].includes(process.env.LOG_LEVEL)) setLogLevel(process.env.LOG_LEVEL as LogLevel);
