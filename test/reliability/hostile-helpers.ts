// What the hostile tests share: the API.md error contract as a checker, and HTTP on a raw socket
// (for Host headers, request lines and bytes a fetch() client would not send).
import { STATUS } from "../../src/errors";

export interface Seen { status: number; headers: Headers; text: string }

/** Why an answer breaks the contract, or null. */
export function problem(method: string, route: string, body: string | Uint8Array | undefined, a: Seen): string | null {
  if (a.status >= 500) {
    // The one documented 5xx: verify waited for a min_revision that does not exist yet.
    const waited = a.status === 503 && route.startsWith("/api/v1/access/verify") && typeof body === "string" && body.includes("min_revision");
    if (!waited) return `status ${a.status}`;
  }
  if (!a.headers.get("x-request-id")) return "no X-Request-Id";
  if (a.status < 300 || method === "HEAD") return null;
  if (route === "/api/v1/access/verify" && method === "GET" && a.status === 403) {
    try {
      return JSON.parse(a.text).allow === false ? null : "403 without a verify answer";
    } catch {
      return "403 without a verify answer";
    }
  }
  let parsed: any;
  try {
    parsed = JSON.parse(a.text);
  } catch {
    return `non-JSON error body: ${a.text.slice(0, 80)}`;
  }
  const e = parsed?.error;
  const keys = parsed && typeof parsed === "object" ? Object.keys(parsed) : [];
  if (keys.length !== 1 || keys[0] !== "error" || !e || typeof e !== "object") return `not {"error": …}: ${a.text.slice(0, 80)}`;
  const extra = Object.keys(e).filter((k) => !["code", "message", "details"].includes(k));
  if (typeof e.code !== "string" || typeof e.message !== "string" || extra.length) return `bad error object: ${a.text.slice(0, 80)}`;
  if (e.details !== undefined && (typeof e.details !== "object" || e.details === null || Array.isArray(e.details))) return "details is not an object";
  if (!(e.code in STATUS)) return `undocumented code ${e.code}`;
  if (STATUS[e.code as keyof typeof STATUS] !== a.status) return `code ${e.code} with status ${a.status}`;
  if ((a.status === 429 || a.status === 503) && !a.headers.get("retry-after")) return `${a.status} without Retry-After`;
  return null;
}

/** Writes `bytes` to 127.0.0.1:`port` and collects what comes back until the peer closes (or `ms`). */
export function rawSocket(port: number, bytes: string | Uint8Array, ms = 2000): Promise<string> {
  return new Promise<string>((resolve) => {
    let got = "";
    const done = () => resolve(got);
    const timer = setTimeout(done, ms);
    Bun.connect({
      hostname: "127.0.0.1", port,
      socket: {
        open(s) { s.write(bytes); },
        data(_s, d) { got += Buffer.from(d).toString("latin1"); },
        close() { clearTimeout(timer); done(); },
        error() { clearTimeout(timer); done(); },
      },
    }).catch(done);
  });
}

export interface RawAnswer extends Seen { raw: string }

/** One HTTP/1.1 request with exactly these request line and headers (Connection: close added, and
 * Content-Length for a body unless the headers say Transfer-Encoding). */
export async function rawHttp(port: number, requestLine: string, headers: Array<[string, string]>, body = ""): Promise<RawAnswer | null> {
  const framed = body !== "" && !headers.some(([k]) => /^transfer-encoding$/i.test(k));
  const all = framed ? [...headers, ["Content-Length", String(Buffer.byteLength(body))] as [string, string]] : headers;
  const head = [requestLine, ...all.map(([k, v]) => `${k}: ${v}`), "Connection: close"].join("\r\n");
  const raw = await rawSocket(port, `${head}\r\n\r\n${body}`);
  const m = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/.exec(raw);
  if (!m) return null;
  const end = raw.indexOf("\r\n\r\n");
  const h = new Headers();
  for (const line of raw.slice(m[0].length, end).split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) h.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  let text = raw.slice(end + 4);
  if ((h.get("transfer-encoding") ?? "").includes("chunked")) {
    let out = "", at = 0;
    for (;;) {
      const nl = text.indexOf("\r\n", at);
      const size = parseInt(text.slice(at, nl), 16);
      if (!(size > 0)) break;
      out += text.slice(nl + 2, nl + 2 + size);
      at = nl + 2 + size + 2;
    }
    text = out;
  }
  return { status: Number(m[1]), headers: h, text: Buffer.from(text, "latin1").toString("utf8"), raw };
}
