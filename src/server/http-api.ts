/**
 * The HTTP/JSON API every node serves (issue 8, item 5), for curl and browsers:
 *
 *   GET    /v1/kv/{key}   value as the body, version in ETag; 404 when absent
 *   PUT    /v1/kv/{key}   body is the value; If-Match: "<version>" makes it a compare-and-set
 *                         (412 on mismatch); If-None-Match: * creates only; If-Match: * updates only
 *   DELETE /v1/kv/{key}   same conditions; 404 when absent
 *   GET    /v1/status     nodes, health, buckets per node, transitions in progress
 *   GET    /v1/map        the routing table
 *   POST   /v1/nodes/{id}/drain   move every bucket off a node
 *   GET    /metrics       Prometheus metrics
 *
 * Keys are the percent-decoded path after `/v1/kv/`, as UTF-8. Errors are JSON `{code, message}`
 * with a fitting status; `WRONG_LEADER` and `STALE_MAP` are 421 (Misdirected Request) with
 * `details: {leaderHint?, mapVersion}`. Bodies are read with a hard limit and never buffered past it.
 *
 * Writes over HTTP carry no session: each request is one attempt, applied each time it arrives, so
 * a caller that retries a PUT or DELETE whose answer it lost may apply it twice (use If-Match to
 * make a retry safe). Exactly-once retries are the client protocol's (docs/client.md).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from '../core/lib/limits.js';
import { EdictError } from '../errors.js';
import type { KvService, WriteConditions } from './kv-service.js';

/** Statuses for error codes; anything unknown is a 500. */
const STATUS: Record<string, number> = {
  BAD_REQUEST: 400,
  BAD_KEY: 400,
  KEY_TOO_LARGE: 414,
  NOT_FOUND: 404,
  UNKNOWN_NODE: 404,
  NO_ROUTE: 404,
  METHOD_NOT_ALLOWED: 405,
  CONDITION_FAILED: 412,
  VALUE_TOO_LARGE: 413,
  UNAVAILABLE: 503,
  TIMEOUT: 504,
  // This node cannot serve the key now; a client refreshes `/v1/map` and asks the leader.
  WRONG_LEADER: 421,
  STALE_MAP: 421,
  QUEUE_FULL: 503,
  // HTTP writes carry no session, so a node should never answer them with these two. Should one
  // leak: SESSION_EXPIRED means "not applied", so retry (503); STALE_SEQ means "outcome unknown",
  // a fault as far as an HTTP caller is concerned (500, like INTERNAL).
  SESSION_EXPIRED: 503,
  STALE_SEQ: 500,
};

export interface HttpApiOptions {
  /** Largest request body accepted; a value plus nothing else. */
  readonly bodyBytesMax: number;
}

export const defaultHttpApiOptions: HttpApiOptions = { bodyBytesMax: VALUE_BYTES_MAX };

export interface HttpApiComponents {
  readonly service: KvService;
  readonly registry: Registry | null;
}

/** Returns a `node:http` request listener serving the API. */
export function createHttpApi(
  components: HttpApiComponents,
  options: HttpApiOptions = defaultHttpApiOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    route(components, options, req, res).catch((error: unknown) => sendError(res, error));
  };
}

async function route(
  components: HttpApiComponents,
  options: HttpApiOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0] as string;
  const method = req.method ?? 'GET';
  if (path.startsWith('/v1/kv/')) return kv(components.service, options, method, path, req, res);
  const only = (allowed: string): void => {
    if (method !== allowed) {
      throw new EdictError('METHOD_NOT_ALLOWED', `${method} ${path}`, { allow: allowed });
    }
  };
  const drain = /^\/v1\/nodes\/(\d{1,9})\/drain$/.exec(path);
  if (drain !== null) {
    only('POST');
    await components.service.drain(Number(drain[1]));
    return sendJson(res, 202, { draining: Number(drain[1]) });
  }
  switch (path) {
    case '/v1/status':
      only('GET');
      return sendJson(res, 200, await components.service.status());
    case '/v1/map':
      only('GET');
      return sendJson(res, 200, await components.service.map());
    case '/metrics': {
      only('GET');
      if (components.registry === null) throw new EdictError('NO_ROUTE', 'metrics are disabled');
      const text = await components.registry.metrics();
      res.writeHead(200, { 'Content-Type': components.registry.contentType });
      res.end(text);
      return;
    }
    default:
      throw new EdictError('NO_ROUTE', `no route ${path}`);
  }
}

