// A TCP proxy of the tests' own, to cut and restore a connection (to Postgres or Redis) mid-run.
import type { Socket, TCPSocketListener } from "bun";

interface Pair {
  client: Socket<Pair>;
  upstream: Socket<Pair> | null;
  pending: Uint8Array[];
}

export class TcpProxy {
  private server: TCPSocketListener<Pair> | null = null;
  private pairs = new Set<Pair>();
  private refusing = false;
  private boundPort = 0;

  constructor(private readonly targetHost: string, private readonly targetPort: number) {}

  get port(): number {
    return this.boundPort;
  }

  start(port = 0): this {
    const self = this;
    this.server = Bun.listen<Pair>({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(client) {
          if (self.refusing) {
            client.end();
            return;
          }
          const pair: Pair = { client, upstream: null, pending: [] };
          client.data = pair;
          self.pairs.add(pair);
          Bun.connect<Pair>({
            hostname: self.targetHost,
            port: self.targetPort,
            data: pair,
            socket: {
              open(up) {
                pair.upstream = up;
                for (const chunk of pair.pending) up.write(chunk);
                pair.pending = [];
              },
              data(_up, chunk) {
                pair.client.write(chunk);
              },
              close() {
                self.pairs.delete(pair);
                pair.client.end();
              },
              error() {
                pair.client.end();
              },
            },
          }).catch(() => client.end());
        },
        data(client, chunk) {
          const pair = client.data;
          if (pair.upstream) pair.upstream.write(chunk);
          else pair.pending.push(new Uint8Array(chunk));
        },
        close(client) {
          const pair = client.data;
          if (!pair) return;
          self.pairs.delete(pair);
          pair.upstream?.end();
        },
        error() {},
      },
    });
    this.boundPort = this.server.port;
    return this;
  }

  /** Drops every open connection and stops listening (new connections are refused) until restore(). */
  cut(): void {
    this.refusing = true;
    this.server?.stop(true);
    this.server = null;
    for (const p of this.pairs) {
      p.client.end();
      p.upstream?.end();
    }
    this.pairs.clear();
  }

  restore(): void {
    this.refusing = false;
    if (!this.server) this.start(this.boundPort);
  }

  get connections(): number {
    return this.pairs.size;
  }

  stop(): void {
    this.cut();
  }
}
