/**
 * `npm run bench -- storage [--seconds 3] [--keys 1000000] [--dir /tmp/bench-storage] [--json]`
 *
 * The storage engine on the real disk, next to the disk's own limit measured in the same run:
 * 1. Durable writes: for 100 B and 64 KiB values and 1, 16, 64 and 256 concurrent writers (each
 *    awaiting its apply before the next; one writer per bucket), ops/s and MB/s of acknowledged
 *    writes, and the group commits they took. Next to each, the raw limit of the same disk for the
 *    same bytes: a loop of one write of N records' worth of bytes plus one fdatasync (what
 *    ../shared/bench/fsync.mjs calls group-N), and the ratio of the two.
 * 2. A load of `--keys` keys (100 B values), then the process's RSS and the files' sizes. It runs
 *    first, in a fresh process.
 * 3. Point reads/s (random keys) and scan rows/s (1,000-row scans from random keys) on that load.
 *
 * Every case is bounded by `--seconds`; before each one the benchmark waits (at most 10 s) for the
 * machine to be quiet (< 15 % busy, as the shared baseline scripts do) and reports how busy it was
 * (`busyPct`: the whole machine's CPU, over the last half second before the case).
 */
import fs from 'node:fs';
import path from 'node:path';
import { bucketId, logIndex } from '../src/core/lib/ids.js';
import { Prng } from '../src/core/lib/prng.js';
import type { Engine } from '../src/storage/engine.js';
import { openNodeStorage } from '../src/storage/node-storage.js';
import { RECORD_HEADER_BYTES } from '../src/storage/record.js';

interface Args {
  readonly seconds: number;
  readonly keys: number;
  readonly dir: string;
  readonly json: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const get = (name: string, fallback: string): string => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] !== undefined ? (argv[i + 1] as string) : fallback;
  };
  const args = {
    seconds: Number(get('seconds', '3')),
    keys: Number(get('keys', '1000000')),
    dir: get('dir', '/tmp/bench-storage'),
    json: argv.includes('--json'),
  };
  if (!args.dir.startsWith('/tmp/bench-')) throw new Error('--dir must be under /tmp/bench-*');
  if (!(args.seconds > 0 && args.seconds <= 30)) throw new Error('--seconds in (0, 30]');
  if (!(args.keys >= 1000 && args.keys <= 5_000_000)) throw new Error('--keys in [1000, 5e6]');
  return args;
}

/** Share of the machine's CPU time spent busy over a sampling window, from /proc/stat. */
function cpuTimes(): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] as string;
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

export async function waitForQuiet(maxMs = 10_000): Promise<number> {
  const deadline = performance.now() + maxMs;
  let busyPct = 100;
  while (performance.now() < deadline) {
    const a = cpuTimes();
    await sleep(500);
    const b = cpuTimes();
    busyPct = (100 * (b.busy - a.busy)) / Math.max(1, b.total - a.total);
    if (busyPct < 15) break;
  }
  return Math.round(busyPct);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function randomBytes(prng: Prng, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 4) out.writeUInt32LE(prng.nextU32(), Math.min(i, n - 4));
  return out;
}

interface Row {
  readonly case: string;
  readonly [field: string]: string | number;
}

/** The disk's limit: one write of `bytesPerSync` and one fdatasync, in a loop. */
export function rawSyncLimit(
  dir: string,
  bytesPerSync: number,
  seconds: number,
): { syncs: number; seconds: number } {
  const file = path.join(dir, 'raw.log');
  fs.rmSync(file, { force: true });
  const fd = fs.openSync(file, 'a');
  const buf = Buffer.alloc(bytesPerSync, 0x61);
  const start = performance.now();
  const end = start + seconds * 1000;
  let syncs = 0;
  while (performance.now() < end && syncs < 200_000) {
    fs.writeSync(fd, buf);
    fs.fdatasyncSync(fd);
    syncs += 1;
  }
  const elapsed = (performance.now() - start) / 1000;
  fs.closeSync(fd);
  fs.rmSync(file, { force: true });
  return { syncs, seconds: elapsed };
}

async function openEngine(dir: string): Promise<Engine> {
  return openNodeStorage(dir, { compactionIntervalMs: 0 });
}

