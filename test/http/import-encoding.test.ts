// Bodies are UTF-8 (RFC 8259 for JSON; the import's CSV says so). A file saved in another encoding
// — Excel's "CSV" is Windows-1252 — was decoded with U+FFFD for every byte that is not UTF-8, so
// "Müller" was stored as "M\uFFFDller": a silent shift. Such a body is 400, and nothing is stored.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestService, type TestService } from "../setup";

let s: TestService;
beforeAll(async () => {
  s = await startTestService();
});
afterAll(() => s.stop());

async function send(path: string, type: string, body: Uint8Array<ArrayBuffer>): Promise<{ status: number; body: any }> {
  const res = await s.service.app.handle(new Request(`http://localhost${path}`, {
    method: "POST", headers: { authorization: `Bearer ${s.adminToken}`, "content-type": type }, body,
  }));
  return { status: res.status, body: await res.json() };
}
const latin1 = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0)) as Uint8Array<ArrayBuffer>; // "ü" → 0xFC
const users = async () => (await s.db.sql`select username from users order by username`).map((r) => r.username as string);

describe("bodies that are not UTF-8", () => {
  test("a Windows-1252 CSV is 400 naming the body, nothing stored; the same file in UTF-8 (with a BOM) imports as sent", async () => {
    const before = await users();
    const file = "username,display_name\r\nmueller,M\u00fcller\r\n";
    const r = await send("/api/v1/admin/import?collection=users", "text/csv", latin1(file));
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: "invalid_request", details: { field: "body" } });
    expect(r.body.error.message).toContain("UTF-8");
    expect(await users()).toEqual(before);
    const ok = await send("/api/v1/admin/import?collection=users", "text/csv", new TextEncoder().encode("\ufeff" + file) as Uint8Array<ArrayBuffer>);
    expect(ok.status).toBe(200);
    expect((await s.db.sql`select display_name from users where username = 'mueller'`)[0]!.display_name).toBe("M\u00fcller");
  });

  test("a CSV declared in another charset is 400 naming the content type", async () => {
    const r = await send("/api/v1/admin/import?collection=users", "text/csv; charset=windows-1252", latin1("username\nx1\n"));
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: "invalid_request", details: { field: "content-type" } });
    for (const ok of ["text/csv; charset=utf-8", "text/csv; charset=\"UTF-8\"", "text/csv;charset=utf8"]) {
      expect((await send("/api/v1/admin/import?collection=users", ok, latin1("username\nx2\n"))).status).toBe(200);
    }
  });

  test("JSON bodies with bytes that are not UTF-8: the import and the admin API answer 400, nothing stored", async () => {
    const before = await users();
    const imp = await send("/api/v1/admin/import", "application/json", latin1('{"users":[{"username":"j\u00fcrgen"}]}'));
    expect(imp.status).toBe(400);
    expect(imp.body.error).toMatchObject({ code: "invalid_request", details: { field: "body" } });
    const crud = await send("/api/v1/admin/users", "application/json", latin1('{"username":"j\u00fcrgen"}'));
    expect(crud.status).toBe(400);
    expect(crud.body.error).toMatchObject({ code: "invalid_request", details: { field: "body" } });
    expect(await users()).toEqual(before);
    // A UTF-8 BOM before JSON is still read as before (skipped).
    const bom = await send("/api/v1/admin/import", "application/json", new TextEncoder().encode('\ufeff{"users":[{"username":"j\u00fcrgen"}]}') as Uint8Array<ArrayBuffer>);
    expect(bom.status).toBe(200);
    expect(await users()).toContain("j\u00fcrgen");
  });
});
