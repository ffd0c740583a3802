// One keep-alive HTTP/1.1 connection over a raw socket. With WORKERS=N the kernel spreads
// connections over the processes sharing the port; a connection stays with the process that
// accepted it, so a test asks /readyz which node it reached and then addresses that node.
import type { Socket } from "bun";

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: any;
}

export class HttpConn {
  private buf = Buffer.alloc(0);
  private waiting: ((a: Answer) => void) | null = null;
  private failed: ((e: Error) => void) | null = null;

  private constructor(private sock: Socket<undefined>) {}

  static async open(port: number): Promise<HttpConn> {
    let conn!: HttpConn;
    const sock = await Bun.connect({
      hostname: "127.0.0.1", port,
      socket: {
        data: (_s, chunk) => conn.onData(chunk),
        close: () => conn.failed?.(new Error("connection closed")),
        error: (_s, e) => conn.failed?.(e),
      },
    });
    conn = new HttpConn(sock);
    return conn;
  }

  request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const text = body === undefined ? "" : JSON.stringify(body);
    const head = [`${method} ${path} HTTP/1.1`, "host: 127.0.0.1", "connection: keep-alive", `content-length: ${Buffer.byteLength(text)}`];
    if (body !== undefined) head.push("content-type: application/json");
    for (const [k, v] of Object.entries(headers)) head.push(`${k}: ${v}`);
    return new Promise<Answer>((resolve, reject) => {
      this.waiting = resolve;
      this.failed = reject;
      this.sock.write(head.join("\r\n") + "\r\n\r\n" + text);
    });
  }

  close(): void {
    this.sock.end();
  }

  private onData(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    const end = this.buf.indexOf("\r\n\r\n");
    if (end < 0) return;
    const lines = this.buf.subarray(0, end).toString("latin1").split("\r\n");
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const length = Number(headers["content-length"] ?? 0);
    if (this.buf.length < end + 4 + length) return;
    const text = this.buf.subarray(end + 4, end + 4 + length).toString("utf8");
    this.buf = this.buf.subarray(end + 4 + length);
    const w = this.waiting;
    this.waiting = this.failed = null;
    let body: any = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {}
    w?.({ status: Number(lines[0]!.split(" ")[1]), headers, body });
  }
}

/** Opens connections until one reaches each of `nodes` distinct processes behind `port` (a worker may still be starting). */
export async function connectionPerNode(port: number, nodes: number, timeoutMs = 15_000): Promise<Map<string, HttpConn>> {
  const byNode = new Map<string, HttpConn>();
  const until = Date.now() + timeoutMs;
  while (byNode.size < nodes && Date.now() < until) {
    const c = await HttpConn.open(port);
    const r = await c.request("GET", "/readyz");
    if (r.status === 200 && !byNode.has(r.body.node)) byNode.set(r.body.node, c);
    else {
      c.close();
      await Bun.sleep(10);
    }
  }
  if (byNode.size < nodes) throw new Error(`reached ${byNode.size} of ${nodes} processes on port ${port}`);
  return byNode;
}
