// Naming rules of the generated benchmark graph, shared by the SQL generator (graph.ts), the load
// script builder (verify.ts) and the baseline server (bare-server.ts). Pure: no imports, so the
// baseline server loads nothing it would not need.
//
// Entity n (1-based) has a fixed id, so a load generator can name credentials and gates without
// reading them back. Each rule has a SQL twin in graph.ts; keep the two in step.

/** Width of the zero-padded number in every id (wide enough for 100M rows). */
export const ID_WIDTH = 9;
const pad = (n: number) => String(n).padStart(ID_WIDTH, "0");

export const userId = (n: number) => `u_bench_${pad(n)}`;
export const groupId = (n: number) => `g_bench_${pad(n)}`;
export const zoneId = (n: number) => `z_bench_${pad(n)}`;
export const gateId = (n: number) => `GATE_${pad(n)}`;
export const credentialId = (n: number) => `c_bench_${pad(n)}`;

/**
 * The secret of credential n: the real token shape (`pcl_` + 43 characters, like 32 random bytes in
 * base64url), but derivable, so the load generator knows every secret while the database keeps
 * only its SHA-256, as in production.
 */
export const SECRET_PREFIX = "pcl_bench_";
export const SECRET_LENGTH = 47;
export const secretFor = (n: number) => SECRET_PREFIX + String(n).padStart(SECRET_LENGTH - SECRET_PREFIX.length, "0");

/** The user credential n belongs to (credentials are dealt round-robin over users). */
export const userOfCredential = (n: number, users: number) => ((n - 1) % users) + 1;
