-- Permission data. Ids are text: prefixed, time-ordered (so keyset pagination by id follows
-- creation order), except gates, whose id is the code the gate controller sends.
create function pcl_id(prefix text) returns text language sql volatile as $$
  select prefix || lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0')
                || substr(md5(random()::text || clock_timestamp()::text), 1, 16)
$$;

create table users (
  id            text primary key default pcl_id('u_'),
  username      text not null unique check (length(username) between 1 and 150),
  email         text,
  display_name  text,
  password_hash text,
  active        boolean not null default true,
  valid_from    timestamptz,
  valid_until   timestamptz,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  check (valid_from is null or valid_until is null or valid_from < valid_until)
);

create table groups (
  id         text primary key default pcl_id('g_'),
  name       text not null unique check (length(name) between 1 and 150),
  parent_id  text references groups(id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (parent_id is null or parent_id <> id)
);
create index groups_parent_idx on groups (parent_id);

create table memberships (
  group_id   text not null references groups(id) on delete cascade,
  user_id    text not null references users(id) on delete cascade,
  created_at timestamptz not null default now(),
  primary key (group_id, user_id)
);
create index memberships_user_idx on memberships (user_id);

create table zones (
  id         text primary key default pcl_id('z_'),
  name       text not null unique check (length(name) between 1 and 150),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table gates (
  id         text primary key check (id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
  name       text not null check (length(name) between 1 and 150),
  zone_id    text references zones(id) on delete set null,
  mode       text not null default 'normal' check (mode in ('normal', 'locked', 'disabled')),
  unlock_ms  integer not null default 800 check (unlock_ms between 0 and 600000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index gates_zone_idx on gates (zone_id);

create table schedules (
  id         text primary key default pcl_id('s_'),
  name       text not null unique check (length(name) between 1 and 150),
  timezone   text not null,
  windows    jsonb not null default '[]',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table grants (
  id               text primary key default pcl_id('gr_'),
  subject_user_id  text references users(id) on delete cascade,
  subject_group_id text references groups(id) on delete cascade,
  target_gate_id   text references gates(id) on delete cascade,
  target_zone_id   text references zones(id) on delete cascade,
  effect           text not null default 'allow' check (effect in ('allow', 'deny')),
  schedule_id      text references schedules(id) on delete restrict,
  valid_from       timestamptz,
  valid_until      timestamptz,
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  check (num_nonnulls(subject_user_id, subject_group_id) = 1),
  check (num_nonnulls(target_gate_id, target_zone_id) = 1),
  check (valid_from is null or valid_until is null or valid_from < valid_until)
);
create index grants_subject_user_idx on grants (subject_user_id) where subject_user_id is not null;
create index grants_subject_group_idx on grants (subject_group_id) where subject_group_id is not null;
create index grants_target_gate_idx on grants (target_gate_id) where target_gate_id is not null;
create index grants_target_zone_idx on grants (target_zone_id) where target_zone_id is not null;
create index grants_schedule_idx on grants (schedule_id) where schedule_id is not null;

-- Only the SHA-256 of a secret is kept; the plain secret is shown once at creation.
create table credentials (
  id          text primary key default pcl_id('c_'),
  user_id     text not null references users(id) on delete cascade,
  kind        text not null check (kind in ('card', 'pin', 'api', 'device', 'session')),
  label       text,
  scopes      text[] not null default '{}' check (scopes <@ array['admin', 'user']),
  secret_hash text not null unique check (secret_hash ~ '^[0-9a-f]{64}$'),
  expires_at  timestamptz,
  valid_from  timestamptz,
  revoked_at  timestamptz,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);
create index credentials_user_idx on credentials (user_id);

-- A device is a user's registered phone or reader; its credential verifies as the user.
create table devices (
  id                text primary key default pcl_id('d_'),
  number            bigserial unique,          -- integer id for clients that want one
  user_id           text not null references users(id) on delete cascade,
  credential_id     text references credentials(id) on delete set null,
  name              text not null,
  platform          text,
  android_device_id text,
  created_at        timestamptz not null default now(),
  last_seen_at      timestamptz,
  revoked_at        timestamptz
);
create index devices_user_idx on devices (user_id, created_at desc);
create index devices_credential_idx on devices (credential_id);
