// Text Postgres can hold exactly as sent. A JSON escape can spell a lone UTF-16 surrogate
// ("\ud800"), which no UTF-8 text holds: postgres.js sends it as U+FFFD, so the value stored would
// differ from the one sent, and two values sent could collide into one. Neutral: the HTTP body
// guard and the bulk import's validator both refuse such strings with these words, and the
// openway import cuts long names with clip() so it never makes one.

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
