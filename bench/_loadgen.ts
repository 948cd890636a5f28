/**
 * The closed-loop load generator of `npm run bench -- cluster`, after
 * `../shared/bench/loadgen.mjs`: `clients` concurrent clients each keep exactly one request in
 * flight for a warm-up and then a measured window, and the successful ones' latencies go into a
 * {@link Histogram}. One Node process saturates one core near 15k requests/s, so the parent runs
 * this in several worker processes (`_loadgen-worker.ts`, `runWorkers`) and adds up their results.
 *
 * Targets, i.e. how one logical operation becomes a request:
 *   etcd          etcd 3.4's v3 JSON gateway: POST /v3/kv/put and /v3/kv/range with base64 key and
 *                 value; reads are linearizable (`serializable: false`)
 *   edict-http    Edict's HTTP API: PUT /v1/kv/{key} with the raw value, GET /v1/kv/{key}
 *   edict-client  the client library, `connect()` from src/client (msgpack over TCP)
 *
 * Operations: `put` (a value of `valueSize` bytes to a random key of `keys`), `get` (a linearizable
 * read of a random key), `mixed` (90 % gets, 10 % puts), and `fill` (every key in a range once,
 * the preload). Everything is bounded: each request by `requestTimeoutMs`, the run by its window
 * (a request still in flight at the end is waited for, at most `requestTimeoutMs`), the fill by
 * `deadlineMs`. A client that sees an error waits 10 ms before its next request, so a dead server
 * is not spun against.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { Histogram, type SerializedHistogram } from './_histogram.js';

export type Target = 'etcd' | 'edict-http' | 'edict-client';
export type Op = 'put' | 'get' | 'mixed' | 'fill';

export interface LoadSpec {
  readonly target: Target;
  /** `host:port` of each server; client i talks to endpoint (clientOffset + i) mod n. */
  readonly endpoints: readonly string[];
  readonly op: Op;
  /** Concurrent clients in this process. */
  readonly clients: number;
  /** Index of this process's first client in the whole run (for the endpoint round-robin). */
  readonly clientOffset: number;
  readonly valueSize: number;
  /** Keys are `${keyPrefix}${i}` (i zero-padded to 8 digits) for i in [0, keys). */
  readonly keys: number;
  readonly keyPrefix: string;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly requestTimeoutMs: number;
  /** `fill` only: the keys [from, to) to write, and a time limit. */
  readonly fill?: { readonly from: number; readonly to: number; readonly deadlineMs: number };
  /**
   * Timed runs only: also cut the measured window into slices of this many milliseconds, each with
   * its own histogram and errors (a request belongs to the slice in which it started), so that a
   * caller can tell phases of one long run apart.
   */
  readonly sliceMs?: number;
}

/** One slice of a timed run's measured window (`LoadSpec.sliceMs`). */
export interface LoadSlice {
  readonly histogram: SerializedHistogram;
  readonly errors: Record<string, number>;
}

export interface LoadResult {
  /** Successful operations in the measured window (a read of a missing key included). */
  readonly ops: number;
  /** Length of the measured window (for `fill`: of the whole fill), in seconds. */
  readonly seconds: number;
  readonly histogram: SerializedHistogram;
  /** Failed operations in the window, by error code. */
  readonly errors: Record<string, number>;
  /** Reads that found no value (not errors; they should be 0 after a preload). */
  readonly notFound: number;
  /** CPU time of this process during the window, in µs. */
  readonly cpuUs: number;
  /** With `sliceMs`: the window's slices in order, the first beginning with the window. */
  readonly slices?: readonly LoadSlice[];
}

/** How one operation went: `ok`, `notFound`, or an error code. */
type Outcome = 'ok' | 'notFound' | string;

interface Driver {
  run(client: number, op: 'put' | 'get', key: number): Promise<Outcome>;
  close(): Promise<void>;
}

export const keyName = (prefix: string, i: number): string =>
  `${prefix}${String(i).padStart(8, '0')}`;

/** A printable value of `size` bytes (the same bytes for every request; content is irrelevant). */
function valueOf(size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += 1) out[i] = 0x61 + ((i * 7) % 26);
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface HttpAnswer {
  readonly status: number;
  readonly text: string;
  readonly error?: string;
}

