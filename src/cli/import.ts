// `bun run cli import …`: the bulk import of POST /api/v1/admin/import, from a file. On a terminal
// a progress line (rows, rows/s, elapsed) is redrawn on stderr while it runs; it always ends with
// a summary table on stdout.
import { importData } from "../admin/import";
import { csvToImport } from "../admin/import-csv";
import type { ImportProgress, ImportResult } from "../admin/import-fields";
import type { Sql } from "../db/client";
import { ApiError } from "../errors";
import { refuseRepeatedKey } from "../http/body";

const n = (x: number) => x.toLocaleString("en-US");

/** Redraws one status line on a terminal (no-op elsewhere); at most 5 times a second. */
function progressLine(file: string, out: NodeJS.WriteStream) {
  const t0 = performance.now();
  let last: ImportProgress | null = null;
  let drawn = -Infinity;
  const draw = () => {
    const s = (performance.now() - t0) / 1000;
    let text = `importing ${file}: validating`;
    if (last?.stage === "passwords") text = `importing ${file}: hashing passwords ${n(last.done)}/${n(last.total)}`;
    else if (last) text = `importing ${file}: ${n(last.done)}/${n(last.total)} rows (${last.stage} done) · ${n(Math.round(last.done / Math.max(s, 0.001)))} rows/s`;
    out.write(`\r\x1b[2K${text} · ${s.toFixed(1)} s`);
  };
  if (!out.isTTY) return { update() {}, end() {} };
  const timer = setInterval(draw, 200);
  return {
    update(p: ImportProgress) {
      const stageDone = p.stage !== "passwords"; // a collection written: always shown
      last = p;
      if (stageDone || performance.now() - drawn > 200) {
        drawn = performance.now();
        draw();
      }
    },
    end() {
      clearInterval(timer);
      out.write("\r\x1b[2K");
    },
  };
}

/** The summary: rows, inserted, updated and unchanged per collection, a total, and the rate. */
export function summaryTable(r: ImportResult, seconds: number): string {
  const rows = Object.entries(r.counts).map(([c, count]) => {
    const ins = r.inserted[c as keyof ImportResult["inserted"]] ?? 0;
    const upd = r.updated[c as keyof ImportResult["updated"]] ?? 0;
    return [c, count!, ins, upd, count! - ins - upd] as const;
  });
  const sum = (i: 1 | 2 | 3 | 4) => rows.reduce((a, row) => a + row[i], 0);
  const table: Array<readonly [string, ...Array<string | number>]> = [
    ["collection", "rows", "inserted", "updated", "unchanged"],
    ...rows,
    ["total", sum(1), sum(2), sum(3), sum(4)],
  ];
  const cells = table.map((row) => row.map((v) => (typeof v === "number" ? n(v) : v)));
  const width = cells[0]!.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  const lines = cells.map((row) => "  " + row.map((v, i) => (i === 0 ? v.padEnd(width[i]!) : v.padStart(width[i]!))).join("  "));
  const total = sum(1);
  lines.push(`  ${n(total)} rows in ${seconds.toFixed(2)} s (${n(Math.round(total / Math.max(seconds, 0.001)))} rows/s)`);
  return lines.join("\n");
}

/** The file's JSON, refusing a field given twice in one object as POST /api/v1/admin/import does. */
function parseJson(text: string): unknown {
  const data = JSON.parse(text);
  refuseRepeatedKey(text);
  return data;
}

export async function importCommand(sql: Sql, file: string, collection: string | undefined, text: string): Promise<number> {
  const t0 = performance.now();
  const progress = progressLine(file, process.stderr);
  try {
    const { data, rowNumbers } = collection !== undefined || file.endsWith(".csv")
      ? csvToImport(collection ?? "", text)
      : { data: parseJson(text), rowNumbers: {} };
    const r = await importData(sql, { credentialId: null }, data, rowNumbers, (p) => progress.update(p));
    progress.end();
    console.log(`imported ${file} (revision ${r.revision}):`);
    console.log(summaryTable(r.value, (performance.now() - t0) / 1000));
    return 0;
  } catch (e) {
    progress.end();
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
