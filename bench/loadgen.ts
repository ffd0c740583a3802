// A small HTTP/1.1 load generator over raw TCP (Bun.connect), for what wrk cannot do:
//   - open loop: requests are due at a fixed rate whatever the server does; latency is measured
//     from the moment each request was DUE, not sent (wrk2's correction for coordinated omission:
//     a stalled server cannot slow the generator down and so hide its own stall);
//   - closed loop with a time series: completions per bucket (e.g. 100 ms), so the throughput of
//     one window (a burst of changes, a rebuild) can be cut out of a run.
// Keep-alive connections, one request in flight per connection (no pipelining); requests are
// pre-formatted once; responses are parsed just enough (status, Content-Length).
//
//   bun bench/loadgen.ts '<json options>'      prints one line of JSON with the results
//
// Options: { port, host?, path, bodiesFile (JSON array of request bodies, rotated), mode: "open" |
// "closed", connections, durationS, rate? (open), bucketMs? (default 100), timeoutS? (default 5) }
// Meant to run pinned to its own core (taskset): the open-loop dispatcher spins (setImmediate) to
// send each request within microseconds of its due time.
import { readFileSync } from "node:fs";

export interface LoadOptions {
  port: number;
  host?: string;
  path: string;
  bodiesFile: string;
  mode: "open" | "closed";
  connections: number;
  durationS: number;
  rate?: number;
  bucketMs?: number;
  timeoutS?: number;
}