/** One HTTP request on a keep-alive agent; never rejects, bounded by `timeoutMs`. */
function request(
  agent: http.Agent,
  endpoint: { host: string; port: number },
  method: string,
  path: string,
  body: Buffer | string | undefined,
  contentType: string,
  timeoutMs: number,
): Promise<HttpAnswer> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (answer: HttpAnswer): void => {
      if (!done) {
        done = true;
        resolve(answer);
      }
    };
    const headers: Record<string, string | number> = {};
    if (body !== undefined) {
      headers['content-type'] = contentType;
      headers['content-length'] = Buffer.byteLength(body);
    }
    const req = http.request(
      { host: endpoint.host, port: endpoint.port, method, path, headers, agent },
      (res) => {
        let text = '';
        res.setEncoding('latin1');
        res.on('data', (chunk: string) => {
          if (text.length < 4096) text += chunk;
        });
        res.on('end', () => finish({ status: res.statusCode ?? 0, text }));
        res.on('error', (e: NodeJS.ErrnoException) =>
          finish({ status: 0, text: '', error: e.code ?? 'RESPONSE_ERROR' }),
        );
      },
    );
    req.setTimeout(timeoutMs, () => {
      finish({ status: 0, text: '', error: 'TIMEOUT' });
      req.destroy();
    });
    req.on('error', (e: NodeJS.ErrnoException) =>
      finish({ status: 0, text: '', error: e.code ?? 'REQUEST_ERROR' }),
    );
    req.end(body);
  });
}

function parseEndpoint(text: string): { host: string; port: number } {
  const at = text.lastIndexOf(':');
  const host = text.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(text.slice(at + 1));
  if (at < 0 || !(port > 0 && port < 65_536)) throw new Error(`not host:port: ${text}`);
  return { host, port };
}

/** The `code` field of a JSON error body, if any. */
function codeIn(text: string): string | null {
  try {
    const body = JSON.parse(text) as { code?: unknown };
    if (typeof body.code === 'string') return body.code;
    if (typeof body.code === 'number') return `GRPC_${body.code}`;
  } catch {
    // not JSON
  }
  return null;
}

function httpDriver(spec: LoadSpec): Driver {
  const endpoints = spec.endpoints.map(parseEndpoint);
  const agents = endpoints.map(
    () =>
      new http.Agent({ keepAlive: true, maxSockets: spec.clients, maxFreeSockets: spec.clients }),
  );
  const value = valueOf(spec.valueSize);
  const valueB64 = value.toString('base64');
  const route = (client: number): [http.Agent, { host: string; port: number }] => {
    const i = (spec.clientOffset + client) % endpoints.length;
    return [agents[i] as http.Agent, endpoints[i] as { host: string; port: number }];
  };
  const close = async (): Promise<void> => {
    for (const agent of agents) agent.destroy();
  };
  if (spec.target === 'etcd') {
    return {
      async run(client, op, key) {
        const [agent, endpoint] = route(client);
        const k = Buffer.from(keyName(spec.keyPrefix, key)).toString('base64');
        const answer =
          op === 'put'
            ? await request(
                agent,
                endpoint,
                'POST',
                '/v3/kv/put',
                `{"key":"${k}","value":"${valueB64}"}`,
                'application/json',
                spec.requestTimeoutMs,
              )
            : await request(
                agent,
                endpoint,
                'POST',
                '/v3/kv/range',
                `{"key":"${k}","serializable":false}`,
                'application/json',
                spec.requestTimeoutMs,
              );
        if (answer.error !== undefined) return answer.error;
        if (answer.status !== 200 || answer.text.includes('"error"')) {
          return codeIn(answer.text) ?? `HTTP_${answer.status}`;
        }
        if (op === 'get' && !answer.text.includes('"kvs"')) return 'notFound';
        return 'ok';
      },
      close,
    };
  }
  return {
    async run(client, op, key) {
      const [agent, endpoint] = route(client);
      const path = `/v1/kv/${encodeURIComponent(keyName(spec.keyPrefix, key))}`;
      const answer =
        op === 'put'
          ? await request(
              agent,
              endpoint,
              'PUT',
              path,
              value,
              'application/octet-stream',
              spec.requestTimeoutMs,
            )
          : await request(agent, endpoint, 'GET', path, undefined, '', spec.requestTimeoutMs);
      if (answer.error !== undefined) return answer.error;
      if (answer.status >= 200 && answer.status < 300) return 'ok';
      const code = codeIn(answer.text);
      if (op === 'get' && answer.status === 404 && code === 'NOT_FOUND') return 'notFound';
      return code ?? `HTTP_${answer.status}`;
    },
    close,
  };
}

