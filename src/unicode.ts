// Text Postgres can hold exactly as sent. A JSON escape can spell a lone UTF-16 surrogate
// ("\ud800"), which no UTF-8 text holds: postgres.js sends it as U+FFFD, so the value stored would
// differ from the one sent, and two values sent could collide into one. Neutral: the HTTP body
// guard and the bulk import's validator both refuse such strings with these words, and the
// openway import cuts long names with clip() so it never makes one. Likewise bytes that are not
// UTF-8: decodeUtf8 refuses them (HTTP bodies, the CLI's import file) instead of reading U+FFFD.

export const NUL = "must not contain NUL characters";

export const LONE_SURROGATE = "must not hold a lone UTF-16 surrogate (a \\ud800–\\udfff escape without its pair): text cannot store it";

/**
 * `s` cut to at most `max` UTF-16 units (what the API's maxLength counts) without splitting a
 * surrogate pair: a cut between the two halves would leave a lone one, stored as U+FFFD.
 */
export function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  const c = s.charCodeAt(max - 1);
  return s.slice(0, c >= 0xd800 && c <= 0xdbff ? max - 1 : max);
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** UTF-8 bytes as text (a leading BOM skipped), or null when they are not UTF-8: a plain decode
 *  reads each such byte as U+FFFD, so "Müller" in Windows-1252 (Excel's CSV) would be stored as "M\uFFFDller". */
export function decodeUtf8(bytes: ArrayBuffer | Uint8Array): string | null {
  try {
    return UTF8.decode(bytes);
  } catch {
    return null;
  }
}

export const NOT_UTF8 = "not valid UTF-8 (save the file as UTF-8, e.g. Excel's \"CSV UTF-8\")";
