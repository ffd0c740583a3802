// An access event as a line of Postgres' COPY text format: what the journal records hold and what
// the shipper sends. The verify path builds its line straight from the decision (headOf +
// NO_EXTRA); stateful decisions and tools go through lineOf.

export interface AccessEvent {
  id: string;
  at: number;
  gateId: string;
  userId: string | null;
  credentialId: string | null;
  /** Device credentials also advance their device's last_seen_at, in the same batch. */
  isDevice: boolean;
  allow: boolean;
  reason: string;
  revision: number;
  /** Rules with memory (src/state/): the zone, the presence move, flags, the two-person peer. */
  zoneId?: string | null;
  direction?: "in" | "out" | null;
  flags?: string[] | null;
  peerEventId?: string | null;
  peerUserId?: string | null;
}

/** What a stateful decision adds to its event (its id was made before the decision: a pair names it). */
export interface EventExtra {
  id: string;
  zoneId: string | null;
  direction: "in" | "out" | null;
  flags: string[] | null;
  peerEventId: string | null;
  peerUserId: string | null;
}

/** COPY text format: the gate id is the one client-supplied field; escape what COPY treats specially. */
function copyText(v: string): string {
  if (!/[\\\t\n\r\0]/.test(v)) return v;
  return v.replace(/[\\\t\n\r\0]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : c === "\r" ? "\\r" : "\uFFFD"));
}

/** ISO time with the whole-second prefix cached: events come in bursts within the same second. */
let isoSecond = -1;
let isoPrefix = "";
function isoTime(ms: number): string {
  const sec = Math.floor(ms / 1000);
  if (sec !== isoSecond) {
    isoSecond = sec;
    isoPrefix = new Date(sec * 1000).toISOString().slice(0, 20); // "2026-11-22T12:00:01."
  }
  const frac = ms - sec * 1000;
  return isoPrefix + (frac < 10 ? "00" : frac < 100 ? "0" : "") + frac + "Z";
}

/** The columns of an event's COPY line, in order. */
export const COLUMNS = "id, at, gate_id, user_id, credential_id, allow, reason, revision, zone_id, direction, flags, peer_event_id, peer_user_id";

/** An event's first eight COPY columns (tab-separated, no trailing tab): what every event has. */
export const headOf = (id: string, at: number, gateId: string, userId: string | null, credentialId: string | null, allow: boolean, reason: string, revision: number) =>
  `${id}\t${isoTime(at)}\t${copyText(gateId)}\t${userId ?? "\\N"}\t${credentialId ?? "\\N"}\t${allow ? "t" : "f"}\t${reason}\t${revision}`;

/** The last five columns of an event without state (zone, direction, flags, peer event, peer user). */
export const NO_EXTRA = "\t\\N\t\\N\t\\N\t\\N\t\\N\n";

/** One event as a line of COPY text: the journal record's payload and what COPY is sent. */
export const lineOf = (e: AccessEvent) =>
  headOf(e.id, e.at, e.gateId, e.userId, e.credentialId, e.allow, e.reason, e.revision) +
  `\t${e.zoneId ?? "\\N"}\t${e.direction ?? "\\N"}\t${e.flags ? `{${e.flags.join(",")}}` : "\\N"}\t${e.peerEventId ?? "\\N"}\t${e.peerUserId ?? "\\N"}\n`;
