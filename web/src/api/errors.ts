/** A failed API call: the gateway's `{"error":{"code","message"}}`, or `network` when no answer came. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }

  /** No answer at all (offline, gateway down): the request may be retried as it was. */
  get isNetwork(): boolean {
    return this.status === 0;
  }

  /** Retrying the same request later can succeed. */
  get isRetryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

/** Builds the error of an answer that was not 2xx, from its body when it has our shape. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  let code = `http_${response.status}`;
  let message = response.statusText || `HTTP ${response.status}`;
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    if (body?.error?.code) code = body.error.code;
    if (body?.error?.message) message = body.error.message;
  } catch {
    // Not JSON (a proxy's page): keep the status line.
  }
  return new ApiError(response.status, code, message);
}

export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.isNetwork ? 'No connection to the server.' : error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}
