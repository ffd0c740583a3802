// Body parsing with a per-route size bound, so a 4 KiB verify limit holds whatever the global
// limit is, and malformed JSON is a 400 with our error body.
import { ApiError } from "../errors";
import { decodeUtf8, NOT_UTF8 } from "../unicode";
import { MAX_BYTES } from "./body-guard";

/** A request's body as text, refusing bytes that are not UTF-8 (400 naming the body; see unicode.ts). */
export async function utf8Text(request: Request): Promise<string> {
  const text = decodeUtf8(await request.arrayBuffer());
  if (text === null) throw new ApiError("invalid_request", `body: ${NOT_UTF8}`, { field: "body" });
  return text;
}

/**
 * `strict`: bytes that are not UTF-8 are 400 (the admin API, which stores what it is sent); else
 * read as U+FFFD (verify, which stores no text of its body and answers as its native path does).
 */
export function jsonBody(maxBytes: number, strict = false) {
  return async ({ request }: { request: Request }) => {
    const declared = request.headers.get("content-length");
    if (declared !== null && +declared > maxBytes) throw tooLarge(maxBytes);
    const text = strict ? await utf8Text(request) : await request.text();
    // text.length counts UTF-16 units ≤ bytes: only long texts need the exact byte count.
    if (text.length > maxBytes || (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes)) throw tooLarge(maxBytes);
    if (text.length === 0) throw new ApiError("invalid_request", "body: a JSON body is required", { field: "body" });
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new ApiError("invalid_request", "body: not valid JSON", { field: "body" });
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new ApiError("invalid_request", "body: expected a JSON object", { field: "body" });
    }
    if (strict) refuseRepeatedKey(text);
    return value;
  };
}

const tooLarge = (max: number) => new ApiError("payload_too_large", `body is larger than ${max} bytes`, { limit: max });

/**
 * The parse hook of a route that takes a JSON object: ours (bounded, our error bodies); "json"
 * is never reached and only tells the OpenAPI generator the content type.
 */
export function jsonParse(maxBytes = MAX_BYTES): [ReturnType<typeof jsonBody>, "json"] {
  return [jsonBody(maxBytes, true), "json"];
}

/**
 * The first key that one object of `text` (valid JSON) names twice, or null. JSON.parse keeps the
 * last of them, so `{"mode": "locked", …, "mode": "normal"}` was written as normal — whatever a
 * proxy or log that reads the first one saw. One pass over the text, no allocation per value.
 */
export function repeatedKey(text: string): string | null {
  if (text.indexOf('"') === -1) return null;
  const stack: Array<Set<string> | null> = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 123) stack.push(new Set()); // {
    else if (c === 91) stack.push(null); // [
    else if (c === 125 || c === 93) stack.pop(); // } ]
    else if (c === 34) {
      let j = i + 1;
      let escaped = false;
      for (; j < text.length; j++) {
        const d = text.charCodeAt(j);
        if (d === 92) {
          j++;
          escaped = true;
        } else if (d === 34) break;
      }
      const keys = stack[stack.length - 1];
      if (keys) {
        // In an object a string followed by ':' is a key (JSON whitespace is all ≤ U+0020).
        let k = j + 1;
        while (text.charCodeAt(k) <= 32) k++;
        if (text.charCodeAt(k) === 58) {
          const key: string = escaped ? JSON.parse(text.slice(i, j + 1)) : text.slice(i + 1, j);
          if (keys.has(key)) return key;
          keys.add(key);
        }
      }
      i = j;
    }
  }
  return null;
}

/** 400 naming the first key an object of `text` gives twice (see repeatedKey). */
export function refuseRepeatedKey(text: string): void {
  const key = repeatedKey(text);
  if (key !== null) throw new ApiError("invalid_request", `${key}: given more than once in one JSON object`, { field: key });
}
