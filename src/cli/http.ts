/**
 * The CLI's way to a cluster: the HTTP API of any node in `--endpoints`. Each request goes to the
 * endpoints in order until one answers; a network error or a 503 moves on to the next. Every error
 * that reaches the user is a `CliError` with the server's stable `code`.
 */

/** An error for the user: a stable code and a message. */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface HttpTarget {
  readonly endpoints: readonly string[];
  readonly timeoutMs: number;
}

/** Parses `--endpoints host:port,host:port` into base URLs. */
export function parseEndpoints(text: string): string[] {
  const endpoints = text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e.length > 0)
    .map((e) => (/^https?:\/\//.test(e) ? e : `http://${e}`).replace(/\/$/, ''));
  if (endpoints.length === 0) throw new CliError('BAD_REQUEST', 'no endpoints given');
  for (const e of endpoints) {
    try {
      new URL(e);
    } catch {
      throw new CliError('BAD_REQUEST', `bad endpoint '${e}'`);
    }
  }
  return endpoints;
}

/** Sends one request; returns the first response that is not a 503, or throws UNAVAILABLE. */
export async function request(
  target: HttpTarget,
  path: string,
  init: RequestInit = {},
): Promise<Response> {
  const failures: string[] = [];
  for (const endpoint of target.endpoints) {
    try {
      const res = await fetch(`${endpoint}${path}`, {
        ...init,
        signal: AbortSignal.timeout(target.timeoutMs),
      });
      if (res.status !== 503) return res;
      failures.push(`${endpoint}: 503`);
      await res.body?.cancel();
    } catch (error) {
      failures.push(`${endpoint}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  throw new CliError('UNAVAILABLE', `no endpoint answered (${failures.join('; ')})`);
}

/** Throws the server's typed error for a non-2xx response. */
export async function expectOk(res: Response): Promise<Response> {
  if (res.ok) return res;
  let code = `HTTP_${res.status}`;
  let message = res.statusText;
  try {
    const body = (await res.json()) as { code?: unknown; message?: unknown };
    if (typeof body.code === 'string') code = body.code;
    if (typeof body.message === 'string') message = body.message;
  } catch {
    // Not a JSON error body: keep the status.
  }
  throw new CliError(code, message);
}

/** The path of a key in the HTTP API. */
export function keyPath(key: string): string {
  if (key.length === 0) throw new CliError('BAD_KEY', 'empty key');
  return `/v1/kv/${encodeURIComponent(key)}`;
}
