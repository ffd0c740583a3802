// GET /api/v1/admin/events/stream — access events as Server-Sent Events, as they happen, from
// every process (see src/events/live.ts). Resumable: a client that reconnects with Last-Event-ID
// first gets what it missed, from Postgres. Bounded: each client's own backlog (what its socket has
// not taken) is bounded in bytes and in age (EVENT_STREAM_BACKLOG_KB, EVENT_STREAM_STALL); a client
// that stops reading is disconnected (it resumes with Last-Event-ID), so a stuck browser costs the
// service nothing but that backlog — and a burst never cuts a client that keeps reading.
import { Elysia, t } from "elysia";
import { eventsAfter, type LiveFilter, uuidV7Time } from "../../events/live";
import type { AccessFrame, LiveEvent } from "../../wire";
import { invalid } from "../../errors";
import { log } from "../../log";
import { adminAuth } from "./auth";
import type { Deps } from "../../deps";
import { ErrorBody } from "../schemas";

/** Events a resuming client is sent from Postgres, at most. */
const REPLAY_MAX = 2000;
/** A comment line every 15 s keeps proxies from closing an idle stream. */
const KEEPALIVE_TICKS = 15;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const encoder = new TextEncoder();
const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-accel-buffering": "no" };

/** One SSE frame (wire.ts AccessFrame). */
const frame = (e: LiveEvent) => `id: ${e.id}\nevent: ${"access" satisfies AccessFrame["event"]}\ndata: ${JSON.stringify(e)}\n\n`;

export function adminStreamRoutes(deps: Deps) {
  const { sql, events } = deps;

  return new Elysia({ name: "admin-stream", prefix: "/api/v1/admin", detail: { tags: ["admin"], security: [{ bearer: [] }] } })
    .use(adminAuth(sql))
    .get("/events/stream", async ({ query, headers, request }) => {
      if (query.allow !== undefined && query.allow !== "true" && query.allow !== "false") throw invalid("allow", "expected true or false");
      const filter: LiveFilter = {
        gateId: query.gate_id || undefined,
        userId: query.user_id || undefined,
        allow: query.allow === undefined ? undefined : query.allow === "true",
      };
      const lastId = headers["last-event-id"] || undefined; // empty: a client with no id yet
      // An event id is a UUIDv7 made at decision time: its time cannot lie days ahead (that would
      // also be a year Postgres cannot be sent as a date, e.g. ffffffff-ffff-7fff-… is year 10889).
      if (lastId !== undefined && (!UUID.test(lastId) || uuidV7Time(lastId) > Date.now() + 86_400_000)) {
        throw invalid("Last-Event-ID", "not an event id this API issued");
      }
      // HEAD: the headers a GET would get, and no stream — Bun holds a HEAD answer until its body
      // ends, and this one never does, so a HEAD used to hang (and hold a live subscription).
      if (request.method === "HEAD") return new Response(null, { headers: SSE_HEADERS });
      // This process's own buffered events go to Postgres first, so the replay includes them.
      if (lastId) for (let i = 0; i < 30 && events.depth > 0; i++) await Bun.sleep(10);
      const missed = lastId ? await eventsAfter(sql, lastId, filter, REPLAY_MAX) : [];

      // The client's backlog: frames the socket has not taken yet. A client that keeps reading keeps
      // it near empty whatever the burst; only one that stops reading grows it past its bound in
      // bytes, or leaves its oldest frame untaken for longer than the stall bound — and is cut.
      const { eventStreamBacklogBytes: maxBytes, eventStreamStallMs: stallMs } = deps.config;
      let queue: string[] = [];
      let queuedBytes = 0;
      let oldestAt = 0;
      let wake: (() => void) | null = null;
      let done = false;
      let unsubscribe = () => {};
      let ticker: ReturnType<typeof setInterval> | undefined;
      let ctl: ReadableStreamDefaultController<Uint8Array> | null = null;
      const close = () => {
        done = true;
        unsubscribe();
        clearInterval(ticker);
        queue = [];
        wake?.();
      };
      const push = (text: string) => {
        if (queue.length === 0) oldestAt = Date.now();
        queue.push(text);
        queuedBytes += text.length;
        wake?.();
      };
      const cut = (why: string) => {
        log.warn("event stream client not reading; disconnecting it (it resumes with Last-Event-ID)", { why, backlog_bytes: queuedBytes, oldest_ms: Date.now() - oldestAt });
        close();
        try { ctl?.close(); } catch {}
      };
      const tooFarBehind = () => queuedBytes > maxBytes ? "backlog_bytes" : queue.length > 0 && Date.now() - oldestAt > stallMs ? "stalled" : null;
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          ctl = controller;
          push(`retry: 1000\n: connected at revision ${deps.feed.revision}\n\n`);
          const replayed = new Set<string>();
          for (const e of missed) {
            replayed.add(e.id);
            push(frame(e));
          }
          unsubscribe = events.live.subscribe({
            filter,
            deliver(all) {
              // Right after a resume the live feed can repeat what the replay just sent.
              const batch = replayed.size ? all.filter((e) => !replayed.has(e.id)) : all;
              // Judged on what the client left untaken before this poll, never on the poll's own size.
              const why = tooFarBehind();
              if (why !== null) {
                cut(why);
                return false;
              }
              for (const e of batch) push(frame(e));
              return true;
            },
            end() {
              close();
              try { controller.close(); } catch {}
            },
          });
          let ticks = 0;
          ticker = setInterval(() => {
            const why = tooFarBehind();
            if (why !== null) return cut(why);
            if (++ticks % KEEPALIVE_TICKS === 0) push(": keepalive\n\n");
          }, 1000);
          request.signal.addEventListener("abort", () => {
            close();
            try { controller.close(); } catch {}
          });
        },
        // Called when the socket has taken the previous chunk: hand over the whole backlog at once.
        async pull(controller) {
          while (queue.length === 0 && !done) await new Promise<void>((r) => (wake = r));
          wake = null;
          if (done) return;
          const text = queue.length === 1 ? queue[0]! : queue.join("");
          queue = [];
          queuedBytes = 0;
          controller.enqueue(encoder.encode(text));
        },
        cancel: close,
      }, { highWaterMark: 0 });
      return new Response(stream, { headers: SSE_HEADERS });
    }, {
      query: t.Object({
        gate_id: t.Optional(t.String({ maxLength: 64 })),
        user_id: t.Optional(t.String({ maxLength: 64 })),
        allow: t.Optional(t.String({ maxLength: 5, description: "true or false" })),
      }),
      response: {
        200: t.String({
          contentMediaType: "text/event-stream",
          description: "Server-Sent Events: `id:` the event id, `event: access`, `data:` the event as in GET /api/v1/admin/events",
          examples: ['id: 0193a1b2-c3d4-7e5f-a7b8-c9d0e1f2a3b4\nevent: access\ndata: {"id":"0193a1b2-c3d4-7e5f-a7b8-c9d0e1f2a3b4","at":"2026-01-05T08:30:00.000Z","gate_id":"GATE_001","user_id":"u_0193a1b2c3d4e5f6a7b8c9d0e1f2","allow":true,"reason":"granted","revision":57}\n\n'],
        }),
        400: ErrorBody,
      },
      detail: { summary: "Access events as they happen (Server-Sent Events); resumable with Last-Event-ID" },
    });
}
