// GET /api/v1/admin/events/stream — access events as Server-Sent Events, as they happen, from
// every process (see src/events/live.ts). Resumable: a client that reconnects with Last-Event-ID
// first gets what it missed, from Postgres. Bounded: each client has a fixed queue; a client that
// falls behind is disconnected (it resumes with Last-Event-ID), so a slow browser costs the service
// nothing but its own queue.
import { Elysia, t } from "elysia";
import { eventsAfter, type LiveEvent, type LiveFilter, uuidV7Time } from "../../events/live";
import { invalid } from "../../errors";
import { log } from "../../log";
import { adminAuth } from "./auth";
import type { Deps } from "../../deps";

const QUEUE_PER_CLIENT = 2000; // events
const KEEPALIVE_MS = 15_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const encoder = new TextEncoder();

const frame = (e: LiveEvent) => `id: ${e.id}\nevent: access\ndata: ${JSON.stringify(e)}\n\n`;

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
      // This process's own buffered events go to Postgres first, so the replay includes them.
      if (lastId) for (let i = 0; i < 30 && events.depth > 0; i++) await Bun.sleep(10);
      const missed = lastId ? await eventsAfter(sql, lastId, filter, QUEUE_PER_CLIENT) : [];

      let unsubscribe = () => {};
      let keepalive: ReturnType<typeof setInterval> | undefined;
      const close = () => {
        unsubscribe();
        clearInterval(keepalive);
      };
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          const send = (text: string) => controller.enqueue(encoder.encode(text));
          send(`retry: 1000\n: connected at revision ${deps.feed.revision}\n\n`);
          const replayed = new Set<string>();
          for (const e of missed) {
            replayed.add(e.id);
            send(frame(e));
          }
          unsubscribe = events.live.subscribe({
            filter,
            deliver(all) {
              // Right after a resume the live feed can repeat what the replay just sent.
              const batch = replayed.size ? all.filter((e) => !replayed.has(e.id)) : all;
              // desiredSize counts queued events against the per-client bound.
              if ((controller.desiredSize ?? 0) < batch.length) {
                log.warn("event stream client too slow; disconnecting it", { queued: QUEUE_PER_CLIENT });
                close();
                try { controller.close(); } catch {}
                return false;
              }
              for (const e of batch) send(frame(e));
              return true;
            },
          });
          keepalive = setInterval(() => {
            try { send(": keepalive\n\n"); } catch { close(); }
          }, KEEPALIVE_MS);
          request.signal.addEventListener("abort", () => {
            close();
            try { controller.close(); } catch {}
          });
        },
        cancel: close,
      }, new CountQueuingStrategy({ highWaterMark: QUEUE_PER_CLIENT }));
      return new Response(stream, {
        headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-accel-buffering": "no" },
      });
    }, {
      query: t.Object({
        gate_id: t.Optional(t.String({ maxLength: 64 })),
        user_id: t.Optional(t.String({ maxLength: 64 })),
        allow: t.Optional(t.String({ maxLength: 5, description: "true or false" })),
      }),
      detail: { summary: "Access events as they happen (Server-Sent Events); resumable with Last-Event-ID" },
    });
}
