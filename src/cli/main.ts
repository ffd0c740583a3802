// Operator CLI: `bun run cli <command>`. Uses DATABASE_URL; when it is unset, the embedded Postgres
// in DATA_DIR — the one a running `bun run start` started (found from its postmaster.pid), else
// one it starts itself for the command. Secrets are printed once and never stored.
import { readFileSync } from "node:fs";
import { loadConfig } from "../config";
import { createSql, type Sql } from "../db/client";
import { runningEmbedded, startEmbedded } from "../db/embedded";
import { describeConnectError, StartupError } from "../db/startup";
import { migrate } from "../db/migrate";
import { observeCommits, write } from "../admin/tx";
import { ACK_CHANNEL, isComplete, Propagation } from "../nodes/propagation";
import { hashSecret, newSecret } from "../tokens";
import { decodeUtf8, NOT_UTF8 } from "../unicode";

const USAGE = `usage: bun run cli <command>
  migrate                                  apply pending migrations from sql/
  create-admin [--username NAME] [--label TEXT] [--password]
                                           create an admin credential (user created if missing); prints its secret once;
                                           --password also sets the user's console password: asked without echo on a
                                           terminal, else read from stdin's first line (never from the command line)
  revoke <credential-id>                   revoke a credential
  import <file.json>                       bulk upsert (the JSON body of POST /api/v1/admin/import)
  import --collection <name> <file.csv>    bulk upsert one collection from CSV
  import-openway <postgres-url> [--events] move an openway_access (Django) database in, one transaction,
                                           idempotent; --events also copies access_accessevent
  consistency [--sample N]                 compare decisions from SQL with an index built from a snapshot
                                           (every pair, or N random ones); exit 1 on any mismatch`;

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
}

async function connect(): Promise<{ sql: Sql; close(): Promise<void> }> {
  const config = loadConfig();
  let url = config.databaseUrl;
  let stop: (() => Promise<void>) | null = null;
  if (!url) {
    const running = runningEmbedded(config.dataDir);
    if (running) {
      url = running.url;
      console.error(`using the running service's embedded Postgres: ${running.url} (DATA_DIR ${config.dataDir})`);
    } else {
      const pg = await startEmbedded(config.dataDir, config.embeddedPgPort);
      url = pg.url;
      stop = pg.stop;
      // Said, because a service started with DATABASE_URL is not this database: without the same
      // DATABASE_URL here, a create-admin would make an admin it never sees.
      console.error(`DATABASE_URL is unset and no service runs on DATA_DIR ${config.dataDir}: using its embedded Postgres, started for this command (${pg.url})`);
    }
  }
  const sql = createSql(url, { max: 2 });
  try {
    await migrate(sql);
  } catch (e) {
    await sql.end({ timeout: 1 }).catch(() => {});
    await stop?.();
    throw typeof (e as any)?.code === "string" ? describeConnectError(e, url) : e;
  }
  const acks = await listenForAcks(sql, url, config);
  return { sql, close: async () => { await acks.finish(); await sql.end({ timeout: 2 }); await stop?.(); } };
}

/**
 * Writes from the CLI are acknowledged like the API's: it has no feed, so it LISTENs on the
 * acknowledgement channel itself (before any write), and before exiting waits until every live
 * node applied the last revision it wrote, or PROPAGATION_TIMEOUT_MS, and says which.
 */
async function listenForAcks(sql: Sql, url: string, config: ReturnType<typeof loadConfig>) {
  const propagation = new Propagation(sql, { nodeTimeoutMs: config.nodeTimeoutMs, timeoutMs: config.propagationTimeoutMs });
  const listener = createSql(url, { max: 1, applicationName: "portcullis-cli", onnotify: (_c, payload) => propagation.onNotify(payload) });
  await listener.unsafe(`listen ${ACK_CHANNEL}`);
  let last = 0;
  // A write that changed nothing (a revoke of an unknown id) answers the current revision: only
  // revisions past this one are this command's to wait for.
  const before = (await sql<{ n: number }[]>`select n::float8 as n from pcl_revision`)[0]!.n;
  observeCommits(sql, (revision) => (last = Math.max(last, revision)));
  return {
    async finish() {
      try {
        if (last <= before || !propagation.enabled) return;
        const p = await propagation.await(last);
        if (p.nodes === 0) return; // no service running on this database
        console.log(isComplete(p)
          ? `propagation: complete (${p.nodes} of ${p.nodes} live nodes applied revision ${last})`
          : `propagation: partial (${p.applied} of ${p.nodes} live nodes applied revision ${last} within ${config.propagationTimeoutMs} ms; pending: ${p.pending.join(", ") || "unknown"}) — the change is committed`);
      } finally {
        await listener.end({ timeout: 1 });
      }
    },
  };
}

