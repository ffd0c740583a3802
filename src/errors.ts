// One error type with a stable code; one code → status table. Handlers throw ApiError and the
// app's error handler renders {"error": {code, message, details?}}.

export const STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof STATUS;

export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    /** Seconds, for 429 and 503 answers. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }

  get status(): number {
    return STATUS[this.code];
  }

  body() {
    return { error: this.details ? { code: this.code, message: this.message, details: this.details } : { code: this.code, message: this.message } };
  }
}

export const invalid = (field: string, message: string) =>
  new ApiError("invalid_request", `${field}: ${message}`, { field });
export const notFound = (what: string) => new ApiError("not_found", `${what} not found`);
export const conflict = (field: string, message: string) => new ApiError("conflict", message, { field });