/** Totals of one write case. */
interface WriteRun {
  ops: number;
  seconds: number;
  batches: number;
  rawSyncs: number;
  rawSeconds: number;
}

/**
 * `writers` concurrent writers, one per bucket, each awaiting its apply, for `seconds`, starting
 * at entry `first[w]` of writer w (advanced in place).
 */
async function durableWrites(
  engine: Engine,
  values: readonly Buffer[],
  first: number[],
  seconds: number,
): Promise<{ ops: number; seconds: number; batches: number }> {
  let ops = 0;
  const before = engine.stats().batches;
  const start = performance.now();
  const end = start + seconds * 1000;
  const writer = async (w: number): Promise<void> => {
    while (performance.now() < end) {
      const i = first[w] as number;
      first[w] = i + 1;
      const key = Buffer.from(`w${w}k${i}`);
      const value = values[i % values.length] as Buffer;
      await engine.apply(bucketId(w), [{ index: logIndex(i), ops: [{ kind: 'put', key, value }] }]);
      ops += 1;
    }
  };
  await Promise.all(first.map((_, w) => writer(w)));
  const elapsed = (performance.now() - start) / 1000;
  return { ops, seconds: elapsed, batches: engine.stats().batches - before };
}

/**
 * One write case: three rounds, each a slice of the raw limit and a slice of the engine, so that
 * both see the same moments of a disk whose speed drifts (the bench box's does, by 2x).
 */
