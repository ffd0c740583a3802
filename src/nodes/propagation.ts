// ACKNOWLEDGED WRITES. Every node, each time its index moves forward, announces the revision on
// the acknowledgement channel (NOTIFY portcullis_acks, payload "<node id>:<revision>"). A process
// answering an admin write reads, after COMMIT, which nodes are live, and waits until each has
// acknowledged the write's revision (or its heartbeat row shows it), or PROPAGATION_TIMEOUT_MS.
// The write is committed either way; the answer says how far it got.
//
// Why the live set is read after COMMIT: a node registers only once its index is loaded and then
// catches up to the head before serving. A writer that read the live set without that node
// committed before the registration, so the node's catch-up already holds the write.
import type { Sql } from "../db/client";
import { retryOnDeadConnection } from "../db/retry";
import { log } from "../log";
import { withTimeout } from "../timeout";
import { liveNodes } from "./registry";

export const ACK_CHANNEL = "portcullis_acks";

export interface Propagated {
  /** Live nodes when the write committed. */
  nodes: number;
  /** Of those, how many applied the write's revision before the answer. */
  applied: number;
  /** Ids of the live nodes that had not (empty when complete). */
  pending: string[];
}

export const isComplete = (p: Propagated) => p.pending.length === 0 && p.applied === p.nodes;

interface Waiter {
  revision: number;
  pending: Set<string>;
  wake: () => void;
}

export interface PropagationOptions {
  nodeTimeoutMs: number;
  timeoutMs: number;
  /** How often a wait re-reads the heartbeat rows (acknowledgements lost with a listener connection). */
  pollMs?: number;
  /** Called at once with a committed write's revision: this process's own feed need not wait for the NOTIFY. */
  committed?: (revision: number) => void;
}

export class Propagation {
  /** Highest revision each node acknowledged. */
  private readonly acked = new Map<string, number>();
  private readonly waiters = new Set<Waiter>();
  partial = 0;
  complete = 0;

  constructor(private readonly sql: Sql, private readonly opts: PropagationOptions) {}

  /** A payload from the acknowledgement channel. */
  onNotify = (payload: string): void => {
    const at = payload.lastIndexOf(":");
    const revision = Number(payload.slice(at + 1));
    if (at > 0 && Number.isSafeInteger(revision)) this.ack(payload.slice(0, at), revision);
  };

  ack(node: string, revision: number): void {
    if ((this.acked.get(node) ?? 0) >= revision) return;
    this.acked.set(node, revision);
    for (const w of this.waiters) {
      if (revision >= w.revision && w.pending.delete(node) && w.pending.size === 0) w.wake();
    }
  }

  /** 0 turns acknowledgement off: writes answer at COMMIT, without a `propagation` (the bench's baseline). */
  get enabled(): boolean {
    return this.opts.timeoutMs > 0;
  }

  /** Waits until every live node applied `revision`, or the timeout; never throws. */
  async await(revision: number): Promise<Propagated> {
    const deadline = Date.now() + this.opts.timeoutMs;
    this.opts.committed?.(revision);
    let live: Array<{ id: string; applied_revision: number }>;
    try {
      live = await withTimeout(retryOnDeadConnection("node list", () => liveNodes(this.sql, this.opts.nodeTimeoutMs)), Math.max(500, this.opts.timeoutMs), "node list");
    } catch (e) {
      // Committed, but the nodes cannot be read now: nothing is known to have applied it.
      log.warn("propagation unknown: the node list could not be read", { revision, error: String(e) });
      this.partial++;
      return { nodes: 0, applied: 0, pending: [] };
    }
    const w: Waiter = { revision, pending: new Set(), wake: () => {} };
    for (const n of live) {
      if (Math.max(n.applied_revision, this.acked.get(n.id) ?? 0) < revision) w.pending.add(n.id);
    }
    if (w.pending.size) {
      const done = new Promise<void>((resolve) => (w.wake = resolve));
      this.waiters.add(w);
      try {
        const pollMs = this.opts.pollMs ?? 250;
        while (w.pending.size && Date.now() < deadline) {
          const left = deadline - Date.now();
          await Promise.race([done, Bun.sleep(Math.min(pollMs, left))]);
          if (w.pending.size && Date.now() < deadline) await this.poll(w);
        }
      } finally {
        this.waiters.delete(w);
      }
    }
    const pending = [...w.pending].sort();
    const p = { nodes: live.length, applied: live.length - pending.length, pending };
    if (pending.length) {
      this.partial++;
      log.warn("write answered before every node applied it", { revision, nodes: p.nodes, applied: p.applied, pending, timeout_ms: this.opts.timeoutMs });
    } else this.complete++;
    return p;
  }

  /** The heartbeat rows, for acknowledgements the channel did not bring; a node that stopped cleanly is no longer waited for. */
  private async poll(w: Waiter): Promise<void> {
    try {
      const rows = await withTimeout(this.sql`select id, applied_revision, stopped_at is not null as stopped from nodes where id = any(${[...w.pending]})`.execute(), 1000, "node poll");
      for (const r of rows) {
        if (r.stopped) w.pending.delete(r.id);
        else if (r.applied_revision >= w.revision) this.ack(r.id, r.applied_revision);
      }
    } catch {
      // Postgres away: keep waiting on the channel until the deadline.
    }
  }
}

/**
 * For a transport's response hook (native and compat): waits for the revision a write route put
 * in X-Revision and sets X-Propagation; null when the answer is no committed write.
 */
export async function awaitWrite(propagation: Propagation, set: { headers: Record<string, unknown>; status?: unknown }, method: string): Promise<Propagated | null> {
  const rev = set.headers["x-revision"];
  if (rev === undefined || method === "GET" || method === "HEAD" || !propagation.enabled) return null;
  const status = typeof set.status === "number" ? set.status : 200;
  if (status >= 300) return null;
  const p = await propagation.await(Number(rev));
  set.headers["x-propagation"] = isComplete(p) ? "complete" : "partial";
  return p;
}

/**
 * A node's side: announce each applied revision. Coalesced — while one NOTIFY is in flight only
 * the newest revision waits to follow — so a burst of writes costs one round trip at a time.
 */
export function announceApplied(sql: Sql, node: string, local: Propagation | null): (revision: number) => void {
  let sending = false;
  let next = 0;
  const send = async () => {
    sending = true;
    try {
      while (next) {
        const rev = next;
        next = 0;
        await withTimeout(sql`select pg_notify(${ACK_CHANNEL}, ${node + ":" + rev})`.execute(), 2000, "acknowledgement").catch(() => {
          // Postgres away: the heartbeat row reports the revision once it is back.
        });
      }
    } finally {
      sending = false;
    }
  };
  return (revision: number) => {
    local?.ack(node, revision); // this process's own writes need no round trip for its own node
    next = revision;
    if (!sending) void send();
  };
}
