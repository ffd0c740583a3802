// What a start prints for the person who ran it: where the service, its console and its database
// are, and — as long as nobody can sign in to the console — how to make an admin who can. Printed
// on every start (the demo's secrets are shown only once, at the first).
import type { Sql } from "./db/client";

/** Users who can sign in to the console: active, with a password and a live admin credential. */
export async function consoleAdmins(sql: Sql): Promise<number> {
  const [r] = await sql<{ n: number }[]>`
    select count(distinct u.id)::int as n from users u join credentials c on c.user_id = u.id
    where u.active and u.password_hash is not null and (u.valid_until is null or u.valid_until > now())
      and 'admin' = any(c.scopes) and c.kind <> 'session' and c.revoked_at is null
      and (c.expires_at is null or c.expires_at > now()) and (c.valid_from is null or c.valid_from <= now())`;
  return r!.n;
}

export interface BannerFacts {
  /** Where clients reach the service, e.g. http://localhost:3000. */
  url: string;
  /** The embedded Postgres' URL, or null when DATABASE_URL is set. */
  embeddedPg: string | null;
  /** DATABASE_URL, when set: the CLI must be given the same one. */
  databaseUrl?: string | null;
  dataDir: string;
  admins: number;
}

export function startBanner(f: BannerFacts): string {
  const lines = [
    `Portcullis is ready at ${f.url}`,
    `  console:  ${f.url}/console`,
    `  API docs: ${f.url}/swagger`,
  ];
  if (f.embeddedPg) {
    lines.push(`  Postgres: ${f.embeddedPg} (embedded, in ${f.dataDir}/pg; while this runs, \`bun run cli …\` with the same DATA_DIR uses it)`);
  }
  // With DATABASE_URL the CLI needs it too: without, it would use (or start) an embedded Postgres
  // in DATA_DIR and make the admin there, where this service never looks.
  const cli = f.databaseUrl ? `DATABASE_URL='${redactPassword(f.databaseUrl)}' bun run cli` : "bun run cli";
  if (f.databaseUrl) lines.push(`  Postgres: ${redactPassword(f.databaseUrl)} (DATABASE_URL; give \`bun run cli …\` the same)`);
  if (f.admins === 0) {
    lines.push(
      "No admin can sign in to the console yet. Make one (it asks for the password):",
      `  ${cli} create-admin --username <you> --password`,
    );
  }
  return lines.join("\n");
}

/** The address a person pastes into a browser: a wildcard bind is reached as localhost. */
export function publicUrl(host: string, port: number): string {
  const h = host === "0.0.0.0" || host === "::" || host === "" ? "localhost" : host.includes(":") ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

/** `url` with its password (if any) replaced by `<password>`: a banner goes to logs. */
export function redactPassword(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = "<password>";
    return u.toString().replace("%3Cpassword%3E", "<password>");
  } catch {
    return url;
  }
}