async function clientDriver(spec: LoadSpec): Promise<Driver> {
  const { connect } = await import('../src/client/index.js');
  const db = await connect({
    endpoints: [...spec.endpoints],
    timeoutMs: spec.requestTimeoutMs,
    attemptTimeoutMs: Math.min(spec.requestTimeoutMs, 1_500),
  });
  const value = valueOf(spec.valueSize);
  return {
    async run(_client, op, key) {
      try {
        if (op === 'put') {
          await db.put(keyName(spec.keyPrefix, key), value);
          return 'ok';
        }
        return (await db.get(keyName(spec.keyPrefix, key))) === null ? 'notFound' : 'ok';
      } catch (error) {
        const code = (error as { code?: unknown } | null)?.code;
        return typeof code === 'string' ? code : 'EXCEPTION';
      }
    },
    close: () => db.close(),
  };
}

export async function createDriver(spec: LoadSpec): Promise<Driver> {
  return spec.target === 'edict-client' ? clientDriver(spec) : httpDriver(spec);
}

function cpuNowUs(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/**
 * Runs `spec` in this process and returns its result. `stop` ends a timed run early: its measured
 * window then ends when `stop` aborts (requests that finish later are not counted).
 */
export async function runLoad(
  spec: LoadSpec,
  driver?: Driver,
  stop?: AbortSignal,
): Promise<LoadResult> {
  if (!(spec.clients >= 1 && spec.clients <= 4_096)) throw new Error('clients must be 1..4096');
  if (spec.endpoints.length === 0) throw new Error('no endpoints');
  const own = driver === undefined;
  const d = driver ?? (await createDriver(spec));
  try {
    return spec.op === 'fill' ? await fill(spec, d) : await timed(spec, d, stop);
  } finally {
    if (own) await d.close();
  }
}

async function timed(spec: LoadSpec, driver: Driver, stop?: AbortSignal): Promise<LoadResult> {
  const histogram = new Histogram();
  const errors: Record<string, number> = {};
  let notFound = 0;
  const start = performance.now();
  const measureFrom = start + spec.warmupMs;
  let measureTo = measureFrom + spec.durationMs;
  const onStop = (): void => {
    measureTo = Math.min(measureTo, Math.max(measureFrom, performance.now()));
  };
  if (stop?.aborted === true) onStop();
  stop?.addEventListener('abort', onStop);
  const sliceMs = spec.sliceMs ?? 0;
  const slices: Array<{ histogram: Histogram; errors: Record<string, number> }> = [];
  const sliceAt = (t0: number): { histogram: Histogram; errors: Record<string, number> } => {
    const index = Math.floor((t0 - measureFrom) / sliceMs);
    while (slices.length <= index) slices.push({ histogram: new Histogram(), errors: {} });
    return slices[index] as { histogram: Histogram; errors: Record<string, number> };
  };
  let cpuAtStart = spec.warmupMs === 0 ? cpuNowUs() : NaN;
  const cpuTimer = setTimeout(() => (cpuAtStart = cpuNowUs()), spec.warmupMs);
  const client = async (ci: number): Promise<void> => {
    while (performance.now() < measureTo) {
      const op: 'put' | 'get' =
        spec.op === 'mixed' ? (Math.random() < 0.9 ? 'get' : 'put') : (spec.op as 'put' | 'get');
      const key = Math.floor(Math.random() * spec.keys);
      const t0 = performance.now();
      const outcome = await driver.run(ci, op, key);
      const t1 = performance.now();
      const failed = outcome !== 'ok' && outcome !== 'notFound';
      if (t0 >= measureFrom && t1 <= measureTo) {
        const slice = sliceMs > 0 ? sliceAt(t0) : null;
        if (failed) {
          errors[outcome] = (errors[outcome] ?? 0) + 1;
          if (slice !== null) slice.errors[outcome] = (slice.errors[outcome] ?? 0) + 1;
        } else {
          histogram.record((t1 - t0) * 1_000);
          slice?.histogram.record((t1 - t0) * 1_000);
          if (outcome === 'notFound') notFound += 1;
        }
      }
      if (failed) await sleep(10);
    }
  };
  await Promise.all(Array.from({ length: spec.clients }, (_, ci) => client(ci)));
  clearTimeout(cpuTimer);
  stop?.removeEventListener('abort', onStop);
  const cpuUs = Number.isNaN(cpuAtStart) ? 0 : cpuNowUs() - cpuAtStart;
  const result: LoadResult = {
    ops: histogram.count,
    seconds: (measureTo - measureFrom) / 1_000,
    histogram: histogram.serialize(),
    errors,
    notFound,
    cpuUs,
  };
  if (sliceMs <= 0) return result;
  // Every slice of the window, empty ones included, so that index k always starts at k · sliceMs.
  while (slices.length * sliceMs < measureTo - measureFrom)
    sliceAt(measureFrom + slices.length * sliceMs);
  return {
    ...result,
    slices: slices.map((x) => ({ histogram: x.histogram.serialize(), errors: x.errors })),
  };
}

async function fill(spec: LoadSpec, driver: Driver): Promise<LoadResult> {
  const range = spec.fill ?? { from: 0, to: spec.keys, deadlineMs: 120_000 };
  const histogram = new Histogram();
  const errors: Record<string, number> = {};
  const start = performance.now();
  const cpuAtStart = cpuNowUs();
  const deadline = start + range.deadlineMs;
  let next = range.from;
  let failures = 0;
  const client = async (ci: number): Promise<void> => {
    while (next < range.to && performance.now() < deadline && failures < 1_000) {
      const key = next;
      next += 1;
      // A failed write is retried (bounded by the deadline and the failure budget).
      for (;;) {
        const t0 = performance.now();
        const outcome = await driver.run(ci, 'put', key);
        if (outcome === 'ok') {
          histogram.record((performance.now() - t0) * 1_000);
          break;
        }
        errors[outcome] = (errors[outcome] ?? 0) + 1;
        failures += 1;
        if (performance.now() >= deadline || failures >= 1_000) break;
        await sleep(10);
      }
    }
  };
  await Promise.all(Array.from({ length: spec.clients }, (_, ci) => client(ci)));
  return {
    ops: histogram.count,
    seconds: (performance.now() - start) / 1_000,
    histogram: histogram.serialize(),
    errors,
    notFound: 0,
    cpuUs: cpuNowUs() - cpuAtStart,
  };
}

/** The parent's messages to a worker process. */
export type ParentMessage =
  { readonly type: 'run'; readonly spec: LoadSpec } | { readonly type: 'stop' };

/** A worker process's messages to the parent. */
export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'result'; readonly result: LoadResult }
  | { readonly type: 'failed'; readonly message: string };

