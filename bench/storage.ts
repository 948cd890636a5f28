/**
 * `npm run bench -- storage [--seconds 3] [--keys 1000000] [--dir /tmp/bench-storage] [--json]`
 *
 * The storage engine on the real disk, next to the disk's own limit measured in the same run:
 * 1. Durable writes: for 100 B and 64 KiB values and 1, 16, 64 and 256 concurrent writers (each
 *    awaiting its apply before the next; one writer per bucket), ops/s and MB/s of acknowledged
 *    writes, and the group commits they took. Next to each, the raw limit of the same disk for the
 *    same bytes: a loop of one write of N records' worth of bytes plus one fdatasync (what
 *    ../shared/bench/fsync.mjs calls group-N), and the ratio of the two.
 * 2. A load of `--keys` keys (100 B values), then the process's RSS and the files' sizes.
 * 3. Point reads/s (random keys) and scan rows/s (1,000-row scans from random keys) on that load.
 *
 * Every case is bounded by `--seconds`; before each one the benchmark waits (at most 20 s) for the
 * machine to be quiet (< 15 % busy, as the shared baseline scripts do) and reports how busy it was.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bucketId, logIndex } from '../src/core/lib/ids.js';
import { Prng } from '../src/core/lib/prng.js';
import { Engine, type Entry } from '../src/storage/engine.js';
import { NodeFileSystem } from '../src/storage/file-system.js';
import { LmdbIndexStore } from '../src/storage/lmdb-index.js';
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

async function waitForQuiet(maxMs = 20_000): Promise<number> {
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
function rawSyncLimit(dir: string, bytesPerSync: number, seconds: number): { syncsPerSec: number } {
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
  return { syncsPerSec: syncs / elapsed };
}

async function openEngine(dir: string): Promise<Engine> {
  return Engine.open(
    {
      fs: new NodeFileSystem(path.join(dir, 'log')),
      index: new LmdbIndexStore({ path: path.join(dir, 'index') }),
    },
    { compactionIntervalMs: 0 },
  );
}

/** `writers` concurrent writers, one per bucket, each awaiting its apply, for `seconds`. */
async function durableWrites(
  dir: string,
  valueBytes: number,
  writers: number,
  seconds: number,
): Promise<{ ops: number; elapsed: number; batches: number }> {
  fs.rmSync(dir, { recursive: true, force: true });
  const engine = await openEngine(dir);
  const prng = new Prng(valueBytes * 1000 + writers);
  const values = Array.from({ length: 16 }, () => randomBytes(prng, valueBytes));
  let ops = 0;
  const before = engine.stats().batches;
  const start = performance.now();
  const end = start + seconds * 1000;
  const writer = async (w: number): Promise<void> => {
    for (let i = 1; performance.now() < end; i++) {
      const key = Buffer.from(`w${w}k${i}`);
      const entry: Entry = {
        index: logIndex(i),
        ops: [{ kind: 'put', key, value: values[i % 16] as Buffer }],
      };
      await engine.apply(bucketId(w), [entry]);
      ops += 1;
    }
  };
  await Promise.all(Array.from({ length: writers }, (_, w) => writer(w)));
  const elapsed = (performance.now() - start) / 1000;
  const batches = engine.stats().batches - before;
  await engine.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return { ops, elapsed, batches };
}

