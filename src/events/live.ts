// Live access events for watchers (the console's stream): a ring of recent events for resuming,
// fanned out to subscribers in batches every LIVE_BATCH_MS, off the verify path. The verify path
// only appends to the ring (one array store).
import type { AccessEvent } from "./event-writer";

export interface LiveFilter {
  gateId?: string;
  userId?: string;
  allow?: boolean;
}

export interface Subscriber {
  filter: LiveFilter;
  /** Receives matching events in order; returns false when the subscriber cannot keep up. */
  deliver(events: AccessEvent[]): boolean;
}

const LIVE_BATCH_MS = 100;

export function matches(f: LiveFilter, e: AccessEvent): boolean {
  return (f.gateId === undefined || f.gateId === e.gateId)
    && (f.userId === undefined || f.userId === e.userId)
    && (f.allow === undefined || f.allow === e.allow);
}

export class LiveEvents {
  private readonly ring: (AccessEvent | undefined)[];
  private head = 0; // total events ever published
  private delivered = 0; // events already fanned out
  private readonly subscribers = new Set<Subscriber>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(readonly capacity = 10_000) {
    this.ring = new Array(capacity);
  }

  publish(e: AccessEvent): void {
    this.ring[this.head++ % this.capacity] = e;
  }

  /** Events still in the ring after the one with `id`, or null when `id` has left the ring. */
  since(id: string): AccessEvent[] | null {
    const oldest = Math.max(0, this.head - this.capacity);
    for (let i = this.head - 1; i >= oldest; i--) {
      if (this.ring[i % this.capacity]!.id === id) {
        const out: AccessEvent[] = [];
        for (let j = i + 1; j < this.head; j++) out.push(this.ring[j % this.capacity]!);
        return out;
      }
    }
    return null;
  }

  subscribe(s: Subscriber): () => void {
    this.subscribers.add(s);
    if (this.timer === null) {
      this.delivered = this.head; // a new first subscriber starts from now
      this.timer = setInterval(() => this.fanOut(), LIVE_BATCH_MS);
    }
    return () => {
      this.subscribers.delete(s);
      if (this.subscribers.size === 0 && this.timer !== null) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  }

  get watchers(): number {
    return this.subscribers.size;
  }

  private fanOut(): void {
    const from = Math.max(this.delivered, this.head - this.capacity);
    if (from >= this.head) return;
    const batch: AccessEvent[] = [];
    for (let i = from; i < this.head; i++) batch.push(this.ring[i % this.capacity]!);
    this.delivered = this.head;
    for (const s of this.subscribers) {
      const mine = batch.filter((e) => matches(s.filter, e));
      if (mine.length && !s.deliver(mine)) this.subscribers.delete(s);
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.subscribers.clear();
  }
}