export interface LoadResult {
  mode: "open" | "closed";
  durationS: number;
  /** Requests due (open loop) or sent (closed loop) during the run. */
  sent: number;
  completed: number;
  non2xx: number;
  errors: number;
  /** Requests still unanswered when the run ended (after the grace period). */
  unanswered: number;
  rps: number;
  rate: number | null;
  /** Open loop: from due time to the end of the response; closed loop: from send. Milliseconds. */
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  /** Open loop: how late the generator itself dispatched requests (its own lag, not a wait for a busy connection), ms. */
  sendLagMs: { p50: number; p99: number; max: number } | null;
  /** Completions per bucket, from the start of the run. */
  bucketMs: number;
  buckets: number[];
  /** performance.timeOrigin + start, epoch ms: to line buckets up with events outside. */
  startedAtMs: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

const CRLFCRLF = Buffer.from("\r\n\r\n");

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const host = o.host ?? "127.0.0.1";
  const bodies = JSON.parse(readFileSync(o.bodiesFile, "utf8")) as unknown[];
  if (!bodies.length) throw new Error("no bodies");
  const requests = bodies.map((b) => {
    const body = typeof b === "string" ? b : JSON.stringify(b);
    return Buffer.from(`POST ${o.path} HTTP/1.1\r\nHost: ${host}:${o.port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
  const bucketMs = o.bucketMs ?? 100;
  const durationMs = o.durationS * 1000;
  const open = o.mode === "open";
  const rate = open ? o.rate! : null;
  if (open && !(rate! > 0)) throw new Error("open loop needs a rate > 0");

  const maxSamples = open ? Math.ceil(rate! * o.durationS * 1.05) + 1000 : 4_000_000;
  const lat = new Float64Array(maxSamples);
  const lag = open ? new Float64Array(maxSamples) : null;
  let nLat = 0, nLag = 0;
  const buckets: number[] = new Array(Math.ceil(durationMs / bucketMs) + 1).fill(0);
  let sent = 0, completed = 0, non2xx = 0, errors = 0, next = 0;
  let t0 = 0;
  let running = true;

  interface Conn {
    sock: import("bun").Socket<undefined> | null;
    buf: Buffer | null;
    /** Due (open) or send (closed) time of the request in flight; NaN when idle. */
    inflight: number;
    /** Open loop: due times of requests waiting for this connection. */
    queue: number[];
    qHead: number;
  }
  const conns: Conn[] = [];
  const idle: Conn[] = [];

  const send = (c: Conn, due: number) => {
    const now = performance.now();
    c.inflight = open ? due : now;
    const r = requests[next]!;
    next = next + 1 === requests.length ? 0 : next + 1;
    const w = c.sock!.write(r);
    if (w !== r.length) throw new Error(`short write (${w} of ${r.length}): raise the socket buffer`);
  };

  const done = (c: Conn, status: number) => {
    const now = performance.now();
    completed++;
    if (status < 200 || status >= 300) non2xx++;
    if (nLat < maxSamples) lat[nLat++] = now - c.inflight;
    const b = Math.floor((now - t0) / bucketMs);
    if (b >= 0 && b < buckets.length) buckets[b]!++;
    c.inflight = NaN;
    if (!running) return;
    if (open) {
      if (c.qHead < c.queue.length) {
        const due = c.queue[c.qHead++]!;
        if (c.qHead > 1024) {
          c.queue = c.queue.slice(c.qHead);
          c.qHead = 0;
        }
        send(c, due);
      } else idle.push(c);
    } else {
      sent++;
      send(c, now);
    }
  };

  const onData = (c: Conn, chunk: Buffer) => {
    let buf = c.buf === null ? chunk : Buffer.concat([c.buf, chunk]);
    for (;;) {
      const end = buf.indexOf(CRLFCRLF);
      if (end < 0) break;
      const head = buf.toString("latin1", 0, end);
      const status = Number(head.slice(9, 12));
      const m = /\r\ncontent-length: *(\d+)/i.exec(head);
      let len = m ? Number(m[1]) : 0;
      if (!m && status !== 204 && status !== 304) {
        if (/\r\ntransfer-encoding: *chunked/i.test(head)) throw new Error("chunked responses are not supported by this generator");
        len = 0;
      }
      const total = end + 4 + len;
      if (buf.length < total) break;
      done(c, status);
      if (buf.length === total) {
        c.buf = null;
        return;
      }
      buf = buf.subarray(total);
    }
    c.buf = Buffer.from(buf); // keep a copy: the chunk's memory is reused by the runtime
  };

  await Promise.all(Array.from({ length: o.connections }, async () => {
    const c: Conn = { sock: null, buf: null, inflight: NaN, queue: [], qHead: 0 };
    c.sock = await Bun.connect({
      hostname: host, port: o.port,
      socket: {
        data: (_s, chunk) => onData(c, chunk as unknown as Buffer),
        close: () => {
          if (running) errors++;
          c.sock = null;
        },
        error: () => void errors++,
      },
    });
    c.sock.setNoDelay(true);
    conns.push(c);
  }));

  t0 = performance.now();
  const startedAtMs = performance.timeOrigin + t0;
  let end = t0 + durationMs;
  // SIGTERM ends the run early (bench/run.ts stops a long closed-loop run when its window is over).
  let wake: (() => void) | null = null;
  process.on("SIGTERM", () => {
    end = Math.min(end, performance.now());
    wake?.();
  });
  if (open) {
    idle.push(...conns);
    const interval = 1000 / rate!;
    let due = t0;
    let rr = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now();
        while (due <= now && due < end) {
          sent++;
          // The generator's own lag: how late it noticed a due request (not the wait for a busy connection).
          if (lag !== null && nLag < maxSamples) lag[nLag++] = now - due;
          const c = idle.pop();
          if (c !== undefined && c.sock !== null) send(c, due);
          else {
            // Every connection busy: wait on the one with the shortest queue (round-robin ties).
            let best = conns[rr % conns.length]!;
            for (let k = 1; k < conns.length; k++) {
              const x = conns[(rr + k) % conns.length]!;
              if (x.queue.length - x.qHead < best.queue.length - best.qHead) best = x;
            }
            rr++;
            best.queue.push(due);
          }
          due += interval;
        }
        if (now >= end) resolve();
        else setImmediate(tick);
      };
      tick();
    });
  } else {
    for (const c of conns) {
      sent++;
      send(c, 0);
    }
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, Math.max(0, end - performance.now()));
    });
  }
  running = false;
  const elapsed = performance.now() - t0;
  // Grace: let what is in flight finish (it counts in the latency, not in the throughput window).
  const completedInWindow = completed;
  const graceUntil = performance.now() + (o.timeoutS ?? 5) * 1000;
  const pending = () => conns.reduce((n, c) => n + (Number.isNaN(c.inflight) ? 0 : 1) + (c.queue.length - c.qHead), 0);
  while (pending() > 0 && performance.now() < graceUntil) {
    // Open loop: queued requests are still owed; send them as connections free up.
    for (const c of conns) {
      if (Number.isNaN(c.inflight) && c.qHead < c.queue.length && c.sock) send(c, c.queue[c.qHead++]!);
    }
    await Bun.sleep(5);
  }
  const unanswered = pending();
  for (const c of conns) c.sock?.end();

  const sorted = lat.slice(0, nLat).sort();
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
  const lagSorted = lag ? lag.slice(0, nLag).sort() : null;
  return {
    mode: o.mode, durationS: elapsed / 1000, sent, completed, non2xx, errors, unanswered,
    rps: completedInWindow / (elapsed / 1000), rate,
    latencyMs: {
      p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), p999: percentile(sorted, 99.9),
      max: sorted.length ? sorted[sorted.length - 1]! : NaN, mean: sum / Math.max(1, sorted.length),
    },
    sendLagMs: lagSorted ? { p50: percentile(lagSorted, 50), p99: percentile(lagSorted, 99), max: lagSorted[lagSorted.length - 1] ?? NaN } : null,
    bucketMs, buckets: buckets.slice(0, Math.ceil(elapsed / bucketMs)), startedAtMs,
  };
}

if (import.meta.main) {
  const opts = JSON.parse(process.argv[2] ?? "{}") as LoadOptions;
  const r = await runLoad(opts);
  console.log(JSON.stringify(r));
  process.exit(0);
}
