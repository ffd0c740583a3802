// The compat tests' client: real HTTP to the compatibility listener (JSON, form, multipart, raw).
import { startTestService, type TestService } from "../setup";

/** A port nobody listens on right now (OPENWAY_COMPAT_PORT cannot say 0). */
export function freePort(): number {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = s.port!;
  s.stop(true);
  return port;
}

export const TEST_TOKEN_KEY = "compat-test-key-0123456789abcdef0123456789abcdef";

export interface CompatService extends TestService {
  compatBase: string;
  compat(method: string, path: string, init?: CompatInit): Promise<CompatRes>;
  /** The revision the database is at (for min_revision on the native side). */
  headRevision(): Promise<number>;
  /** Waits until this service's index has applied the database's current revision. */
  caughtUp(): Promise<number>;
}

export interface CompatInit {
  json?: unknown;
  form?: Record<string, string>;
  multipart?: Record<string, string>;
  raw?: string;
  /** Authorization: Token <key>. */
  token?: string;
  headers?: Record<string, string>;
}

export interface CompatRes {
  status: number;
  body: any;
  text: string;
  headers: Headers;
}

export async function startCompatService(env: Record<string, string> = {}): Promise<CompatService> {
  // A port taken between freePort() and listen makes the start fail: try a few.
  let svc: TestService | null = null;
  let lastError: unknown;
  for (let attempt = 0; attempt < 5 && svc === null; attempt++) {
    try {
      svc = await startTestService({ OPENWAY_COMPAT_PORT: String(freePort()), COMPAT_TOKEN_KEY: TEST_TOKEN_KEY, ...env });
    } catch (e) {
      lastError = e;
    }
  }
  if (svc === null) throw lastError;
  const s = svc;
  const compatBase = `http://127.0.0.1:${s.service.compat!.port}`;
  const compat: CompatService["compat"] = async (method, path, init = {}) => {
    const headers: Record<string, string> = { ...init.headers };
    if (init.token !== undefined) headers.authorization = `Token ${init.token}`;
    let body: BodyInit | undefined = init.raw;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers["content-type"] ??= "application/json";
    } else if (init.form) {
      body = new URLSearchParams(init.form).toString();
      headers["content-type"] ??= "application/x-www-form-urlencoded";
    } else if (init.multipart) {
      const fd = new FormData();
      for (const [k, v] of Object.entries(init.multipart)) fd.append(k, v);
      body = fd;
    }
    const res = await fetch(compatBase + path, { method, headers, body });
    const text = await res.text();
    let parsed: any = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {}
    return { status: res.status, body: parsed, text, headers: res.headers };
  };
  const headRevision = async () => (await s.db.sql<{ n: number }[]>`select n from pcl_revision`)[0]!.n;
  const caughtUp = async () => {
    const head = await headRevision();
    if (!(await s.service.deps.feed.waitFor(head, 5000))) throw new Error(`index did not reach revision ${head}`);
    return head;
  };
  return { ...s, compatBase, compat, headRevision, caughtUp };
}