export interface MergedResult extends LoadResult {
  /** CPU of the load generator's processes during the window, in % of one core. */
  readonly loadgenCpuPct: number;
  readonly workers: number;
}

const WORKER = fileURLToPath(new URL('./_loadgen-worker.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Adds up the results of the parts of one run. */
export function mergeResults(parts: readonly LoadResult[], failedWorkers = 0): MergedResult {
  const histogram = new Histogram();
  const errors: Record<string, number> = {};
  let notFound = 0;
  let cpuUs = 0;
  let seconds = 0;
  const slices: Array<{ histogram: Histogram; errors: Record<string, number> }> = [];
  for (const part of parts) {
    histogram.merge(part.histogram);
    for (const [code, n] of Object.entries(part.errors)) errors[code] = (errors[code] ?? 0) + n;
    notFound += part.notFound;
    cpuUs += part.cpuUs;
    seconds = Math.max(seconds, part.seconds);
    part.slices?.forEach((slice, k) => {
      while (slices.length <= k) slices.push({ histogram: new Histogram(), errors: {} });
      const into = slices[k] as { histogram: Histogram; errors: Record<string, number> };
      into.histogram.merge(slice.histogram);
      for (const [code, n] of Object.entries(slice.errors)) {
        into.errors[code] = (into.errors[code] ?? 0) + n;
      }
    });
  }
  if (failedWorkers > 0) errors.WORKER_FAILED = failedWorkers;
  return {
    ...(slices.length > 0
      ? { slices: slices.map((x) => ({ histogram: x.histogram.serialize(), errors: x.errors })) }
      : {}),
    ops: histogram.count,
    seconds,
    histogram: histogram.serialize(),
    errors,
    notFound,
    cpuUs,
    loadgenCpuPct: seconds > 0 ? cpuUs / 1e4 / seconds : 0,
    workers: parts.length + failedWorkers,
  };
}

/**
 * Runs `spec` split over `workers` processes (clients, and for `fill` the key range, divided as
 * evenly as can be) and adds up their results. `onStart` is called when the workers have been
 * told to begin (their warm-up starts then). `stop` ends a timed run early (see `runLoad`). Every
 * worker is bounded: one that does not report within the run's length plus a margin is killed and
 * counted as `WORKER_FAILED`.
 */
export async function runWorkers(
  spec: LoadSpec,
  workers: number,
  onStart?: () => void,
  stop?: AbortSignal,
): Promise<MergedResult> {
  const n = Math.max(1, Math.min(workers, spec.clients));
  const parts: LoadSpec[] = [];
  let offset = 0;
  for (let w = 0; w < n; w += 1) {
    const clients = Math.floor(spec.clients / n) + (w < spec.clients % n ? 1 : 0);
    let fill = spec.fill;
    if (fill !== undefined) {
      const size = fill.to - fill.from;
      const from = fill.from + Math.floor((size * w) / n);
      const to = fill.from + Math.floor((size * (w + 1)) / n);
      fill = { from, to, deadlineMs: fill.deadlineMs };
    }
    parts.push({ ...spec, clients, clientOffset: spec.clientOffset + offset, fill });
    offset += clients;
  }
  const runMs =
    spec.op === 'fill' ? (spec.fill?.deadlineMs ?? 120_000) : spec.warmupMs + spec.durationMs;
  const children = parts.map(() =>
    spawn(process.execPath, ['--import', 'tsx', WORKER], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  const killAll = (): void => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const onStop = (): void => {
    for (const child of children) {
      if (child.connected) child.send({ type: 'stop' } satisfies ParentMessage);
    }
  };
  try {
    // Start every worker's clock together, once all have loaded their code.
    const ready = children.map((child) => waitFor(child, 'ready', 30_000));
    await Promise.all(ready);
    const results = children.map((child, w) => {
      const result = waitFor(child, 'result', runMs + spec.requestTimeoutMs + 20_000);
      child.send({ type: 'run', spec: parts[w] as LoadSpec } satisfies ParentMessage);
      return result;
    });
    onStart?.();
    if (stop?.aborted === true) onStop();
    stop?.addEventListener('abort', onStop);
    const settled = await Promise.allSettled(results);
    const ok: LoadResult[] = [];
    let failed = 0;
    for (const s of settled) {
      if (s.status === 'fulfilled') ok.push((s.value as { result: LoadResult }).result);
      else {
        failed += 1;
        process.stderr.write(`cluster bench: a load worker failed: ${String(s.reason)}\n`);
      }
    }
    return mergeResults(ok, failed);
  } finally {
    stop?.removeEventListener('abort', onStop);
    killAll();
    process.removeListener('exit', killAll);
  }
}

/** Resolves with the child's next message of `type`; rejects on exit, a failure or timeout. */
function waitFor(child: ChildProcess, type: string, timeoutMs: number): Promise<WorkerMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      child.kill('SIGKILL');
      reject(new Error(`no '${type}' from worker ${child.pid} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message: WorkerMessage): void => {
      if (message.type === type) {
        cleanup();
        resolve(message);
      } else if (message.type === 'failed') {
        cleanup();
        reject(new Error(message.message));
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      cleanup();
      reject(new Error(`worker ${child.pid} exited (${signal ?? code}) before '${type}'`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.removeListener('message', onMessage);
      child.removeListener('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}
