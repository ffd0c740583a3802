-- Nodes: every serving process (each worker of each host) registers here, heartbeats the revision
-- its index has applied and the last time it confirmed it had everything Postgres had, and marks
-- itself stopped on a clean stop. An admin write waits for every live node to acknowledge its
-- revision; a node silent for longer than NODE_TIMEOUT counts as gone. Clocks are Postgres' own
-- (now()), so hosts with skewed clocks agree on who is live.
create table nodes (
  id               text primary key,
  host             text not null,
  pid              integer not null,
  version          text not null,
  started_at       timestamptz not null default now(),
  heartbeat_at     timestamptz not null default now(),
  applied_revision bigint not null default 0,
  confirmed_at     timestamptz,
  stopped_at       timestamptz
);
create index nodes_live on nodes (heartbeat_at) where stopped_at is null;

-- A gate may bound how old the data deciding at it may be: on a node whose data is older
-- (Postgres unreachable, feed stuck) it refuses with stale_index instead of deciding.
alter table gates add column max_staleness_ms integer check (max_staleness_ms between 1000 and 86400000);
