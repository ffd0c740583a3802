-- Rules with memory: direction and presence, anti-passback, occupancy, two-person, first person
-- in, visitors with escort, card + PIN. The settings live here (and reach every node through the
-- change log like any column of these tables); the state itself (who is inside, pending pairs)
-- lives in Redis, and its history in access_events.

alter table zones
  -- The enclosing zone: an entry into a zone is an entry into every zone around it, an exit from a
  -- zone an exit from every zone inside it. Presence only: grants still target a gate's own zone.
  add column parent_id text references zones(id) on delete set null,
  add column anti_passback text not null default 'off' check (anti_passback in ('off', 'soft', 'hard')),
  -- A presence (or an exit) older than this no longer counts against the next pass; null: never resets.
  add column anti_passback_reset_ms bigint check (anti_passback_reset_ms between 1000 and 31536000000),
  add column max_occupancy integer check (max_occupancy between 1 and 10000000),
  -- Redis unreachable: 'open' decides without the stateful rules (the event is flagged), 'closed'
  -- refuses with state_unavailable.
  add column state_failure text not null default 'closed' check (state_failure in ('open', 'closed')),
  -- First person in: during the schedule, the zone opens for its grants only after a member of
  -- the group entered on the zone's local date (the schedule's timezone).
  add column supervisor_group_id text references groups(id) on delete restrict,
  add column supervisor_schedule_id text references schedules(id) on delete restrict,
  add column requires_escort boolean not null default false,
  add column escort_window_s integer not null default 60 check (escort_window_s between 1 and 3600),
  add constraint zones_parent_check check (parent_id is null or parent_id <> id),
  add constraint zones_supervisor_check check ((supervisor_group_id is null) = (supervisor_schedule_id is null));
create index zones_parent_idx on zones (parent_id) where parent_id is not null;

alter table gates
  -- Relative to the gate's zone: 'in' enters it, 'out' leaves it, 'both' moves no one (a door
  -- inside the zone, or a reader that cannot tell).
  add column direction text not null default 'both' check (direction in ('in', 'out', 'both')),
  add column two_person_window_ms integer check (two_person_window_ms between 1000 and 600000),
  add column requires_pin boolean not null default false,
  add column requires_escort boolean not null default false,
  add column escort_window_s integer not null default 60 check (escort_window_s between 1 and 3600);

alter table credentials
  -- 'hs256$<salt: 16 bytes hex>$<HMAC-SHA256(salt, pin): hex>' (see src/state/pin.ts for why not argon2).
  add column pin_hash text check (pin_hash ~ '^hs256\$[0-9a-f]{32}\$[0-9a-f]{64}$'),
  -- A visitor credential: issued for a host, and only within a validity window.
  add column host_user_id text references users(id) on delete cascade,
  add constraint credentials_visitor_check check (host_user_id is null or (expires_at is not null and host_user_id <> user_id));
create index credentials_host_idx on credentials (host_user_id) where host_user_id is not null;

alter table access_events
  -- Set when the decision moved presence: the gate's zone and 'in' or 'out'. Presence is rebuilt
  -- from these rows (and the audit log's forgive rows) when Redis comes back empty.
  add column zone_id text,
  add column direction text,
  -- e.g. anti_passback_soft, state_failure_open, supervisor_in
  add column flags text[],
  -- Two-person rule: the other decision of the pair, and its user.
  add column peer_event_id uuid,
  add column peer_user_id text;
create index access_events_presence_idx on access_events (at, id) where direction is not null;
