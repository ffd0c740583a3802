// One scrape, one coherent view of a host with WORKERS > 1. The processes share the port
// (reusePort), so a scrape lands on any one of them; that one asks the primary over IPC, the
// primary asks every process for its registry as JSON and merges them with prom-client's
// AggregatorRegistry.aggregate (each metric's `aggregator`, see src/metrics.ts), and the answer
// goes back to whoever was scraped. Prometheus thus sees one target per host whose counters only
// ever grow, instead of two processes' counters alternating in one series.
// portcullis_host_processes{state} says how many processes the view covers: a process that does
// not answer within HOST_SCRAPE_TIMEOUT_MS is left out (and counted as "missing"), never waited on.
import { AggregatorRegistry } from "prom-client";
import { ApiError } from "./errors";
import type { MetricJson, Metrics } from "./metrics";

const HOST_SCRAPE_TIMEOUT_MS = 2000;

type Message =
  | { t: "pcl:metrics:scrape"; id: number } // worker → primary: someone scraped me
  | { t: "pcl:metrics:collect"; id: number } // primary → worker: your registry, please
  | { t: "pcl:metrics:json"; id: number; metrics: MetricJson } // worker → primary
  | { t: "pcl:metrics:text"; id: number; text?: string; error?: string }; // primary → worker: the host's view

export interface IpcPeer {
  send(message: unknown): unknown;
}

const isMessage = (m: any): m is Message => typeof m === "object" && m !== null && typeof m.t === "string" && m.t.startsWith("pcl:metrics:");

/**
 * The primary's side: `peers()` lists the live workers, `hostProcesses` is how many the host should
 * have (WORKERS: a worker that died counts as missing); hand every IPC message from a worker to
 * onMessage (it ignores what is not ours).
 */
export function primaryMetricsHub(own: Metrics, peers: () => IpcPeer[], hostProcesses: number) {
  let seq = 0;
  const pending = new Map<number, { got: MetricJson[]; waiting: number; done(): void }>();

  const gather = async (): Promise<string> => {
    const id = ++seq;
    const workers = peers();
    const got: MetricJson[] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(finish, HOST_SCRAPE_TIMEOUT_MS);
      function finish() {
        clearTimeout(timer);
        pending.delete(id);
        resolve();
      }
      pending.set(id, { got, waiting: workers.length, done: finish });
      for (const w of workers) {
        try {
          w.send({ t: "pcl:metrics:collect", id } satisfies Message);
        } catch {
          // gone meanwhile: counted as missing
        }
      }
      if (workers.length === 0) finish();
    });
    const scraped = got.length + 1;
    const expected = Math.max(hostProcesses, scraped);
    const processes = [{
      name: "portcullis_host_processes", help: "Processes of this host (WORKERS) by whether this scrape covers them",
      type: "gauge", aggregator: "first",
      values: [{ labels: { state: "scraped" }, value: scraped }, { labels: { state: "missing" }, value: expected - scraped }],
    }];
    return AggregatorRegistry.aggregate([await own.json(), ...got, processes]).metrics();
  };

  own.setHostView(gather);
  return {
    onMessage(message: unknown, from: IpcPeer): void {
      if (!isMessage(message)) return;
      if (message.t === "pcl:metrics:json") {
        const p = pending.get(message.id);
        if (!p) return;
        p.got.push(message.metrics);
        if (--p.waiting === 0) p.done();
      } else if (message.t === "pcl:metrics:scrape") {
        const reply = (m: Message) => {
          try {
            from.send(m);
          } catch {
            // the asking worker is gone
          }
        };
        gather().then(
          (text) => reply({ t: "pcl:metrics:text", id: message.id, text }),
          (e) => reply({ t: "pcl:metrics:text", id: message.id, error: String(e) }),
        );
      }
    },
  };
}

/** A worker's side: its /metrics asks the primary for the host's view; it answers collects. */
export function workerMetricsLink(own: Metrics, parent: { send(m: unknown): unknown; on(event: "message", l: (m: unknown) => void): unknown }): void {
  let seq = 0;
  const waiting = new Map<number, (m: Extract<Message, { t: "pcl:metrics:text" }> | null) => void>();
  parent.on("message", (message) => {
    if (!isMessage(message)) return;
    if (message.t === "pcl:metrics:collect") {
      // A failure here (the primary gone meanwhile) only leaves this process out of that view.
      void own.json().then((metrics) => parent.send({ t: "pcl:metrics:json", id: message.id, metrics } satisfies Message)).catch(() => {});
    } else if (message.t === "pcl:metrics:text") {
      waiting.get(message.id)?.(message);
    }
  });
  own.setHostView(async () => {
    const id = ++seq;
    const answer = await new Promise<Extract<Message, { t: "pcl:metrics:text" }> | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), HOST_SCRAPE_TIMEOUT_MS * 2);
      waiting.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      try {
        parent.send({ t: "pcl:metrics:scrape", id } satisfies Message);
      } catch {
        resolve(null); // the primary is gone: this process is on its way out too
      }
    });
    waiting.delete(id);
    if (answer?.text === undefined) {
      throw new ApiError("unavailable", "the host's metrics could not be gathered from its primary process; try again", undefined, 1);
    }
    return answer.text;
  });
}
