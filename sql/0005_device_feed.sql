-- A device's revocation changes how its credential is refused (DEVICE_INACTIVE for old clients),
-- so it must reach the index like any other change. Row-level and only on revoked_at: the
-- batched last_seen_at updates must not create revisions.
create function pcl_log_device_revocation() returns trigger language plpgsql as $$
begin
  insert into change_log (revision, entity, op, key) values (pcl_tx_revision(), 'credential', 'update', new.credential_id);
  return null;
end $$;

create trigger devices_log_revocation after update of revoked_at on devices
  for each row when (old.revoked_at is distinct from new.revoked_at and new.credential_id is not null)
  execute function pcl_log_device_revocation();
