// What a start prints for the person who ran it (src/banner.ts): with DATABASE_URL, the command
// that makes a console admin carries the same DATABASE_URL (without it the CLI would make the admin
// in an embedded Postgres this service never reads), and the banner never prints a password.
import { describe, expect, test } from "bun:test";
import { redactPassword, startBanner } from "../../src/banner";

describe("start banner", () => {
  test("with DATABASE_URL: the CLI command carries it, its password redacted", () => {
    const b = startBanner({ url: "http://localhost:3000", embeddedPg: null, databaseUrl: "postgres://pcl:s3cret@db.example:5432/portcullis", dataDir: "./.data", admins: 0 });
    expect(b).not.toContain("s3cret");
    expect(b).toContain("  Postgres: postgres://pcl:<password>@db.example:5432/portcullis (DATABASE_URL; give `bun run cli …` the same)");
    expect(b).toContain("  DATABASE_URL='postgres://pcl:<password>@db.example:5432/portcullis' bun run cli create-admin --username <you> --password");
    const trust = startBanner({ url: "http://localhost:3000", embeddedPg: null, databaseUrl: "postgres://postgres@127.0.0.1:5432/scratch", dataDir: "./.data", admins: 0 });
    expect(trust).toContain("  DATABASE_URL='postgres://postgres@127.0.0.1:5432/scratch' bun run cli create-admin --username <you> --password");
  });

  test("embedded: the plain command, and the embedded Postgres' URL", () => {
    const b = startBanner({ url: "http://localhost:3000", embeddedPg: "postgres://postgres:postgres@127.0.0.1:54329/portcullis", dataDir: "./.data", admins: 0 });
    expect(b).toContain("\n  bun run cli create-admin --username <you> --password");
    expect(b).toContain("  Postgres: postgres://postgres:postgres@127.0.0.1:54329/portcullis (embedded");
    expect(startBanner({ url: "http://localhost:3000", embeddedPg: null, databaseUrl: null, dataDir: "./.data", admins: 1 })).not.toContain("create-admin");
  });

  test("redactPassword keeps everything but the password", () => {
    expect(redactPassword("postgresql://a:b@h:5433/x?sslmode=require")).toBe("postgresql://a:<password>@h:5433/x?sslmode=require");
    expect(redactPassword("postgres://u@h/x")).toBe("postgres://u@h/x");
  });
});
