// The baseline for bench/verify.ts: a bare Bun.serve doing the same work shape as a verify, and
// nothing else — parse the JSON body, SHA-256 the token, one Map.get over BENCH_CREDENTIALS
// entries, answer JSON of the same fields. What Portcullis adds on top (Elysia routing and
// validation, the decision itself, the access event, metrics, request ids) is the gap measured.
//
//   PORT=3999 BENCH_CREDENTIALS=20000 BENCH_USERS=10000 bun bench/bare-server.ts
import { credentialId, secretFor, userId, userOfCredential } from "./ids";

const port = Number(process.env.PORT ?? 3999);
const credentials = Number(process.env.BENCH_CREDENTIALS ?? 20_000);
const users = Number(process.env.BENCH_USERS ?? 10_000);
const REVISION = 1;

interface Cred {
  id: string;
  userId: string;
}
const byHash = new Map<string, Cred>();
for (let n = 1; n <= credentials; n++) {
  byHash.set(Bun.SHA256.hash(secretFor(n), "hex") as unknown as string, { id: credentialId(n), userId: userId(userOfCredential(n, users)) });
}

const server = Bun.serve({
  port,
  hostname: "127.0.0.1",
  async fetch(req) {
    const url = req.url;
    if (req.method === "POST" && url.endsWith("/api/v1/access/verify")) {
      const body = (await req.json()) as { token: string; gate_id: string };
      const cred = byHash.get(Bun.SHA256.hash(body.token, "hex") as unknown as string);
      return Response.json(cred === undefined
        ? { allow: false, reason: "unknown_token", gate_id: body.gate_id, revision: REVISION }
        : { allow: true, reason: "granted", gate_id: body.gate_id, user_id: cred.userId, revision: REVISION });
    }
    if (url.endsWith("/readyz")) return Response.json({ status: "ready", credentials: byHash.size });
    return new Response("not found", { status: 404 });
  },
});

console.log(JSON.stringify({ msg: "bare server listening", port: server.port, credentials: byHash.size }));
process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
process.on("SIGINT", () => {
  server.stop(true);
  process.exit(0);
});
