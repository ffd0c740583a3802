// When the event buffer is full (Postgres away for long), events go to local files instead of
// being dropped; they are replayed when Postgres is back and at the next start. One file per
// spill episode, claimed for replay by an atomic rename so several processes never replay the same
// file. Replays are idempotent: every event keeps the id it got at decision time.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import type { AccessEvent } from "./event-writer";

export class SpillDir {
  private current: string | null = null;
  bytes = 0;

  constructor(readonly dir: string, readonly maxBytes: number) {}

  /** Appends events as JSON lines; false when the disk budget is used up (the caller sheds). */
  append(events: AccessEvent[]): boolean {
    if (events.length === 0) return true;
    const text = events.map((e) => JSON.stringify(e)).join("\n") + "\n";
    if (this.bytes + text.length > this.maxBytes) return false;
    if (this.current === null) {
      mkdirSync(this.dir, { recursive: true });
      this.current = join(this.dir, `events-${Date.now()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}.ndjson`);
    }
    appendFileSync(this.current, text);
    this.bytes += text.length;
    return true;
  }

  /** Starts a new file for the next episode, so the finished one can be replayed. */
  seal(): void {
    this.current = null;
  }

  get spilling(): boolean {
    return this.current !== null;
  }

  /** Claims every sealed spill file (not the one being written) and returns their paths. */
  claim(): string[] {
    if (!existsSync(this.dir)) return [];
    const claimed: string[] = [];
    for (const f of readdirSync(this.dir)) {
      const path = join(this.dir, f);
      if (!f.endsWith(".ndjson") || path === this.current) continue;
      const mine = `${path}.replaying-${process.pid}`;
      try {
        renameSync(path, mine);
        claimed.push(mine);
      } catch {
        // another process claimed it first
      }
    }
    return claimed;
  }

  static read(path: string): AccessEvent[] {
    const out: AccessEvent[] = [];
    for (const line of readFileSync(path, "utf8").split("\n")) {
      if (!line) continue;
      try {
        out.push(JSON.parse(line));
      } catch {
        // a torn last line from a crash mid-append: skip it
      }
    }
    return out;
  }

  done(path: string): void {
    const size = statSync(path).size;
    unlinkSync(path);
    this.bytes = Math.max(0, this.bytes - size);
  }

  /** Files another process claimed and then died with are released for replay again. */
  releaseOrphans(isAlive: (pid: number) => boolean): void {
    if (!existsSync(this.dir)) return;
    for (const f of readdirSync(this.dir)) {
      const m = /^(.*\.ndjson)\.replaying-(\d+)$/.exec(f);
      if (m && !isAlive(Number(m[2]))) {
        try {
          renameSync(join(this.dir, f), join(this.dir, m[1]!));
        } catch {}
      }
    }
  }
}
