-- A zone lock remembers which gates it locked, so the zone's unlock reopens only those: a gate an
-- operator locked on its own (before or during the zone lock) stays locked.
alter table gates add column zone_locked boolean not null default false;
