// What both HTTP listeners — the native API and the openway_access compat port — read off a
// request the same way: its id and its client's address.

let seq = 0;
const bootId = Date.now().toString(36) + Math.random().toString(36).slice(2, 6);
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/** A client's own X-Request-Id when it is sane, else a cheap unique one (no crypto per request). */
export function requestId(given: string | null): string {
  return given !== null && REQUEST_ID.test(given) ? given : `${bootId}-${(++seq).toString(36)}`;
}

/** The client's address: the socket peer, or with TRUST_PROXY the first X-Forwarded-For entry. */
export function sourceAddress(server: { requestIP(r: Request): { address: string } | null } | null, request: Request, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = request.headers.get("x-forwarded-for")?.split(",")[0]?.trim();
    if (forwarded) return forwarded.slice(0, 64);
  }
  return server?.requestIP(request)?.address ?? "local";
}
