// What Django REST framework does with a request before the original views ran, reproduced for
// the compatibility port: body parsing (JSON, form, multipart), field validation with DRF's
// messages, and DRF's error bodies ({"detail": …} and {"<field>": ["…"]}).

/** An answer that ends the request: status and JSON body (plus headers). */
export class DrfError extends Error {
  constructor(readonly status: number, readonly body: unknown, readonly headers?: Record<string, string>) {
    super(typeof body === "object" && body !== null && "detail" in body ? String((body as any).detail) : "validation error");
  }
}

export const fieldErrors = (errors: Record<string, string[]>) => new DrfError(400, errors);
export const nonFieldError = (message: string) => new DrfError(400, { non_field_errors: [message] });
export const detail = (status: number, message: string, headers?: Record<string, string>) => new DrfError(status, { detail: message }, headers);

const MAX_BODY_BYTES = 1024 * 1024;

/**
 * request.data as DRF builds it: JSON (application/json), form fields (urlencoded or multipart;
 * the last value of a repeated key, like Django's QueryDict), or {} when there is no body or no
 * content type. Unparseable JSON is 400 {"detail": "JSON parse error - …"}; another content type 415.
 */
export async function requestData(request: Request): Promise<unknown> {
  const contentType = request.headers.get("content-type");
  const declared = request.headers.get("content-length");
  if (declared !== null && +declared > MAX_BODY_BYTES) throw detail(413, "Request body is too large.");
  if (!contentType) return {};
  const mediaType = contentType.split(";")[0]!.trim().toLowerCase();
  if (mediaType === "application/json" || mediaType.endsWith("+json")) {
    const text = await request.text();
    if (text.length > MAX_BODY_BYTES) throw detail(413, "Request body is too large.");
    if (text.trim() === "") return {};
    try {
      return JSON.parse(text);
    } catch (e) {
      throw detail(400, `JSON parse error - ${(e as Error).message}`);
    }
  }
  if (mediaType === "application/x-www-form-urlencoded") {
    const text = await request.text();
    if (text.length > MAX_BODY_BYTES) throw detail(413, "Request body is too large.");
    return lastValues(new URLSearchParams(text));
  }
  if (mediaType === "multipart/form-data") {
    let form: FormData;
    try {
      form = await request.formData();
    } catch (e) {
      throw detail(400, `Multipart form parse error - ${(e as Error).message}`);
    }
    const out: Record<string, unknown> = {};
    form.forEach((v, k) => {
      if (typeof v === "string") out[k] = v; // files are not fields
    });
    return out;
  }
  throw detail(415, `Unsupported media type "${contentType}" in request.`);
}

function lastValues(params: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of params) out[k] = v;
  return out;
}

/** A serializer's data must be a dict: DRF names the Python type it got instead. */
export function asObject(data: unknown): Record<string, unknown> {
  if (typeof data === "object" && data !== null && !Array.isArray(data)) return data as Record<string, unknown>;
  const type = data === null ? "NoneType" : Array.isArray(data) ? "list" : typeof data === "string" ? "str"
    : typeof data === "boolean" ? "bool" : Number.isInteger(data) ? "int" : "float";
  throw nonFieldError(`Invalid data. Expected a dictionary, but got ${type}.`);
}

// ---------------------------------------------------------------------------------------------
// Fields. Each returns the value, `undefined` when absent, or pushes DRF's message into `errors`.

export type Errors = Record<string, string[]>;
const fail = (errors: Errors, field: string, message: string) => {
  errors[field] = [message];
  return undefined;
};

export interface CharOptions {
  required?: boolean;
  allowBlank?: boolean;
  allowNull?: boolean;
  trim?: boolean;
  maxLength?: number;
}

/** serializers.CharField: strings and numbers (as text); trims unless trim=false. */
export function charField(data: Record<string, unknown>, field: string, errors: Errors, o: CharOptions = {}): string | null | undefined {
  const raw = data[field];
  if (raw === undefined) return o.required ? fail(errors, field, "This field is required.") : undefined;
  if (raw === null) return o.allowNull ? null : fail(errors, field, "This field may not be null.");
  if (typeof raw !== "string" && typeof raw !== "number") return fail(errors, field, "Not a valid string.");
  let s = String(raw);
  if (o.trim !== false) s = s.trim();
  if (s === "" && !o.allowBlank) return fail(errors, field, "This field may not be blank.");
  if (o.maxLength !== undefined && s.length > o.maxLength) {
    return fail(errors, field, `Ensure this field has no more than ${o.maxLength} characters.`);
  }
  // DRF's ProhibitNullCharactersValidator; here it also keeps a NUL from reaching Postgres (whose
  // own error was answered as a 400 {"detail"} naming "body").
  if (s.includes("\u0000")) return fail(errors, field, "Null characters are not allowed.");
  return s;
}

const TRUE = new Set(["t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "1"]);
const FALSE = new Set(["f", "F", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "0"]);

/** serializers.BooleanField: true/false, 1/0 and DRF's spellings ("yes", "off", …). */
export function booleanField(data: Record<string, unknown>, field: string, errors: Errors): boolean | undefined {
  const raw = data[field];
  if (raw === undefined) return undefined;
  if (raw === true || raw === 1 || (typeof raw === "string" && TRUE.has(raw))) return true;
  if (raw === false || raw === 0 || (typeof raw === "string" && FALSE.has(raw))) return false;
  if (raw === null) return fail(errors, field, "This field may not be null.");
  return fail(errors, field, "Must be a valid boolean.");
}

/** serializers.IntegerField: integers, and strings such as "12" or "12.0". */
export function integerField(data: Record<string, unknown>, field: string, errors: Errors): number | undefined {
  const raw = data[field];
  if (raw === undefined) return undefined;
  if (raw === null) return fail(errors, field, "This field may not be null.");
  let n = NaN;
  if (typeof raw === "number") n = raw;
  else if (typeof raw === "string" && raw.length <= 1000 && /^\s*[-+]?\d+(\.0*)?\s*$/.test(raw)) n = Number(raw.replace(/\.0*\s*$/, ""));
  if (!Number.isSafeInteger(n)) return fail(errors, field, "A valid integer is required.");
  return n;
}
