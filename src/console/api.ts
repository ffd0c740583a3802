// The API client: the bearer token from the session, JSON in and out, errors as ApiFailure
// carrying the API's code and `details.field` so forms can show them next to the field.
//
// The session lives in sessionStorage: it survives a reload and stays in this tab only, and it is
// gone when the tab closes — on a shared control-room workstation an admin token should not outlive
// the window it was typed into. (localStorage would keep it across restarts for anyone who opens
// the browser next.)

export interface Session {
  token: string;
  /** "login": a session token made by signing in (sign-out revokes it); "token": a pasted API token. */
  via: "login" | "token";
  username: string | null;
  expiresAt: string | null;
  tokenId: string | null;
}

const KEY = "portcullis.console.session";

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}
export function saveSession(s: Session | null): void {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
}

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
  /** The request field the API blamed, e.g. "username", "windows[0].start", "subject.user_id". */
  get field(): string | undefined {
    return typeof this.details.field === "string" ? this.details.field : undefined;
  }
}

let onUnauthorized: (f: ApiFailure) => void = () => {};
export function setUnauthorizedHandler(fn: (f: ApiFailure) => void): void {
  onUnauthorized = fn;
}

export interface CallOptions {
  token?: string | null;
  signal?: AbortSignal;
  /** Do not sign out on a 401 (the sign-in form itself). */
  quiet401?: boolean;
}

export async function api<T = any>(method: string, path: string, body?: unknown, opts: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  const token = opts.token === undefined ? loadSession()?.token : opts.token;
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: opts.signal });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new ApiFailure(0, "network", "The service could not be reached. Check the connection and try again.");
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = data?.error;
    const failure = new ApiFailure(res.status, err?.code ?? "http_" + res.status, err?.message ?? `${res.status} ${res.statusText}`, err?.details ?? {});
    if (res.status === 401 && !opts.quiet401) onUnauthorized(failure);
    throw failure;
  }
  return data as T;
}

export const qs = (params: Record<string, string | number | boolean | null | undefined>) => {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") u.set(k, String(v));
  const s = u.toString();
  return s ? "?" + s : "";
};

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

// ---- Names: ids → human names, resolved in batches from the service's index ----------------

const names = new Map<string, string>();
const waiting = new Map<string, Array<(n: string) => void>>();
let timer: ReturnType<typeof setTimeout> | null = null;

/** Remembers a name the console already knows (from a list it fetched). */
export function rememberName(id: string, name: string): void {
  names.set(id, name);
}

export function knownName(id: string): string | undefined {
  return names.get(id);
}

/** The name of a user, group, zone, schedule or gate id; batched, cached; the id itself if unknown. */
export function nameOf(id: string): Promise<string> {
  const known = names.get(id);
  if (known !== undefined) return Promise.resolve(known);
  return new Promise((resolve) => {
    const list = waiting.get(id);
    if (list) list.push(resolve);
    else waiting.set(id, [resolve]);
    timer ??= setTimeout(flushNames, 30);
  });
}

async function flushNames(): Promise<void> {
  timer = null;
  const batch = [...waiting.keys()].slice(0, 100);
  if (batch.length === 0) return;
  let found: Record<string, { name: string }> = {};
  try {
    found = (await api<{ names: Record<string, { name: string }> }>("GET", "/api/v1/admin/names" + qs({ ids: batch.join(",") }))).names;
  } catch {
    // fall back to ids
  }
  for (const id of batch) {
    const n = found[id]?.name ?? id;
    if (found[id]) names.set(id, n);
    for (const r of waiting.get(id) ?? []) r(n);
    waiting.delete(id);
  }
  if (waiting.size) timer = setTimeout(flushNames, 0);
}

/** A text node that shows an id until its name arrives. */
export function nameText(id: string | null | undefined): Node {
  const span = document.createElement("span");
  if (!id) {
    span.textContent = "—";
    return span;
  }
  span.textContent = names.get(id) ?? id;
  span.title = id;
  if (!names.has(id)) void nameOf(id).then((n) => (span.textContent = n));
  return span;
}