async function kv(
  service: KvService,
  options: HttpApiOptions,
  method: string,
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const key = parseKey(path.slice('/v1/kv/'.length));
  switch (method) {
    case 'GET': {
      const found = await service.get(key);
      if (found === null) throw new EdictError('NOT_FOUND', 'no such key');
      res.writeHead(200, {
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(found.value.length),
        ETag: `"${found.version}"`,
      });
      res.end(found.value);
      return;
    }
    case 'PUT': {
      const conditions = parseConditions(req);
      const value = await readBody(req, options.bodyBytesMax);
      const { version } = await service.put(key, value, conditions);
      res.setHeader('ETag', `"${version}"`);
      return sendJson(res, 200, { version });
    }
    case 'DELETE': {
      const deleted = await service.delete(key, parseConditions(req));
      if (deleted === null) throw new EdictError('NOT_FOUND', 'no such key');
      return sendJson(res, 200, { deleted: true, version: deleted.version });
    }
    default:
      throw new EdictError('METHOD_NOT_ALLOWED', `${method} on a key`, {
        allow: 'GET, PUT, DELETE',
      });
  }
}

function parseKey(encoded: string): Uint8Array {
  let text: string;
  try {
    text = decodeURIComponent(encoded);
  } catch {
    throw new EdictError('BAD_KEY', 'the key is not valid percent-encoded UTF-8');
  }
  if (text.length === 0) throw new EdictError('BAD_KEY', 'empty key');
  const key = new TextEncoder().encode(text);
  if (key.length > KEY_BYTES_MAX) {
    throw new EdictError('KEY_TOO_LARGE', `keys are at most ${KEY_BYTES_MAX} bytes`);
  }
  return key;
}

function parseConditions(req: IncomingMessage): WriteConditions {
  const ifMatch = req.headers['if-match'];
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifMatch !== undefined && ifNoneMatch !== undefined) {
    throw new EdictError('BAD_REQUEST', 'If-Match and If-None-Match together');
  }
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== '*') throw new EdictError('BAD_REQUEST', 'If-None-Match must be *');
    return { ifExists: false };
  }
  if (ifMatch === undefined) return {};
  const tag = ifMatch.trim();
  if (tag === '*') return { ifExists: true };
  const match = /^(?:W\/)?"?(\d{1,15})"?$/.exec(tag);
  if (match === null) throw new EdictError('BAD_REQUEST', 'If-Match must be "<version>" or *');
  return { ifVersion: Number(match[1]) };
}

/** Reads the body, refusing past `limit` bytes without buffering the excess. */
async function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length'] ?? '0');
  const tooLarge = (): EdictError =>
    new EdictError('VALUE_TOO_LARGE', `values are at most ${limit} bytes`);
  if (declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks, total));
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}

function sendError(res: ServerResponse, error: unknown): void {
  const code =
    error !== null &&
    typeof error === 'object' &&
    typeof (error as { code?: unknown }).code === 'string'
      ? (error as { code: string }).code
      : 'INTERNAL';
  const message = error instanceof Error ? error.message : String(error);
  const status = STATUS[code] ?? 500;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const details = error instanceof EdictError ? error.details : undefined;
  const allow = details?.allow;
  if (typeof allow === 'string') res.setHeader('Allow', allow);
  // The rest of an oversized body is not read: close rather than drain it.
  if (code === 'VALUE_TOO_LARGE') res.setHeader('Connection', 'close');
  if (status === 503) res.setHeader('Retry-After', '1');
  // A redirect's details (leaderHint, mapVersion) tell a client where to go; nothing else leaks.
  const redirect = status === 421 && details !== undefined ? { details } : {};
  sendJson(res, status, {
    code,
    message: status === 500 ? 'internal error' : message,
    ...redirect,
  });
}
