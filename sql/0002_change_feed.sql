-- Revisions and the change log (see DESIGN.md, "The change feed").
-- Every transaction that changes permission data takes the next revision from the single
-- counter row. The row lock serialises writers until commit, so revisions become visible in
-- exactly their numeric order: "everything after the revision I applied" never skips a
-- transaction that committed late.
create table pcl_revision (
  singleton boolean primary key default true check (singleton),
  n         bigint  not null
);
insert into pcl_revision values (true, 0);

create table change_log (
  revision   bigint not null,
  seq        bigserial,
  entity     text   not null,
  op         text   not null check (op in ('insert', 'update', 'delete')),
  key        text   not null,
  created_at timestamptz not null default now(),
  primary key (revision, seq)
);

-- Log rows at or below this revision may have been pruned: a node behind it must rebuild.
create table change_log_state (
  singleton      boolean primary key default true check (singleton),
  pruned_through bigint not null default 0
);
insert into change_log_state values (true, 0);

-- The revision of the current transaction, taken on first use. The NOTIFY payload is only the
-- revision (tiny; listeners read the log), and notifications are delivered at commit.
create function pcl_tx_revision() returns bigint language plpgsql as $$
declare
  r text := current_setting('pcl.revision', true);
begin
  if r is null or r = '' then
    update pcl_revision set n = n + 1 returning n::text into r;
    perform set_config('pcl.revision', r, true);
    perform pg_notify('portcullis_changes', r);
  end if;
  return r::bigint;
end $$;

-- Statement-level, with transition tables: a bulk import of 100k rows logs them in one insert.
create function pcl_log_changes() returns trigger language plpgsql as $$
declare
  key_col text := tg_argv[1];
  rows_name text := case when tg_op = 'DELETE' then 'old_rows' else 'new_rows' end;
  n bigint;
begin
  execute format('select count(*) from %I', rows_name) into n;
  if n = 0 then return null; end if;
  execute format(
    'insert into change_log (revision, entity, op, key) select $1, $2, $3, %I from %I',
    key_col, rows_name)
  using pcl_tx_revision(), tg_argv[0], lower(tg_op);
  return null;
end $$;

create function pcl_track(tbl text, entity text, key_col text) returns void language plpgsql as $$
begin
  execute format('create trigger %I after insert on %I referencing new table as new_rows
                  for each statement execute function pcl_log_changes(%L, %L)',
                 tbl || '_log_ins', tbl, entity, key_col);
  execute format('create trigger %I after update on %I referencing new table as new_rows
                  for each statement execute function pcl_log_changes(%L, %L)',
                 tbl || '_log_upd', tbl, entity, key_col);
  execute format('create trigger %I after delete on %I referencing old table as old_rows
                  for each statement execute function pcl_log_changes(%L, %L)',
                 tbl || '_log_del', tbl, entity, key_col);
end $$;

select pcl_track('users', 'user', 'id');
select pcl_track('groups', 'group', 'id');
select pcl_track('memberships', 'membership', 'user_id');
select pcl_track('zones', 'zone', 'id');
select pcl_track('gates', 'gate', 'id');
select pcl_track('schedules', 'schedule', 'id');
select pcl_track('grants', 'grant', 'id');
select pcl_track('credentials', 'credential', 'id');

create function pcl_prune_change_log(keep interval) returns bigint language plpgsql as $$
declare
  through bigint;
begin
  select max(revision) into through from change_log where created_at < now() - keep;
  if through is null then return 0; end if;
  -- Take the revision lock so no writer is mid-transaction below the prune point.
  perform n from pcl_revision for update;
  delete from change_log where revision <= through;
  update change_log_state set pruned_through = greatest(pruned_through, through);
  return through;
end $$;
