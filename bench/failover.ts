/**
 * `npm run bench -- failover [--trials N] [--buckets N] [--json]`: how long a bucket whose leader
 * was SIGKILLed stays unwritable.
 *
 * A 3-node cluster (real processes, `bench/_edict.ts`) with one key per bucket. Each trial kills
 * one node (round robin) with SIGKILL and, for every bucket that node led, writes that bucket's
 * key through the HTTP API of a surviving node until a write succeeds (attempts of at most 250 ms,
 * back to back). The figure is the time from the kill to the first acknowledged write, per bucket;
 * the table gives p50, p99 and max over every bucket of every trial. The node is then restarted on
 * its data and the next trial waits for health green. Every wait is bounded.
 */
import { bucketOf } from '../src/core/directory/routing.js';
import { startEdict, type EdictCluster } from './_edict.js';
import { getText, sleep } from './_procs.js';

interface Options {
  readonly trials: number;
  readonly buckets: number;
  readonly json: boolean;
}

const ATTEMPT_MS = 250;
/** A bucket still unwritable after this long counts as failed (its figure is this bound). */
const GIVE_UP_MS = 15_000;

function parse(args: readonly string[]): Options {
  const value = (name: string, fallback: number, max: number): number => {
    const i = args.indexOf(`--${name}`);
    if (i < 0) return fallback;
    const n = Number(args[i + 1]);
    if (!Number.isSafeInteger(n) || n < 1 || n > max) {
      throw new Error(`--${name} must be an integer in 1..${max}`);
    }
    return n;
  };
  return {
    trials: value('trials', 6, 100),
    buckets: value('buckets', 64, 4096),
    json: args.includes('--json'),
  };
}

/** One key per bucket: the first `k<n>` that hashes into it. */
function keysByBucket(buckets: number): string[] {
  const keys: (string | undefined)[] = new Array(buckets);
  let found = 0;
  for (let n = 0; found < buckets && n < buckets * 1000; n++) {
    const key = `failover/${n}`;
    const b = bucketOf(new TextEncoder().encode(key), buckets);
    if (keys[b] === undefined) {
      keys[b] = key;
      found += 1;
    }
  }
  if (found < buckets) throw new Error('could not find a key for every bucket');
  return keys as string[];
}

interface MapBody {
  readonly buckets: ReadonlyArray<{ readonly bucket: number; readonly leader: number | null }>;
}

async function leadersOf(address: string): Promise<Map<number, number | null>> {
  const answer = await getText(`http://${address}/v1/map`, 2_000);
  if (answer === null || answer.status !== 200) throw new Error(`no map from ${address}`);
  const body = JSON.parse(answer.text) as MapBody;
  return new Map(body.buckets.map((b) => [b.bucket, b.leader]));
}

async function waitGreen(address: string, timeoutMs: number): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    const answer = await getText(`http://${address}/v1/status`, 1_000);
    if (answer?.status === 200 && answer.text.includes('"health":"green"')) return;
    await sleep(200);
  }
  throw new Error(`the cluster is not green after ${timeoutMs} ms`);
}

async function put(address: string, key: string, value: string): Promise<boolean> {
  try {
    const res = await fetch(`http://${address}/v1/kv/${encodeURIComponent(key)}`, {
      method: 'PUT',
      body: value,
      signal: AbortSignal.timeout(ATTEMPT_MS),
    });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** Milliseconds from `start` until a write of `key` through one of `addresses` succeeds. */
async function firstWrite(
  addresses: readonly string[],
  key: string,
  start: number,
): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const elapsed = performance.now() - start;
    if (elapsed > GIVE_UP_MS) return GIVE_UP_MS;
    const address = addresses[attempt % addresses.length] as string;
    if (await put(address, key, `v${attempt}`)) return performance.now() - start;
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

export async function main(args: readonly string[]): Promise<void> {
  const options = parse(args);
  const keys = keysByBucket(options.buckets);
  const cluster: EdictCluster = await startEdict(3, 60_000, undefined, options.buckets);
  const samples: number[] = [];
  const perTrial: { node: number; buckets: number; maxMs: number }[] = [];
  try {
    const http = cluster.endpoints;
    await waitGreen(http[0] as string, 60_000);
    for (const key of keys) await put(http[0] as string, key, 'seed');
    for (let trial = 0; trial < options.trials; trial++) {
      const victim = trial % http.length;
      const survivors = http.filter((_, i) => i !== victim);
      await waitGreen(survivors[0] as string, 60_000);
      const leaders = await leadersOf(survivors[0] as string);
      const led = [...leaders].filter(([, leader]) => leader === victim + 1).map(([b]) => b);
      const start = performance.now();
      await cluster.kill(victim);
      const times = await Promise.all(
        led.map((b) => firstWrite(survivors, keys[b] as string, start)),
      );
      samples.push(...times);
      perTrial.push({ node: victim + 1, buckets: led.length, maxMs: Math.max(0, ...times) });
      if (!options.json) {
        process.stdout.write(
          `trial ${trial + 1}: killed node ${victim + 1} (led ${led.length} buckets), ` +
            `slowest bucket writable after ${Math.max(0, ...times).toFixed(0)} ms\n`,
        );
      }
      await cluster.restart(victim);
    }
  } finally {
    await cluster.stop();
  }
  const sorted = [...samples].sort((a, b) => a - b);
  const result = {
    workload: 'failover',
    buckets: options.buckets,
    trials: options.trials,
    samples: sorted.length,
    p50Ms: Math.round(percentile(sorted, 0.5)),
    p99Ms: Math.round(percentile(sorted, 0.99)),
    maxMs: Math.round(sorted[sorted.length - 1] ?? Number.NaN),
    gaveUp: sorted.filter((t) => t >= GIVE_UP_MS).length,
    perTrial,
  };
  if (options.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  process.stdout.write(
    `\nfailover: ${result.samples} bucket failovers over ${result.trials} SIGKILLs ` +
      `(${options.buckets} buckets, 3 nodes)\n` +
      `time from SIGKILL to the first acknowledged write: p50 ${result.p50Ms} ms, ` +
      `p99 ${result.p99Ms} ms, max ${result.maxMs} ms; gave up on ${result.gaveUp}\n`,
  );
}