async function writeCases(args: Args, emit: (row: Row) => void): Promise<void> {
  fs.mkdirSync(args.dir, { recursive: true });
  for (const valueBytes of [100, 64 * 1024]) {
    for (const writers of [1, 16, 64, 256]) {
      const keyBytes = 12;
      // One Apply record: header, 20 bytes of entry header, 8 bytes of op header, key, value.
      const recordBytes = RECORD_HEADER_BYTES + 20 + 8 + keyBytes + valueBytes;
      const busyPct = await waitForQuiet();
      const raw = rawSyncLimit(args.dir, recordBytes * writers, Math.min(2, args.seconds));
      const run = await durableWrites(
        path.join(args.dir, 'engine'),
        valueBytes,
        writers,
        args.seconds,
      );
      const opsPerSec = run.ops / run.elapsed;
      const rawRecordsPerSec = raw.syncsPerSec * writers;
      emit({
        case: `write ${valueBytes >= 1024 ? `${valueBytes / 1024} KiB` : `${valueBytes} B`} x${writers}`,
        opsPerSec: Math.round(opsPerSec),
        MBps: +((opsPerSec * valueBytes) / 1e6).toFixed(1),
        recordsPerSync: +(run.ops / Math.max(1, run.batches)).toFixed(1),
        syncsPerSec: Math.round(run.batches / run.elapsed),
        rawSyncsPerSec: Math.round(raw.syncsPerSec),
        rawRecordsPerSec: Math.round(rawRecordsPerSec),
        ratio: +(opsPerSec / rawRecordsPerSec).toFixed(2),
        busyPct,
      });
    }
  }
}

async function loadAndRead(args: Args, emit: (row: Row) => void): Promise<void> {
  const dir = path.join(args.dir, 'load');
  fs.rmSync(dir, { recursive: true, force: true });
  const rssBefore = process.memoryUsage().rss;
  const engine = await openEngine(dir);
  const prng = new Prng(7);
  const value = randomBytes(prng, 100);
  const key = (n: number): Buffer => Buffer.from(`key${String(n).padStart(9, '0')}`);
  const bucket = bucketId(0);
  const perEntry = 64;
  let busyPct = await waitForQuiet();
  let start = performance.now();
  let index = 0;
  const inFlight: Promise<void>[] = [];
  for (let n = 0; n < args.keys; n += perEntry) {
    const ops = [];
    for (let k = n; k < Math.min(args.keys, n + perEntry); k++)
      ops.push({ kind: 'put' as const, key: key(k), value });
    inFlight.push(engine.apply(bucket, [{ index: logIndex(++index), ops }]));
    if (inFlight.length >= 64) await Promise.all(inFlight.splice(0));
  }
  await Promise.all(inFlight);
  engine.checkpoint();
  const loadSeconds = (performance.now() - start) / 1000;
  global.gc?.();
  const mem = process.memoryUsage();
  const size = (sub: string): number =>
    fs
      .readdirSync(path.join(dir, sub))
      .reduce((s, f) => s + fs.statSync(path.join(dir, sub, f)).size, 0);
  emit({
    case: `load ${args.keys} keys (100 B values, 64 per entry)`,
    keysPerSec: Math.round(args.keys / loadSeconds),
    rssMB: Math.round(mem.rss / 1e6),
    rssGrowthMB: Math.round((mem.rss - rssBefore) / 1e6),
    heapUsedMB: Math.round(mem.heapUsed / 1e6),
    logMB: Math.round(size('log') / 1e6),
    indexMB: Math.round(size('index') / 1e6),
    busyPct,
  });

  busyPct = await waitForQuiet();
  let reads = 0;
  start = performance.now();
  let end = start + args.seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) {
      if (engine.get(bucket, key(prng.int(args.keys))) === null) throw new Error('missing key');
    }
    reads += 1000;
  }
  emit({
    case: 'point reads (random keys)',
    readsPerSec: Math.round(reads / ((performance.now() - start) / 1000)),
    busyPct,
  });

  busyPct = await waitForQuiet();
  let rows = 0;
  start = performance.now();
  end = start + args.seconds * 1000;
  while (performance.now() < end) {
    rows += engine.scan(bucket, { start: key(prng.int(args.keys - 1000)), limit: 1000 }).rows
      .length;
  }
  emit({
    case: 'scans (1,000 rows from random keys)',
    rowsPerSec: Math.round(rows / ((performance.now() - start) / 1000)),
    busyPct,
  });
  await engine.close();
  fs.rmSync(dir, { recursive: true, force: true });
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
    await writeCases(args, emit);
    await loadAndRead(args, emit);
  } finally {
    fs.rmSync(args.dir, { recursive: true, force: true });
  }
}
