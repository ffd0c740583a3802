// The live access-event stream: Server-Sent Events read with fetch() and a stream reader, so the
// bearer token travels in the Authorization header (EventSource cannot send one, and a token in
// the URL would end up in logs). Reconnects with Last-Event-ID, so a dropped connection loses
// nothing: the service replays what this client missed.

import type { AccessFrame, LiveEvent } from "../wire";

const ACCESS: AccessFrame["event"] = "access";

export type StreamStatus = "connecting" | "live" | "reconnecting" | "stopped";

export class EventStream {
  private abort: AbortController | null = null;
  private lastId: string | null = null;
  private retryMs = 1000;
  private attempt = 0;
  private running = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  status: StreamStatus = "stopped";

  constructor(
    private readonly token: () => string | null,
    private readonly onEvent: (e: LiveEvent) => void,
    private readonly onStatus: (s: StreamStatus, detail?: string) => void,
    private readonly onUnauthorized: () => void,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.connect();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.abort?.abort();
    this.abort = null;
    this.setStatus("stopped");
  }

  private setStatus(s: StreamStatus, detail?: string): void {
    this.status = s;
    this.onStatus(s, detail);
  }

  private async connect(): Promise<void> {
    const token = this.token();
    if (!this.running || !token) return;
    this.abort = new AbortController();
    this.setStatus(this.attempt === 0 ? "connecting" : "reconnecting");
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: "text/event-stream" };
    if (this.lastId) headers["last-event-id"] = this.lastId;
    try {
      const res = await fetch("/api/v1/admin/events/stream", { headers, signal: this.abort.signal, cache: "no-store" });
      if (res.status === 401 || res.status === 403) {
        this.running = false;
        this.setStatus("stopped", "not authorised");
        this.onUnauthorized();
        return;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      this.attempt = 0;
      this.setStatus("live");
      await this.read(res.body);
      if (this.running) this.retry("the service closed the stream");
    } catch (e) {
      if (!this.running || (e as Error).name === "AbortError") return;
      this.retry(String((e as Error).message ?? e));
    }
  }

  private retry(why: string): void {
    this.attempt++;
    // The service's `retry:` hint first, then backing off (with jitter) while it stays away.
    const wait = Math.min(15_000, this.retryMs * 2 ** Math.min(this.attempt - 1, 4)) * (0.75 + Math.random() * 0.5);
    this.setStatus("reconnecting", why);
    this.timer = setTimeout(() => void this.connect(), wait);
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    let data: string[] = [];
    let id: string | null = null;
    let event = "message";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buf.search(/\r\n|\n|\r/)) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf[nl] === "\r" && buf[nl + 1] === "\n" ? 2 : 1));
        if (line === "") {
          // Dispatch.
          if (id !== null) this.lastId = id;
          if (data.length && event === ACCESS) {
            try {
              this.onEvent(JSON.parse(data.join("\n")) as LiveEvent);
            } catch {
              // a malformed frame is skipped
            }
          }
          data = [];
          id = null;
          event = "message";
          continue;
        }
        if (line.startsWith(":")) continue; // comment / keepalive
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        let v = colon < 0 ? "" : line.slice(colon + 1);
        if (v.startsWith(" ")) v = v.slice(1);
        if (name === "data") data.push(v);
        else if (name === "id") id = v;
        else if (name === "event") event = v;
        else if (name === "retry" && /^\d+$/.test(v)) this.retryMs = Number(v);
      }
    }
  }
}
