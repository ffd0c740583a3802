// The raw HTTP/1.1 client and the per-process connections of a WORKERS=N group.
import { processTree, sleep } from "../harness";
import { S, type Server } from "./context";

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 connection, one request at a time: for the propagation probe, where each
// connection must stay with one process of a reusePort group.

export class Http1 {
  private buf: Buffer | null = null;
  private waiting: ((r: { status: number; head: string; body: string }) => void) | null = null;
  private constructor(private sock: import("bun").Socket<undefined> | null) {}

  static async connect(port: number): Promise<Http1> {
    const c = new Http1(null);
    c.sock = await Bun.connect({
      hostname: "127.0.0.1", port,
      socket: { data: (_s, chunk) => c.onData(chunk as unknown as Buffer), close: () => void (c.sock = null), error: () => {} },
    });
    c.sock.setNoDelay(true);
    return c;
  }

  private onData(chunk: Buffer): void {
    const buf = this.buf === null ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const end = buf.indexOf("\r\n\r\n");
    if (end < 0) {
      this.buf = buf;
      return;
    }
    const head = buf.toString("latin1", 0, end);
    const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (buf.length < end + 4 + len) {
      this.buf = buf;
      return;
    }
    this.buf = null;
    const w = this.waiting;
    this.waiting = null;
    w?.({ status: Number(head.slice(9, 12)), head, body: buf.toString("utf8", end + 4, end + 4 + len) });
  }

  request(method: string, path: string, body?: string): Promise<{ status: number; head: string; body: string }> {
    if (!this.sock) return Promise.reject(new Error("connection closed"));
    return new Promise((resolve) => {
      this.waiting = resolve;
      const b = body ?? "";
      this.sock!.write(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n\r\n${b}`);
    });
  }

  close(): void {
    this.sock?.end();
  }
}

/** A WORKERS=N group is ready when every process answers /readyz: connections spread over them. */
export async function waitBothReady(sv: Server, n = 2): Promise<void> {
  const until = Date.now() + S.readyTimeoutS * 1000;
  while (Date.now() < until) {
    const pids = processTree(sv.s.proc.pid);
    if (pids.length >= n) {
      const ids = await processIds(sv.port, 16);
      if (ids.size >= n) {
        for (const c of ids.values()) c.close();
        return;
      }
      for (const c of ids.values()) c.close();
    }
    await sleep(250);
  }
  throw new Error(`${sv.name}: not all ${n} processes answered within ${S.readyTimeoutS} s`);
}

/**
 * Opens up to `max` keep-alive connections and tells which process each reached, by the prefix of
 * the X-Request-Id the process generates (a per-process boot id, src/http/observe.ts); answers one
 * ready connection per process. With SO_REUSEPORT the kernel spreads connections, not requests,
 * over the processes, so a connection stays with its process for its life. (Not /metrics: a
 * scrape blocks a process for a while, see BENCHMARKS.md.)
 */
export async function processIds(port: number, max: number): Promise<Map<string, Http1>> {
  const byProc = new Map<string, Http1>();
  for (let i = 0; i < max && byProc.size < 2; i++) {
    const c = await Http1.connect(port);
    const ready = await c.request("GET", "/readyz");
    const rid = /\r\nx-request-id: *([^\r\n]+)/i.exec(ready.head)?.[1];
    if (!rid) throw new Error("no X-Request-Id in the answer: cannot tell the processes apart");
    const id = rid.slice(0, rid.lastIndexOf("-"));
    if (ready.status === 200 && !byProc.has(id)) byProc.set(id, c);
    else c.close();
  }
  return byProc;
}
