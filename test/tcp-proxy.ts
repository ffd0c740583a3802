// A TCP proxy of the tests' own, to cut and restore a connection (to Postgres or Redis) mid-run.
// Lossless: Bun's raw socket write() writes what the kernel takes and DROPS the rest (it returns
// the count), so the proxy queues the remainder and writes it on `drain`. Without that, a large result set (a
// snapshot, a consistency check) through the proxy arrives truncated and the client waits forever.
import type { Socket, TCPSocketListener } from "bun";

/** One direction of a connection: writes in order, queueing what the socket did not take. */
class Pipe {
  queue: Uint8Array[] = [];
  bytesIn = 0;
  bytesOut = 0;
  private ending = false;
  sock: Socket<any> | null = null;

  write(chunk: Uint8Array): void {
    this.bytesIn += chunk.length;
    if (this.sock === null || this.queue.length) {
      this.queue.push(chunk.slice());
      return;
    }
    const n = this.sock.write(chunk);
    this.bytesOut += Math.max(n, 0);
    if (n < chunk.length) this.queue.push(chunk.slice(Math.max(n, 0)));
  }

  /** The socket is open or writable again: write what waits. */
  drain(): void {
    const s = this.sock;
    if (s === null) return;
    while (this.queue.length) {
      const c = this.queue[0]!;
      const n = s.write(c);
      this.bytesOut += Math.max(n, 0);
      if (n < c.length) {
        this.queue[0] = c.subarray(Math.max(n, 0));
        return;
      }
      this.queue.shift();
    }
    if (this.ending) s.end();
  }

  /** End after what is queued has been written. */
  end(): void {
    this.ending = true;
    if (this.sock !== null && this.queue.length === 0) this.sock.end();
  }

  /** Drop it all now (a cut). */
  kill(): void {
    this.queue = [];
    this.sock?.end();
  }
}

interface Pair {
  client: Socket<Pair>;
  upstream: Socket<Pair> | null;
  toClient: Pipe;
  toUpstream: Pipe;
}

export class TcpProxy {
  private server: TCPSocketListener<Pair> | null = null;
  private pairs = new Set<Pair>();
  private boundPort = 0;
  /** Bytes that had to wait for `drain` (each would be lost by a proxy that ignores partial writes). */
  deferredWrites = 0;

  constructor(private readonly targetHost: string, private readonly targetPort: number) {}

  get port(): number {
    return this.boundPort;
  }

  get connections(): number {
    return this.pairs.size;
  }

  start(port = 0): this {
    const self = this;
    this.server = Bun.listen<Pair>({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(client) {
          const pair: Pair = { client, upstream: null, toClient: new Pipe(), toUpstream: new Pipe() };
          pair.toClient.sock = client;
          client.data = pair;
          self.pairs.add(pair);
          Bun.connect<Pair>({
            hostname: self.targetHost,
            port: self.targetPort,
            data: pair,
            socket: {
              open(up) {
                if (!self.pairs.has(pair)) return void up.end();
                pair.upstream = up;
                pair.toUpstream.sock = up;
                pair.toUpstream.drain();
              },
              data(_up, chunk) {
                pair.toClient.write(chunk);
              },
              drain() {
                pair.toUpstream.drain();
              },
              close() {
                self.pairs.delete(pair);
                pair.toClient.end();
              },
              error() {
                self.pairs.delete(pair);
                pair.toClient.end();
              },
            },
          }).catch(() => {
            self.pairs.delete(pair);
            client.end();
          });
        },
        data(client, chunk) {
          client.data.toUpstream.write(chunk);
        },
        drain(client) {
          const before = client.data;
          before?.toClient.drain();
          self.deferredWrites++;
        },
        close(client) {
          const pair = client.data;
          if (!pair) return;
          self.pairs.delete(pair);
          pair.toUpstream.end();
        },
        error() {},
      },
    });
    this.boundPort = this.server.port;
    return this;
  }

  /** Drops every open connection and refuses new ones until restore(). */
  cut(): void {
    this.server?.stop(true);
    this.server = null;
    for (const p of this.pairs) {
      p.toClient.kill();
      p.toUpstream.kill();
    }
    this.pairs.clear();
  }

  /** Refuses new connections until restore(); the open ones stay (a backend killed while Postgres cannot be reached again yet). */
  refuseNew(): void {
    this.server?.stop(false);
    this.server = null;
  }

  restore(): void {
    if (!this.server) this.start(this.boundPort);
  }

  stop(): void {
    this.cut();
  }

  /** Per connection: bytes in and out each way and what waits (a stuck client or a stuck proxy?). */
  describe(): unknown {
    return [...this.pairs].map((p) => ({ up: p.upstream !== null, toClient: [p.toClient.bytesIn, p.toClient.bytesOut, p.toClient.queue.length], toUpstream: [p.toUpstream.bytesIn, p.toUpstream.bytesOut, p.toUpstream.queue.length] }));
  }
}
