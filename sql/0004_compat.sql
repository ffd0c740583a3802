-- Replacing openway_access (src/compat/): what the importer and the compatibility API need to keep
-- the Django service's integer ids and to find their own rows again on a re-import.

-- The Django primary keys of imported rows: a re-import updates the same rows (idempotent), and a
-- renamed user or group in Django stays the same row here.
alter table users add column openway_id bigint unique;
alter table groups add column openway_id bigint unique;
-- devices.number (bigserial) is the integer id the compatibility API answers; an imported device
-- keeps its Django id as its number whenever that number is free.
alter table devices add column openway_id bigint unique;
-- "abcd…wxyz" of the device's current token, for GET /api/v1/devices/me (the token itself is not
-- stored; the original service showed the same eight characters).
alter table devices add column token_preview text;
create index devices_android_idx on devices (user_id, android_device_id) where android_device_id is not null;

-- One allow grant per imported access_accesspermission row and subject kind ("perm:<id>:user",
-- "perm:<id>:group"): a re-import updates it, and removes the grants whose rows are gone or no
-- longer allow. Grants made through the admin API have none and are never touched by the import.
alter table grants add column openway_key text unique;

-- Credentials the compatibility layer made or imported:
--   'drf'    an imported Django REST framework token (authtoken_token.key),
--   'device' an imported device token (devices_device.auth_token),
--   'login'  the token POST /api/v1/auth/token answers on the compatibility port (derived with
--            HMAC from COMPAT_TOKEN_KEY and the credential id; see src/compat/token-key.ts).
alter table credentials add column openway_role text check (openway_role in ('drf', 'device', 'login'));
create index credentials_openway_login_idx on credentials (user_id) where openway_role = 'login' and revoked_at is null;
