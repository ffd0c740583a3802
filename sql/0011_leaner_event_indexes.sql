-- Cheaper secondary indexes on access_events (bench/events-pg.ts, BENCHMARKS.md "Postgres CPU per
-- stored event"). Storing an event is mostly maintaining these two indexes — their inserts land at
-- random leaf pages (one insertion point per gate and per user), so what an entry costs is what the
-- pages it fills cost:
--   * no `id` in either key: 16 bytes less per entry (a third of it). The listings order by
--     (at desc, id desc) and page on (at, id): the index gives `at` order, an Incremental Sort puts
--     the few events of the same millisecond in id order, and the cursor's `(at, id) < (…)` bounds
--     the scan as `at <= …` — still an index scan (the EXPLAIN in bench/events-pg.ts, and
--     test/http/events.test.ts).
--   * the user index skips events without a user (unknown tokens, unknown gates): a listing by
--     user asks `user_id = …`, which implies `user_id is not null`, so it can always use it.
-- Rebuilds both indexes over every retained partition, once (a table of N events: about what
-- building two indexes of N entries takes; the shipper's COPYs wait meanwhile, events stay in the
-- journal).
drop index access_events_gate_idx;
create index access_events_gate_idx on access_events (gate_id, at desc);
drop index access_events_user_idx;
create index access_events_user_idx on access_events (user_id, at desc) where user_id is not null;
