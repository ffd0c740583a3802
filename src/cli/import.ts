// `bun run cli import …`: the bulk import of POST /api/v1/admin/import, from a file.
import { csvToImport, importData } from "../admin/import";
import type { Sql } from "../db/client";
import { ApiError } from "../errors";

export async function importCommand(sql: Sql, file: string, collection: string | undefined, text: string): Promise<number> {
  try {
    const { data, rowNumbers } = collection !== undefined || file.endsWith(".csv")
      ? csvToImport(collection ?? "", text)
      : { data: JSON.parse(text), rowNumbers: {} };
    const r = await importData(sql, { credentialId: null }, data, rowNumbers);
    console.log(`imported ${file} (revision ${r.revision}):`);
    for (const [c, n] of Object.entries(r.value.counts)) console.log(`  ${c}: ${n}`);
    return 0;
  } catch (e) {
    if (e instanceof ApiError) {
      console.error(`${file}: ${e.message}`);
      return 1;
    }
    if (e instanceof SyntaxError) {
      console.error(`${file}: not valid JSON (${e.message}); CSV files need --collection <name>`);
      return 1;
    }
    throw e;
  }
}