async function writeCase(
  args: Args,
  valueBytes: number,
  writers: number,
  recordBytes: number,
): Promise<WriteRun> {
  const dir = path.join(args.dir, 'engine');
  fs.rmSync(dir, { recursive: true, force: true });
  const engine = await openEngine(dir);
  const prng = new Prng(valueBytes * 1000 + writers);
  const values = Array.from({ length: 16 }, () => randomBytes(prng, valueBytes));
  const first = new Array<number>(writers).fill(1);
  const run: WriteRun = { ops: 0, seconds: 0, batches: 0, rawSyncs: 0, rawSeconds: 0 };
  try {
    for (let round = 0; round < 3; round++) {
      const raw = rawSyncLimit(args.dir, recordBytes * writers, args.seconds / 3);
      run.rawSyncs += raw.syncs;
      run.rawSeconds += raw.seconds;
      const slice = await durableWrites(engine, values, first, args.seconds / 3);
      run.ops += slice.ops;
      run.seconds += slice.seconds;
      run.batches += slice.batches;
    }
  } finally {
    await engine.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return run;
}

async function writeCases(args: Args, emit: (row: Row) => void): Promise<void> {
  fs.mkdirSync(args.dir, { recursive: true });
  for (const valueBytes of [100, 64 * 1024]) {
    for (const writers of [1, 16, 64, 256]) {
      const keyBytes = 12;
      // One Apply record: header, 20 bytes of entry header, 8 bytes of op header, key, value.
      const recordBytes = RECORD_HEADER_BYTES + 20 + 8 + keyBytes + valueBytes;
      const busyPct = await waitForQuiet();
      const run = await writeCase(args, valueBytes, writers, recordBytes);
      const opsPerSec = run.ops / run.seconds;
      const rawSyncsPerSec = run.rawSyncs / run.rawSeconds;
      const rawRecordsPerSec = rawSyncsPerSec * writers;
      emit({
        case: `write ${valueBytes >= 1024 ? `${valueBytes / 1024} KiB` : `${valueBytes} B`} x${writers}`,
        opsPerSec: Math.round(opsPerSec),
        MBps: +((opsPerSec * valueBytes) / 1e6).toFixed(1),
        recordsPerSync: +(run.ops / Math.max(1, run.batches)).toFixed(1),
        syncsPerSec: Math.round(run.batches / run.seconds),
        rawSyncsPerSec: Math.round(rawSyncsPerSec),
        rawRecordsPerSec: Math.round(rawRecordsPerSec),
        ratio: +(opsPerSec / rawRecordsPerSec).toFixed(2),
        busyPct,
      });
    }
  }
}

const loadKey = (n: number): Buffer => Buffer.from(`key${String(n).padStart(9, '0')}`);

/** Loads `keys` keys of 100 B into bucket 0, 64 per entry, 64 entries in flight. */
async function load(
  engine: Engine,
  dir: string,
  keys: number,
  emit: (row: Row) => void,
): Promise<void> {
  const rssBefore = process.memoryUsage().rss;
  const value = randomBytes(new Prng(7), 100);
  const perEntry = 64;
  const busyPct = await waitForQuiet();
  const start = performance.now();
  let index = 0;
  const inFlight: Promise<void>[] = [];
  for (let n = 0; n < keys; n += perEntry) {
    const ops = [];
    for (let k = n; k < Math.min(keys, n + perEntry); k++) {
      ops.push({ kind: 'put' as const, key: loadKey(k), value });
    }
    inFlight.push(engine.apply(bucketId(0), [{ index: logIndex(++index), ops }]));
    if (inFlight.length >= 64) await Promise.all(inFlight.splice(0));
  }
  await Promise.all(inFlight);
  engine.checkpoint();
  const loadSeconds = (performance.now() - start) / 1000;
  const mem = process.memoryUsage();
  const size = (sub: string): number =>
    fs
      .readdirSync(path.join(dir, sub))
      .reduce((s, f) => s + fs.statSync(path.join(dir, sub, f)).size, 0);
  emit({
    case: `load ${keys} keys (100 B values, 64 per entry)`,
    keysPerSec: Math.round(keys / loadSeconds),
    rssMB: Math.round(mem.rss / 1e6),
    rssGrowthMB: Math.round((mem.rss - rssBefore) / 1e6),
    heapUsedMB: Math.round(mem.heapUsed / 1e6),
    logMB: Math.round(size('log') / 1e6),
    indexMB: Math.round(size('index') / 1e6),
    busyPct,
  });
}

/** Point reads and 1,000-row scans from random keys of the load, each for `seconds`. */
async function reads(
  engine: Engine,
  keys: number,
  seconds: number,
  emit: (row: Row) => void,
): Promise<void> {
  const prng = new Prng(8);
  const bucket = bucketId(0);
  let busyPct = await waitForQuiet();
  let count = 0;
  let start = performance.now();
  while (performance.now() < start + seconds * 1000) {
    for (let i = 0; i < 1000; i++) {
      if (engine.get(bucket, loadKey(prng.int(keys))) === null) throw new Error('missing key');
    }
    count += 1000;
  }
  const readsPerSec = Math.round(count / ((performance.now() - start) / 1000));
  emit({ case: 'point reads (random keys)', readsPerSec, busyPct });
  busyPct = await waitForQuiet();
  count = 0;
  start = performance.now();
  while (performance.now() < start + seconds * 1000) {
    count += engine.scan(bucket, { start: loadKey(prng.int(keys - 1000)), limit: 1000 }).rows
      .length;
  }
  const rowsPerSec = Math.round(count / ((performance.now() - start) / 1000));
  emit({ case: 'scans (1,000 rows from random keys)', rowsPerSec, busyPct });
}

async function loadAndRead(args: Args, emit: (row: Row) => void): Promise<void> {
  const dir = path.join(args.dir, 'load');
  fs.rmSync(dir, { recursive: true, force: true });
  const engine = await openEngine(dir);
  try {
    await load(engine, dir, args.keys, emit);
    await reads(engine, args.keys, args.seconds, emit);
  } finally {
    await engine.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  fs.mkdirSync(args.dir, { recursive: true });
  const rows: Row[] = [];
  const emit = (row: Row): void => {
    rows.push(row);
    if (args.json) process.stdout.write(`${JSON.stringify(row)}\n`);
    else
      process.stdout.write(
        `${Object.entries(row)
          .map(([k, v]) => (k === 'case' ? String(v).padEnd(34) : `${k}=${v}`))
          .join('  ')}\n`,
      );
  };
  try {
    // The load runs first, so that its RSS is measured from a fresh process.
    await loadAndRead(args, emit);
    await writeCases(args, emit);
  } finally {
    fs.rmSync(args.dir, { recursive: true, force: true });
  }
}
