import type { Config } from "./config";
import type { Sql } from "./db/client";
import type { Metrics } from "./metrics";
import type { EventWriter } from "./events/event-writer";
import type { ChangeFeed } from "./feed/change-feed";
import type { Propagation } from "./nodes/propagation";
import type { NodeRegistry } from "./nodes/registry";
import type { RateLimits } from "./ratelimit/rate-limits";
import type { LoginThrottle } from "./ratelimit/login-throttle";
import type { StateService } from "./state/state-service";
import type { Verify } from "./verify/verify";

/** What the services and the transports (HTTP, compat) are built from; main.ts (and tests) assemble it. */
export interface Deps {
  config: Readonly<Config>;
  sql: Sql;
  feed: ChangeFeed;
  events: EventWriter;
  loginThrottle: LoginThrottle;
  /** Verify (gate, token) and login limiters, and their Redis state. */
  limits: RateLimits;
  /** This instance's metrics: its own registry, counters and scrape-time gauges. */
  metrics: Metrics;
  /** The rules with memory: their store (Redis, or this process), presence, rebuilds. */
  state: StateService;
  /** The one verify function (src/verify/verify.ts), shared by every transport. */
  verify: Verify;
  /** This process's row in `nodes`, and the last listing of all of them. */
  nodes: NodeRegistry;
  /** Waits for every live node to acknowledge a write's revision. */
  propagation: Propagation;
}
