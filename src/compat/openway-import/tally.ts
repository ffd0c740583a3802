// What the openway import reports per table: rows in Django, and what happened to them here.
import type { Counts } from "../../admin/import-sql";

export interface Tally extends Counts {
  source: number;
  removed: number;
}

export const tally = (source: number, inserted = 0, updated = 0, removed = 0): Tally => ({ source, inserted, updated, removed });

/** A counting row (inserted, updated, removed — any absent, any a bigint's text) → numbers. */
export const counted = (r: any): Omit<Tally, "source"> =>
  ({ inserted: Number(r?.inserted ?? 0), updated: Number(r?.updated ?? 0), removed: Number(r?.removed ?? 0) });
