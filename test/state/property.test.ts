// Property: after random entries and exits by random people through random gates of two
// instances (nested zones, hard and soft anti-passback, an occupancy limit, a two-person gate,
// forgives), the presence derived from the access-event history equals the shared state in Redis.
import { afterAll, beforeAll, expect, test } from "bun:test";
import fc from "fast-check";
import { presenceFromEvents } from "../../src/state/rebuild";
import { sleepUntil } from "../setup";
import { gate, type Person, type Site, startSite, zone } from "./helpers";

let site: Site;
beforeAll(async () => {
  site = await startSite();
}, 30_000);
afterAll(() => site.stop());

test("presence rebuilt from the events equals the shared state after random passes through random nodes", async () => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ node: fc.nat(1), who: fc.nat(4), gate: fc.nat(6), forgive: fc.boolean() }), { minLength: 5, maxLength: 40 }),
      async (steps) => {
        const r = ++run;
        const outer = await zone(site, `site-${r}`, { anti_passback: "soft" });
        const inner = await zone(site, `lab-${r}`, { parent_id: outer, anti_passback: "hard", max_occupancy: 3 });
        const other = await zone(site, `yard-${r}`, {});
        const gates = [
          await gate(site, `S${r}_IN`, outer, { direction: "in" }),
          await gate(site, `S${r}_OUT`, outer, { direction: "out" }),
          await gate(site, `L${r}_IN`, inner, { direction: "in" }),
          await gate(site, `L${r}_OUT`, inner, { direction: "out" }),
          await gate(site, `L${r}_2P`, inner, { direction: "in", two_person_window_ms: 60_000 }),
          await gate(site, `Y${r}_IN`, other, { direction: "in" }),
          await gate(site, `Y${r}_OUT`, other, { direction: "out" }),
        ];
        const people: Person[] = [];
        for (let i = 0; i < 5; i++) people.push(await site.person(`p${r}-${i}`));
        let decisions = 0;
        for (const s of steps) {
          const who = people[s.who]!;
          if (s.forgive && s.gate % 3 === 0) {
            await site.admin("POST", `/api/v1/admin/zones/${inner}/presence/${who.id}/forgive`);
            continue;
          }
          await site.verify(s.node ? site.b : site.a, gates[s.gate]!, who);
          decisions++;
        }
        // Every decision is written (events leave the verify path in batches).
        await sleepUntil(async () => {
          const [n] = await site.cluster.db.sql`select count(*)::int as n from access_events where gate_id = any(${gates})`;
          return n!.n >= decisions;
        }, "the run's events");
        const ix = site.a.service.deps.feed.current;
        const fromEvents = await presenceFromEvents(site.cluster.db.sql, ix);
        for (const z of [outer, inner, other]) {
          const live = (await site.a.service.deps.state.store.presence(z)).map((p) => [p.userId, p.since, p.gateId]).sort();
          const derived = [...(fromEvents.inside.get(z) ?? [])].map(([u, p]) => [u, p.since, p.gateId]).sort();
          expect(derived).toEqual(live);
        }
      },
    ),
    { numRuns: 8 },
  );
}, 120_000);
