// README's two commands on a fresh clone: the repository's tracked files (as they are in the
// working tree) copied to an empty directory — no node_modules, no .data — and nothing but Bun.
// Each command must install the dependencies itself, then do its job.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, cpSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { checkReachableByOthers } from "../../src/db/embedded";
import { freePort, sleepUntil } from "../setup";

const repo = join(import.meta.dir, "../..");
const made: string[] = [];
afterAll(() => {
  // rm(1): node:fs' recursive rmSync takes ~5 s for the ~40 000 files of node_modules.
  if (made.length) Bun.spawnSync(["rm", "-rf", ...made]);
}, 30_000);

/** A copy of the tracked files, the way `git clone` would lay them out. */
function freshClone(): string {
  const dir = mkdtempSync(join(tmpdir(), "pcl-fresh-"));
  chmodSync(dir, 0o755); // as `git clone` makes it (mkdtemp's 0700 would shut out the postgres OS user)
  made.push(dir);
  const ls = Bun.spawnSync(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: repo });
  expect(ls.exitCode).toBe(0);
  for (const file of String(ls.stdout).split("\0").filter(Boolean)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    try {
      cpSync(join(repo, file), join(dir, file));
    } catch (e: any) {
      if (e?.code !== "ENOENT") throw e; // deleted in the working tree, not yet in git
    }
  }
  return dir;
}

/** The environment of a newcomer's shell: nothing of this test run's own settings. */
function newcomerEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(DATABASE_URL|DATA_DIR|PORT|HOST|WORKERS|REDIS_URL|ADMIN_BOOTSTRAP_TOKEN|TEST_|PCL_|EMBEDDED_PG_PORT|RATE_LIMIT|OPENWAY_)/.test(k)) env[k] = v;
  }
  return { ...env, ...extra };
}

describe("a fresh clone", () => {
  test("`bun run start` installs the dependencies, starts the embedded Postgres with demo data, and the printed verify command is allowed", async () => {
    const dir = freshClone();
    expect(await Bun.file(join(dir, "node_modules/postgres/package.json")).exists()).toBe(false);
    // The port and the embedded Postgres' port are chosen here only so that the test cannot collide
    // with anything running on the machine; everything else is README's command as written.
    const proc = Bun.spawn(["bun", "run", "start"], {
      cwd: dir,
      env: newcomerEnv({ PORT: String(await freePort()), HOST: "127.0.0.1", EMBEDDED_PG_PORT: String(await freePort()), WORKERS: "1" }),
      stdout: "pipe",
      stderr: "pipe",
    });
    let out = "";
    let err = "";
    const read = async (s: ReadableStream<Uint8Array>, to: (t: string) => void) => {
      const dec = new TextDecoder();
      for await (const chunk of s) to(dec.decode(chunk, { stream: true }));
    };
    const reading = Promise.all([read(proc.stdout, (t) => (out += t)), read(proc.stderr, (t) => (err += t))]);
    try {
      await sleepUntil(() => /Try a verify:[\s\S]*-d '(\{[^']+\})'/.test(out) || proc.exitCode !== null, "the demo banner", 90_000);
      expect({ exit: proc.exitCode, err: proc.exitCode === null ? "" : err }).toEqual({ exit: null, err: "" });
      expect(err).toContain("Installing the dependencies");
      const url = /curl -s (http:\/\/[^ ]+\/api\/v1\/access\/verify)/.exec(out)![1]!;
      const body = /-d '(\{[^']+\})'/.exec(out)![1]!;
      const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
      expect(r.status).toBe(200);
      expect(await r.json()).toMatchObject({ allow: true, reason: "granted", gate_id: "GATE_001" });
    } finally {
      proc.kill("SIGTERM");
      await proc.exited;
      await reading;
    }
    expect(proc.exitCode).toBe(0);
  }, 120_000);

  test("`bun run test` installs the dependencies and runs the suite's files", async () => {
    const dir = freshClone();
    // One small file stands for the suite (which this very run is); the Postgres is the one this
    // run uses, so the child neither looks for another nor starts its own.
    const proc = Bun.spawnSync(["bun", "run", "test", "test/index/schedule.test.ts"], {
      cwd: dir,
      env: newcomerEnv({ TEST_DATABASE_URL: process.env.PCL_TEST_ADMIN_URL! }),
      stdout: "pipe",
      stderr: "pipe",
      timeout: 90_000,
    });
    const text = String(proc.stdout) + String(proc.stderr);
    expect({ exit: proc.exitCode, text: proc.exitCode === 0 ? "" : text }).toEqual({ exit: 0, text: "" });
    expect(text).toContain("Installing the dependencies");
    expect(text).toMatch(/\b[1-9]\d* pass\b/);
    expect(text).toMatch(/\b0 fail\b/);
  }, 120_000);

  test("run as root from a directory other users cannot enter, the start says in one sentence what to do", () => {
    const home = mkdtempSync(join(tmpdir(), "pcl-home-")); // 0700, like root's home
    made.push(home);
    const check = () => checkReachableByOthers(join(home, "portcullis/.data"), "DATA_DIR");
    if (process.getuid!() === 0) {
      expect(check).toThrow(`The embedded Postgres runs as the OS user "postgres", which cannot enter ${home} (mode 700) to reach DATA_DIR in ${home}/portcullis/.data: clone the repository into a directory every user can enter (e.g. /srv or /opt), run as a user other than root, or set DATABASE_URL.`);
    } else {
      expect(check).not.toThrow(); // not root: Postgres runs as this user, who owns the directory
    }
  });
});
