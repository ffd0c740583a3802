// Text Postgres can hold exactly as sent. A JSON escape can spell a lone UTF-16 surrogate
// ("\ud800"), which no UTF-8 text holds: postgres.js sends it as U+FFFD, so the value stored would
// differ from the one sent, and two values sent could collide into one. Neutral: the HTTP body
// guard and the bulk import's validator both refuse such strings with these words.

export const LONE_SURROGATE = "must not hold a lone UTF-16 surrogate (a \\ud800–\\udfff escape without its pair): text cannot store it";
