// A small RFC 4180 CSV reader: comma-separated, fields optionally in double quotes ("" is a quote
// inside them; commas, CR and LF inside quotes are data), records end at CRLF or LF. Our own (60
// lines) rather than a package: the import reports the line a record *starts* on and words each
// malformed-quoting error for the operator; csv-parse (the maintained one) reports the line a
// record ends on and its own messages, so it would need a wrapper about this size on top.
// Blank lines are skipped; a leading UTF-8 BOM is ignored.

export interface CsvRecord {
  /** The physical line (1-based, the header is line 1) on which the record starts. */
  line: number;
  cells: string[];
}

export class CsvError extends Error {
  constructor(readonly line: number, message: string) {
    super(`line ${line}: ${message}`);
  }
}

export function parseCsv(text: string): CsvRecord[] {
  const out: CsvRecord[] = [];
  const n = text.length;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  while (i < n) {
    const start = line;
    const cells: string[] = [];
    for (;;) {
      let cell: string;
      if (text.charCodeAt(i) === 34 /* " */) {
        let j = i + 1;
        const parts: string[] = [];
        for (;;) {
          const q = text.indexOf('"', j);
          if (q < 0) throw new CsvError(start, "a quoted field is not closed");
          parts.push(text.slice(j, q));
          if (text.charCodeAt(q + 1) === 34) {
            parts.push('"');
            j = q + 2;
          } else {
            i = q + 1;
            break;
          }
        }
        cell = parts.join("");
        for (let k = cell.indexOf("\n"); k >= 0; k = cell.indexOf("\n", k + 1)) line++;
        const c = text.charCodeAt(i);
        if (i < n && c !== 44 && c !== 10 && c !== 13) throw new CsvError(line, "text after a closing quote (write a quote inside quotes as \"\")");
      } else {
        let j = i;
        while (j < n) {
          const c = text.charCodeAt(j);
          if (c === 44 || c === 10 || c === 13) break;
          if (c === 34) throw new CsvError(line, "a quote inside an unquoted field (quote the whole field and double the quote)");
          j++;
        }
        cell = text.slice(i, j);
        i = j;
      }
      cells.push(cell);
      if (i < n && text.charCodeAt(i) === 44) {
        i++;
        continue;
      }
      break; // end of record: at a line break or at the end of the text
    }
    if (text.charCodeAt(i) === 13) i++;
    if (text.charCodeAt(i) === 10) i++;
    if (i <= n) line++;
    if (!(cells.length === 1 && cells[0] === "")) out.push({ line: start, cells });
  }
  return out;
}
