-- Who changed what: written in the same transaction as the change it describes.
create table audit_log (
  id          bigserial primary key,
  at          timestamptz not null default now(),
  revision    bigint,
  actor       text,            -- credential id of the caller (null for the CLI and bootstrap)
  action      text not null,   -- create | update | delete | revoke | import | …
  entity      text not null,
  entity_id   text,
  before      jsonb,
  after       jsonb
);
create index audit_entity_idx on audit_log (entity, entity_id, id desc);
create index audit_actor_idx on audit_log (actor, id desc);
create index audit_at_idx on audit_log (at, id);

-- Every verify decision. Partitioned by day so retention drops whole partitions; the id is
-- made at decision time, so a retried batch insert never duplicates an event.
create table access_events (
  id            uuid        not null,
  at            timestamptz not null,
  gate_id       text        not null,
  user_id       text,
  credential_id text,
  allow         boolean     not null,
  reason        text        not null,
  revision      bigint      not null,
  primary key (at, id)
) partition by range (at);
create index access_events_gate_idx on access_events (gate_id, at desc, id desc);
create index access_events_user_idx on access_events (user_id, at desc, id desc);
-- Catches anything outside the daily partitions (clock skew, a missed maintenance run).
create table access_events_default partition of access_events default;

create function pcl_ensure_event_partitions(days_back int, days_ahead int) returns int
language plpgsql as $$
declare
  d date;
  made int := 0;
  name text;
begin
  for d in select generate_series(current_date - days_back, current_date + days_ahead, interval '1 day')::date loop
    name := 'access_events_' || to_char(d, 'YYYYMMDD');
    if to_regclass(name) is null then
      execute format('create table %I partition of access_events for values from (%L) to (%L)',
                     name, d::timestamptz at time zone 'UTC', (d + 1)::timestamptz at time zone 'UTC');
      made := made + 1;
    end if;
  end loop;
  return made;
end $$;

create function pcl_drop_event_partitions(retain_days int) returns int language plpgsql as $$
declare
  p record;
  dropped int := 0;
begin
  for p in select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
           where i.inhparent = 'access_events'::regclass
             and c.relname ~ '^access_events_\d{8}$'
             and to_date(substring(c.relname from '\d{8}$'), 'YYYYMMDD') < current_date - retain_days loop
    execute format('drop table %I', p.relname);
    dropped := dropped + 1;
  end loop;
  return dropped;
end $$;

select pcl_ensure_event_partitions(1, 7);
