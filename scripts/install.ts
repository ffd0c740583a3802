// Runs first in `bun run start`, `bun run test` and the other scripts: installs the dependencies
// from bun.lock when node_modules is missing or out of date, so README's commands work on a fresh
// clone with nothing but Bun. Without node_modules Bun would auto-install into its global cache
// and run packages from there, where the `postgres` OS user the embedded Postgres runs as cannot
// reach initdb (EACCES), and where the test preload cannot resolve `postgres`.
// It imports only Bun and Node built-ins, so it runs before anything is installed; with
// node_modules in place it costs one `bun install --frozen-lockfile` that finds nothing to do.
import { existsSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const fresh = !existsSync(join(root, "node_modules"));
if (fresh) console.error("Installing the dependencies from bun.lock (bun install --frozen-lockfile) …");

// Not --silent: it would hide the reason of a failure too.
const run = Bun.spawnSync([process.execPath, "install", "--frozen-lockfile"], {
  cwd: root,
  stdin: "ignore",
  stdout: fresh ? 2 : "pipe", // stderr: a CLI's own output stays alone on stdout
  stderr: fresh ? "inherit" : "pipe",
});
if (run.exitCode !== 0) {
  if (!fresh) process.stderr.write(String(run.stderr) + String(run.stdout));
  const frozen = /lockfile is frozen/.test(String(run.stderr));
  console.error(frozen
    ? "bun.lock does not match package.json (above): run `bun install` to update it, and commit bun.lock."
    : "Installing the dependencies failed (above): the npm registry must be reachable for the install.");
  process.exit(1);
}
