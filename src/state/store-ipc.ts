// Without REDIS_URL, the workers of a host (WORKERS > 1) use the state of their primary process
// over IPC instead of keeping their own: one state per host, and — through the primary's advisory
// lock (state-service.ts) — one per database. A call the primary does not answer within the state
// timeout fails like an unreachable Redis: the zone's state_failure decides.
import type { Plan, Reply } from "./plan";
import { type Present, type RebuiltState, type StateStore, StateUnavailable } from "./store";

type Op = "run" | "presence" | "occupancy" | "forgive";
type Call = { t: "pcl:state:call"; id: number; op: Op; args: unknown[] };
type Answer = { t: "pcl:state:answer"; id: number; value?: unknown; error?: string };

interface Parent {
  send(m: unknown): unknown;
  on(event: "message", l: (m: unknown) => void): unknown;
}
export interface IpcPeer {
  send(m: unknown): unknown;
}

export class IpcState implements StateStore {
  readonly kind = "ipc";
  readonly usable = true;
  private seq = 0;
  private readonly waiting = new Map<number, (a: Answer) => void>();

  constructor(private readonly parent: Parent, private readonly timeoutMs: number) {
    parent.on("message", (m: any) => {
      if (m?.t === "pcl:state:answer") this.waiting.get(m.id)?.(m as Answer);
    });
  }

  private call<T>(op: Op, args: unknown[]): Promise<T> {
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new StateUnavailable("the primary process did not answer"));
      }, this.timeoutMs);
      this.waiting.set(id, (a) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        if (a.error !== undefined) reject(new StateUnavailable(a.error));
        else resolve(a.value as T);
      });
      try {
        this.parent.send({ t: "pcl:state:call", id, op, args } satisfies Call);
      } catch {
        clearTimeout(timer);
        this.waiting.delete(id);
        reject(new StateUnavailable("the primary process is gone"));
      }
    });
  }

  run(keys: string[], plan: Plan): Promise<Reply> {
    return this.call("run", [keys, plan]);
  }
  presence(zoneId: string): Promise<Present[]> {
    return this.call("presence", [zoneId]);
  }
  occupancy(zoneIds: string[]): Promise<number[]> {
    return this.call("occupancy", [zoneIds]);
  }
  forgive(zoneId: string, userId: string): Promise<void> {
    return this.call("forgive", [zoneId, userId]);
  }
  // The primary builds and rebuilds its own state.
  async built(): Promise<boolean> {
    return true;
  }
  async lockRebuild(): Promise<boolean> {
    return false;
  }
  replace(_state: RebuiltState): Promise<void> {
    return Promise.reject(new StateUnavailable("workers do not keep state"));
  }
  async close(): Promise<void> {
    for (const w of this.waiting.values()) w({ t: "pcl:state:answer", id: 0, error: "closing" });
  }
}

/** The primary's side: answers its workers' calls from its own store (whatever it is now). */
export function stateHub(store: () => StateStore) {
  return {
    onMessage(message: unknown, from: IpcPeer): void {
      const m = message as Call;
      if (m?.t !== "pcl:state:call") return;
      const s = store();
      const reply = (a: Omit<Answer, "t" | "id">) => {
        try {
          from.send({ t: "pcl:state:answer", id: m.id, ...a } satisfies Answer);
        } catch {}
      };
      let p: Promise<unknown>;
      switch (m.op) {
        case "run": p = s.run(m.args[0] as string[], m.args[1] as Plan); break;
        case "presence": p = s.presence(m.args[0] as string); break;
        case "occupancy": p = s.occupancy(m.args[0] as string[]); break;
        case "forgive": p = s.forgive(m.args[0] as string, m.args[1] as string); break;
        default: p = Promise.reject(new StateUnavailable(`unknown call ${String(m.op)}`));
      }
      p.then((value) => reply({ value }), (e) => reply({ error: e instanceof StateUnavailable ? e.why : String(e) }));
    },
  };
}
