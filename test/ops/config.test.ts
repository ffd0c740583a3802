// The configuration a person writes by hand: every value that is not what a setting takes stops
// the start with the setting named (src/config.ts), rather than being read as something else.
import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "../../src/config";

const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
};

describe("configuration", () => {
  test("switches take on/off (1/0, true/false, yes/no) and refuse anything else", () => {
    // DEMO_DATA=off loaded the demo graph (only "0" and "false" meant off); TRUST_PROXY=on stayed off.
    expect(loadConfig({ DEMO_DATA: "off" }).demoData).toBe(false);
    expect(loadConfig({ DEMO_DATA: "no", DATABASE_URL: "postgres://x@h/db" }).demoData).toBe(false);
    expect(loadConfig({ DEMO_DATA: "on", DATABASE_URL: "postgres://x@h/db" }).demoData).toBe(true);
    expect(loadConfig({ DATABASE_URL: "postgres://x@h/db" }).demoData).toBe(false);
    expect(loadConfig({}).demoData).toBe(true);
    expect(loadConfig({ TRUST_PROXY: "on" }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: "YES" }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: "1" }).trustProxy).toBe(true);
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ HTTP_METRICS: "off" }).httpMetrics).toBe(false);
    expect(loadConfig({ HTTP_METRICS: "0" }).httpMetrics).toBe(false);
    expect(loadConfig({}).httpMetrics).toBe(true);
    expect(problems({ DEMO_DATA: "maybe", TRUST_PROXY: "enabled", HTTP_METRICS: "2" })).toEqual([
      'HTTP_METRICS="2": expected on or off (also 1/0, true/false, yes/no)',
      'TRUST_PROXY="enabled": expected on or off (also 1/0, true/false, yes/no)',
      'DEMO_DATA="maybe": expected on or off (also 1/0, true/false, yes/no)',
    ]);
  });

  test("numbers are plain digits: hex, exponents, signs and spaces are refused, not converted", () => {
    expect(loadConfig({ PORT: "8080", WORKERS: "2" })).toMatchObject({ port: 8080, workers: 2 });
    for (const raw of ["0x1F90", "8e3", "+8080", " 8080", "8080.0", "abc"]) {
      expect(problems({ PORT: raw })).toEqual([`PORT=${JSON.stringify(raw)}: expected an integer from 0 to 65535`]);
    }
    expect(problems({ WORKERS: "abc" })).toEqual(['WORKERS="abc": expected an integer from 1 to 256']);
    expect(problems({ WORKERS: "0" })).toEqual(['WORKERS="0": expected an integer from 1 to 256']);
  });

  test("settings that cannot go together say how to fix them", () => {
    expect(problems({ PORT: "3000", OPENWAY_COMPAT_PORT: "3000" })).toEqual(["OPENWAY_COMPAT_PORT=3000: the same port as PORT; the compat listener needs a port of its own"]);
    expect(problems({ OPENWAY_COMPAT_PORT: "3000" })).toHaveLength(1); // PORT's default
    expect(problems({ PORT: "3001", OPENWAY_COMPAT_PORT: "3000" })).toEqual([]);
    expect(problems({ RATE_LIMIT_MODE: "exact" })).toEqual(["RATE_LIMIT_MODE=exact needs REDIS_URL (e.g. redis://127.0.0.1:6379): set it, or use RATE_LIMIT_MODE=local"]);
  });
});
