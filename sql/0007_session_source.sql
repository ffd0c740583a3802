-- A login session derived from another credential (an admin login is granted because the user
-- holds a live admin credential) records that credential, and lives only as long as it does:
-- the bearer lookup refuses the session once its source is revoked, expired, not yet valid or
-- without the admin scope, and this trigger revokes such sessions in the same transaction as the
-- change to their source, so the change feed takes them out of every index at once too.
alter table credentials
  add column source_credential_id text references credentials(id) on delete cascade;
create index credentials_source_idx on credentials (source_credential_id) where source_credential_id is not null;

create function pcl_end_derived_sessions() returns trigger language plpgsql as $$
begin
  -- Sessions are never sources, so this recurses at most once (and the nested statement finds
  -- no derived rows: its own sessions have none).
  if not exists (select 1 from new_rows n join credentials s on s.source_credential_id = n.id where s.revoked_at is null) then
    return null;
  end if;
  update credentials s
     set revoked_at = now(), updated_at = now()
    from new_rows n
   where s.source_credential_id = n.id and s.revoked_at is null
     and (n.revoked_at is not null or not ('admin' = any(n.scopes))
          or (n.valid_from is not null and n.valid_from > now())
          or (n.expires_at is not null and n.expires_at <= now()));
  -- A source that expires earlier takes its sessions' expiry with it.
  update credentials s
     set expires_at = n.expires_at, updated_at = now()
    from new_rows n
   where s.source_credential_id = n.id and s.revoked_at is null
     and n.expires_at is not null and (s.expires_at is null or s.expires_at > n.expires_at);
  return null;
end $$;

create trigger credentials_end_derived_sessions after update on credentials
  referencing new table as new_rows
  for each statement execute function pcl_end_derived_sessions();
