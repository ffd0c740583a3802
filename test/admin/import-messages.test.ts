// The bulk import's words for a bad row, in memory (no database): each problem TypeBox finds in a
// row model, or a field's own check, answers the message and field path clients have always read.
import { describe, expect, test } from "bun:test";
import { ApiError } from "../../src/errors";
import { validateImport } from "../../src/admin/import-validate";

const HUNDRED_AND_ONE = Array.from({ length: 101 }, () => ({ days: [1], start: "08:00", end: "09:00" }));

const CASES: [unknown, string][] = [
  [{users:[{username:5}]}, "users row 1: username: must be a string"],
  [{users:[{username:""}]}, "users row 1: username: must not be empty"],
  [{users:[{username:"a".repeat(151)}]}, "users row 1: username: must be at most 150 characters"],
  [{users:[{username:"u",password:"short"}]}, "users row 1: password: must be at least 8 characters"],
  [{users:[{username:"u\u0000"}]}, "users row 1: username: must not contain NUL characters"],
  [{users:[{username:"u",active:"yes"}]}, "users row 1: active: must be true or false"],
  [{users:[{username:"u",valid_from:"2026-02-30T00:00:00Z"}]}, "users row 1: valid_from: 2026-02-30 is not a calendar date"],
  [{users:[{username:"u",valid_from:5}]}, "users row 1: valid_from: must be an RFC 3339 date-time with an offset, e.g. 2026-01-01T00:00:00Z"],
  [{users:[{username:null}]}, "users row 1: username: required"],
  [{users:[{username:"u",active:null}]}, "users row 1: active: must not be null"],
  [{users:[{email:"x",colour:1}]}, "users row 1: colour: unknown field"],
  [{users:["row"]}, "users row 1: row: must be an object"],
  [{gates:[{id:"bad id!",name:"g"}]}, "gates row 1: id: must match ^[A-Za-z0-9_.:-]{1,64}$"],
  [{gates:[{id:"G",name:"g",unlock_ms:1.5}]}, "gates row 1: unlock_ms: must be an integer"],
  [{gates:[{id:"G",name:"g",unlock_ms:600001}]}, "gates row 1: unlock_ms: must be from 0 to 600000"],
  [{gates:[{id:"G",name:"g",unlock_ms:600000.5}]}, "gates row 1: unlock_ms: must be an integer"],
  [{gates:[{id:"G",name:"g",mode:"open"}]}, "gates row 1: mode: must be one of normal, locked, disabled"],
  [{schedules:[{name:"s",timezone:"Mars/Olympus",windows:[]}]}, "schedules row 1: timezone: not an IANA timezone name (e.g. Europe/Berlin)"],
  [{schedules:[{name:"s",timezone:"UTC",windows:"x"}]}, "schedules row 1: windows: must be a list of {\"days\", \"start\", \"end\"}"],
  [{schedules:[{name:"s",timezone:"UTC",windows:HUNDRED_AND_ONE}]}, "schedules row 1: windows: at most 100 windows"],
  [{schedules:[{name:"s",timezone:"UTC",windows:[{days:[1],start:"08:00",end:"09:00"},3]}]}, "schedules row 1: windows[1]: must be {\"days\", \"start\", \"end\"}"],
  [{schedules:[{name:"s",timezone:"UTC",windows:[{start:5,colour:"red"}]}]}, "schedules row 1: windows[0].colour: unknown field"],
  [{schedules:[{name:"s",timezone:"UTC",windows:[{days:[9],start:"08:00"}]}]}, "schedules row 1: windows[0].end: must be HH:MM"],
  [{schedules:[{name:"s",timezone:"UTC",windows:[{days:[9],start:"25:00",end:"09:00"}]}]}, "schedules row 1: windows[0].start: must be HH:MM between 00:00 and 23:59"],
  [{schedules:[{name:"s",timezone:"UTC",windows:[{days:[],start:"08:00",end:"09:00"}]}]}, "schedules row 1: windows[0].days: must name at least one ISO weekday"],
  [{schedules:[{name:"s",timezone:"UTC",windows:[{days:[1,"2"],start:"08:00",end:"09:00"}]}]}, "schedules row 1: windows[0].days: must be a list of ISO weekdays (1 = Monday … 7 = Sunday)"],
  // An unknown key is named as sent: not JSON Pointer's escapes (~1 for /, ~0 for ~), and a key of digits is a key, not an index.
  [{schedules:[{name:"s",timezone:"UTC",windows:[{days:[1],start:"08:00",end:"09:00","a/b~c":1}]}]}, "schedules row 1: windows[0].a/b~c: unknown field"],
  [{schedules:[{name:"s",timezone:"UTC",windows:[{days:[1],start:"08:00",end:"09:00","7":1}]}]}, "schedules row 1: windows[0].7: unknown field"],
  [{credentials:[{username:"u",kind:"badge",secret:"SECRET"}]}, "credentials row 1: kind: must be one of card, pin, api, device, session"],
  [{credentials:[{username:"u",kind:"card",secret:"SECRET",scopes:["admin","root"]}]}, "credentials row 1: scopes[1]: must be \"admin\" or \"user\""],
  [{credentials:[{username:"u",kind:"card",secret:"SECRET",scopes:"admin"}]}, "credentials row 1: scopes: must be a list of scopes (\"admin\", \"user\")"],
];

describe("import row problems: message and field", () => {
  test.each(CASES)("%j → %s", (data, message) => {
    let error: unknown;
    try {
      validateImport(data);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ApiError);
    const e = error as ApiError;
    expect(e.message).toBe(message);
    const [, c, row, field] = /^(\w+) row (\d+): ([^:]+): /.exec(message)!;
    expect(e.details).toEqual({ collection: c, row: Number(row), field });
  });

  test("good rows of every collection pass", () => {
    const plan = validateImport({
      users: [{ username: "u", email: null, active: true, valid_from: "2026-01-01T00:00:00Z", valid_until: "2027-01-01T00:00:00+01:00" }],
      groups: [{ name: "g", parent: null }],
      memberships: [{ group: "g", username: "u" }],
      zones: [{ name: "z" }],
      gates: [{ id: "G_1", name: "g", zone: "z", mode: "locked", unlock_ms: 0 }],
      schedules: [{ name: "s", timezone: "Europe/Berlin", windows: [{ days: [1, 7], start: "22:00", end: "06:00" }] }],
      grants: [{ group: "g", zone: "z", effect: "deny", schedule: "s" }],
      credentials: [{ username: "u", kind: "card", secret: "SECRET", scopes: ["admin", "user", "user"], expires_at: null }],
    });
    expect(Object.keys(plan.parts)).toHaveLength(8);
  });
});