/** `passwordHash`: also set the user's password (argon2id), for the console's sign-in. */
export async function createAdmin(sql: Sql, username: string, label: string, passwordHash: string | null = null): Promise<{ id: string; secret: string; revision: number }> {
  const secret = newSecret();
  const w = await write(sql, { credentialId: null }, async (tx, audit) => {
    await tx`insert into users (username, display_name) values (${username}, 'Administrator') on conflict (username) do nothing`;
    const [u] = await tx`select id from users where username = ${username}`;
    if (passwordHash !== null) {
      await tx`update users set password_hash = ${passwordHash}, updated_at = now() where id = ${u!.id}`;
      audit({ action: "update", entity: "user", entityId: u!.id, before: null, after: { password: "set", via: "cli" } });
    }
    const [c] = await tx`insert into credentials (user_id, kind, label, scopes, secret_hash)
                         values (${u!.id}, 'api', ${label}, ${["admin"]}, ${hashSecret(secret)}) returning id`;
    audit({ action: "create", entity: "credential", entityId: c!.id, before: null, after: { id: c!.id, user_id: u!.id, kind: "api", scopes: ["admin"], label, via: "cli" } });
    return c!.id as string;
  });
  return { id: w.value, secret, revision: w.revision };
}

export async function revoke(sql: Sql, id: string): Promise<number | null> {
  const w = await write(sql, { credentialId: null }, async (tx, audit) => {
    const [c] = await tx`update credentials set revoked_at = now(), updated_at = now() where id = ${id} and revoked_at is null returning id`;
    if (c) audit({ action: "revoke", entity: "credential", entityId: id, before: null, after: { revoked: true, via: "cli" } });
    return c ? 1 : 0;
  });
  return w.value ? w.revision : null;
}

async function main(argv: string[]): Promise<number> {
  const args = [...argv];
  const cmd = args.shift();
  if (!cmd || cmd === "help" || cmd === "--help") {
    console.log(USAGE);
    return cmd ? 0 : 2;
  }
  // An unknown command is told before anything connects (or starts an embedded Postgres).
  if (!["migrate", "create-admin", "revoke", "import", "import-openway", "consistency"].includes(cmd)) {
    console.error(`unknown command: ${cmd}\n${USAGE}`);
    return 2;
  }
  // The password is asked for before anything connects: a typo costs nothing.
  let passwordHash: string | null = null;
  if (cmd === "create-admin" && args.includes("--password")) {
    const i = args.indexOf("--password");
    const next = args[i + 1];
    if (next !== undefined && !next.startsWith("--")) {
      console.error("create-admin: --password takes no value (a password on the command line ends up in the shell history and in ps); type it when asked, or pipe it on stdin");
      return 2;
    }
    args.splice(i, 1);
    const { readNewPassword, PasswordInputError } = await import("./password");
    try {
      passwordHash = await Bun.password.hash(await readNewPassword(args.includes("--username") ? args[args.indexOf("--username") + 1]! : "admin"), "argon2id");
    } catch (e) {
      if (!(e instanceof PasswordInputError)) throw e;
      console.error(`create-admin: ${e.message}`);
      return 2;
    }
  }
  const { sql, close } = await connect();
  try {
    switch (cmd) {
      case "migrate":
        console.log("migrations up to date");
        return 0;
      case "create-admin": {
        const username = flag(args, "--username") ?? "admin";
        const label = flag(args, "--label") ?? "created with the CLI";
        const c = await createAdmin(sql, username, label, passwordHash);
        console.log(`admin credential ${c.id} for user ${username} (revision ${c.revision})`);
        if (passwordHash !== null) console.log(`password set: ${username} can sign in to the console (/console)`);
        console.log(`secret (shown once): ${c.secret}`);
        return 0;
      }
      case "revoke": {
        const id = args[0];
        if (!id) break;
        const revision = await revoke(sql, id);
        console.log(revision === null ? `${id}: no such active credential` : `${id} revoked (revision ${revision})`);
        return revision === null ? 1 : 0;
      }
      case "import": {
        const { importCommand } = await import("./import");
        const collection = flag(args, "--collection");
        const file = args[0];
        if (!file) break;
        let bytes: Buffer;
        try {
          bytes = readFileSync(file);
        } catch (e: any) {
          console.error(`${file}: ${e?.code === "ENOENT" ? "no such file" : e?.code === "EISDIR" ? "a directory, not a file" : `cannot be read (${e?.code ?? e})`}; nothing was imported`);
          return 1;
        }
        const text = decodeUtf8(bytes);
        if (text === null) {
          console.error(`${file}: ${NOT_UTF8}; nothing was imported`);
          return 1;
        }
        return await importCommand(sql, file, collection, text);
      }
      case "import-openway": {
        const { importOpenwayCommand } = await import("../compat/import-openway");
        const events = args.includes("--events");
        const url = args.find((a) => !a.startsWith("--"));
        if (!url) break;
        return await importOpenwayCommand(sql, url, { events, retentionDays: loadConfig().eventRetentionDays });
      }
      case "consistency": {
        const { checkConsistency, snapshotSource } = await import("../admin/consistency");
        const sample = flag(args, "--sample");
        if (sample !== undefined && !/^\d+$/.test(sample)) break;
        const report = await checkConsistency(sql, snapshotSource(sql), { sample: sample === undefined ? 0 : Number(sample) });
        console.log(JSON.stringify(report, null, 2));
        return report.consistent ? 0 : 1;
      }
    }
    console.error(USAGE);
    return 2;
  } finally {
    await close();
  }
}

if (import.meta.main) {
  main(Bun.argv.slice(2)).then((code) => process.exit(code), (e) => {
    // One sentence with the fix for what an operator can meet (src/db/startup.ts), never a stack.
    if (!(e instanceof StartupError) && typeof e?.code === "string" && process.env.DATABASE_URL) e = describeConnectError(e, process.env.DATABASE_URL);
    console.error(e?.message ?? e);
    process.exit(1);
  });
}
