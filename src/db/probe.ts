// Is Postgres reachable? For /readyz: at most one probe a second, however often it is polled.
import type { Sql } from "./client";
import { withTimeout } from "../timeout";

export function dbProbe(sql: Sql): () => Promise<boolean> {
  let lastDbCheck = 0;
  let dbReachable = false;
  return async () => {
    if (Date.now() - lastDbCheck < 1000) return dbReachable;
    lastDbCheck = Date.now();
    try {
      await withTimeout(sql`select 1`.execute(), 1000, "readiness probe");
      dbReachable = true;
    } catch {
      dbReachable = false;
    }
    return dbReachable;
  };
}
