// Real Portcullis processes for tests: `bun src/main.ts` on a free port with its own DATA_DIR, the
// pids of its workers, readiness by its own "listening" log lines (one per process), and a verify
// load of many connections that counts the 200 answers it received, per gate.
import { readFileSync } from "node:fs";
import type { Subprocess } from "bun";
import { sleepUntil } from "../setup";

export interface Portcullis {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  base: string;
  port: number;
  /** Lines of output so far (stdout and stderr), for a failing test's message. */
  output: string[];
  /** "listening" lines seen: one per serving process. */
  listening(): number;
}

export function startPortcullis(env: Record<string, string>, port: number): Portcullis {
  const proc = Bun.spawn(["bun", "src/main.ts"], {
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "info", EVENT_FLUSH_MS: "20", DEMO_DATA: "0", ...env },
    stdin: "ignore", stdout: "pipe", stderr: "pipe",
  });
  const output: string[] = [];
  let listening = 0;
  const drain = async (s: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of s) {
      buf += decoder.decode(chunk, { stream: true });
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.includes('"msg":"listening"')) listening++;
        output.push(line);
        if (output.length > 400) output.splice(0, 100);
      }
    }
  };
  void drain(proc.stdout).catch(() => {});
  void drain(proc.stderr).catch(() => {});
  return { proc, base: `http://127.0.0.1:${port}`, port, output, listening: () => listening };
}

/** Waits until all `processes` of `p` listen (each logs it once). */
export async function ready(p: Portcullis, processes: number, timeoutMs = 20_000): Promise<void> {
  await sleepUntil(() => p.listening() >= processes || p.proc.exitCode !== null, `${processes} listening processes`, timeoutMs);
  if (p.proc.exitCode !== null) throw new Error(`portcullis exited ${p.proc.exitCode}:\n${p.output.slice(-20).join("\n")}`);
}

/** The direct children of `pid` (the workers of a primary). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Gone: no such process, or a zombie waiting for its new parent to reap it. */
export function exited(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
  } catch {
    return true;
  }
}

export interface Load {
  /** 200 answers received, per gate. */
  answered: Map<string, number>;
  total(): number;
  /** Stops sending; resolves when every connection's last request has ended. */
  stop(): Promise<void>;
}

/** `connections` loops, each sending verifies back to back over its own keep-alive connection. */
export function verifyLoad(base: string, gates: string[], token: string, connections = 64): Load {
  const answered = new Map<string, number>();
  let total = 0;
  let stopping = false;
  const loop = async (k: number) => {
    for (let i = k; !stopping; i++) {
      const gate = gates[i % gates.length]!;
      try {
        const r = await fetch(`${base}/api/v1/access/verify`, {
          method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ gate_id: gate, token }),
        });
        const body = (await r.json()) as any;
        if (r.status === 200 && typeof body.allow === "boolean") {
          answered.set(gate, (answered.get(gate) ?? 0) + 1);
          total++;
        }
      } catch {
        if (stopping) return;
        await Bun.sleep(5); // the server is gone (killed) or not yet there
      }
    }
  };
  const loops = Array.from({ length: connections }, (_, k) => loop(k));
  return {
    answered,
    total: () => total,
    stop: async () => {
      stopping = true;
      await Promise.all(loops);
    },
  };
}
