/**
 * The CLI's way to a cluster: the HTTP API of any node in `--endpoints`. Each request goes to the
 * endpoints in order until one answers; a network error or a 503 moves on to the next. Every error
 * that reaches the user is an `EdictError` with the server's stable `code`.
 */
import { EdictError } from '../errors.js';

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
  if (endpoints.length === 0) throw new EdictError('BAD_REQUEST', 'no endpoints given');
  for (const e of endpoints) {
    try {
      new URL(e);
    } catch {
      throw new EdictError('BAD_REQUEST', `bad endpoint '${e}'`);
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
  throw new EdictError('UNAVAILABLE', `no endpoint answered (${failures.join('; ')})`);
}

/** Throws the server's typed error for a non-2xx response. */
export async function expectOk(res: Response): Promise<Response> {
  if (res.ok) return res;
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = { code: 'INTERNAL', message: `HTTP ${res.status} ${res.statusText}` };
  }
  throw EdictError.fromJSON(body);
}

/** The path of a key in the HTTP API. */
export function keyPath(key: string): string {
  if (key.length === 0) throw new EdictError('BAD_KEY', 'empty key');
  return `/v1/kv/${encodeURIComponent(key)}`;
}
