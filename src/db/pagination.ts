// Keyset pagination: a page of items and the opaque cursor of the next one (the last item's sort
// key, base64url). A cursor the API did not issue is refused with 400, never a silent shift.
import { invalid } from "../errors";

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export const encodeCursor = (key: string) => Buffer.from(key, "utf8").toString("base64url");

export function decodeCursor(cursor: string | undefined): string | null {
  if (cursor === undefined || cursor === "") return null;
  const key = Buffer.from(cursor, "base64url").toString("utf8");
  // Round-trips exactly (so no invalid UTF-8) and holds no NUL, which Postgres text cannot.
  if (!key || key.length > 200 || key.includes("\u0000") || encodeCursor(key) !== cursor) throw invalid("cursor", "not a cursor this API issued");
  return key;
}
