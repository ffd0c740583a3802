// A CSV file of one collection → the rows an import takes, with each row's line in the file.
import { Kind, type TSchema } from "@sinclair/typebox";
import { ApiError } from "../errors";
import { CsvError, parseCsv } from "./csv";
import { IMPORT_COLLECTIONS, IMPORT_MODELS, type ImportCollection, type ImportData, type Row, type RowNumbers, rowError, unwrapNullable } from "./import-fields";

// ---------------------------------------------------------------------------------------------
// CSV

const CSV_BOOL: Record<string, boolean> = { true: true, false: false, "1": true, "0": false, yes: true, no: false };

type Cell = "text" | "bool" | "int" | "json" | "list";

/** How a cell of this field is read, from the field's model: a list of objects is a JSON cell, a list of names is split. */
function cellOf(s: TSchema): Cell {
  const { model } = unwrapNullable(s);
  switch (model[Kind]) {
    case "Boolean": return "bool";
    case "Number": return "int";
    case "Array": return model.items[Kind] === "Object" ? "json" : "list";
    default: return "text";
  }
}

/**
 * A CSV file of one collection → the rows importData takes, with each row's line number.
 * The header row names the collection's keys (any order; unknown or repeated → 400). An empty
 * cell is an absent key (so CSV cannot clear a column; use JSON null). Cells are text except:
 * `active` true/false (also 1/0, yes/no), `unlock_ms` an integer, `windows` a JSON list,
 * `scopes` scope names separated by spaces or commas ("admin user").
 */
export function csvToImport(collection: string, text: string): { data: ImportData; rowNumbers: RowNumbers } {
  if (!(IMPORT_COLLECTIONS as readonly string[]).includes(collection)) {
    throw new ApiError("invalid_request", `collection: unknown collection "${collection}" (one of ${IMPORT_COLLECTIONS.join(", ")})`, { field: "collection" });
  }
  const c = collection as ImportCollection;
  const model = IMPORT_MODELS[c];
  const spec = model.properties as Record<string, TSchema>;
  let records;
  try {
    records = parseCsv(text);
  } catch (e) {
    if (e instanceof CsvError) throw rowError(c, e.line, "body", e.message.replace(/^line \d+: /, ""));
    throw e;
  }
  if (records.length === 0) throw rowError(c, 1, "body", "a header row is required");
  const header = records[0]!.cells.map((h) => h.trim());
  const headerLine = records[0]!.line;
  header.forEach((h, j) => {
    if (!Object.hasOwn(spec, h)) throw rowError(c, headerLine, h || `column ${j + 1}`, `unknown column (${c} has: ${Object.keys(spec).join(", ")})`);
    if (header.indexOf(h) !== j) throw rowError(c, headerLine, h, "repeated column");
  });
  for (const k of model.required ?? []) if (!header.includes(k)) throw rowError(c, headerLine, k, "required column missing");
  const types = header.map((h) => cellOf(spec[h]!));
  const rows: Row[] = [];
  const lines: number[] = [];
  for (let r = 1; r < records.length; r++) {
    const { line, cells } = records[r]!;
    if (cells.length !== header.length) {
      throw rowError(c, line, cells.length < header.length ? header[cells.length]! : "row", `the row has ${cells.length} fields, the header ${header.length}`);
    }
    const row: Row = {};
    for (let j = 0; j < cells.length; j++) {
      const cell = cells[j]!;
      if (cell === "") continue;
      const h = header[j]!;
      switch (types[j]) {
        case "bool": {
          const b = CSV_BOOL[cell.trim().toLowerCase()];
          if (b === undefined) throw rowError(c, line, h, "must be true or false");
          row[h] = b;
          break;
        }
        case "int":
          if (!/^\s*-?\d{1,9}\s*$/.test(cell)) throw rowError(c, line, h, "must be an integer");
          row[h] = Number(cell);
          break;
        case "json":
          try {
            row[h] = JSON.parse(cell);
          } catch {
            throw rowError(c, line, h, 'must be a JSON list, e.g. [{"days":[1,2,3,4,5],"start":"08:00","end":"18:00"}]');
          }
          break;
        case "list":
          row[h] = cell.split(/[\s,]+/).filter((s) => s !== "");
          break;
        default:
          row[h] = cell;
      }
    }
    rows.push(row);
    lines.push(line);
  }
  return { data: { [c]: rows }, rowNumbers: { [c]: lines } };
}
