/**
 * `npm run bench -- bucket-log [--seconds 3] [--buckets 64] [--replay 10000] [--dir /tmp/bench-bucket-log] [--json]`
 *
 * The node-wide bucket log (src/storage/bucket-log.ts) on the real disk:
 * 1. Group commit: every round, each of `--buckets` buckets persists an append of k log entries
 *    (100-byte values) and a commit, then the node syncs once. entries/s, syncs/s and MB/s, next to
 *    the raw limit of the same disk in the same run (one write of the same bytes and one fdatasync,
 *    in a loop; bench/storage.ts `rawSyncLimit`).
 * 2. No group commit, for contrast: each bucket persists one entry and syncs on its own.
 *    `cpuUsPerEntry` is this process's CPU time (user + system, including the writes and fdatasyncs
 *    it waits in) per entry: what the log costs when the disk is not the limit.
 * 3. Open (replay) time of 256 buckets × `--replay` entries each, and the compaction time of the
 *    same log after half of it is made dead by snapshots.
 */
import fs from 'node:fs';
import path from 'node:path';
import { clientId, type LogEntry } from '../src/core/bucket/types.js';
import { epoch, logIndex } from '../src/core/lib/ids.js';
import { Prng } from '../src/core/lib/prng.js';
import { openBucketLog, type NodeBucketLog } from '../src/storage/bucket-log.js';
import { rawSyncLimit, waitForQuiet } from './storage.js';

interface Args {
  readonly seconds: number;
  readonly buckets: number;
  readonly replay: number;
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
    buckets: Number(get('buckets', '64')),
    replay: Number(get('replay', '10000')),
    dir: get('dir', '/tmp/bench-bucket-log'),
    json: argv.includes('--json'),
  };
  if (!args.dir.startsWith('/tmp/bench-')) throw new Error('--dir must be under /tmp/bench-*');
  if (!(args.seconds > 0 && args.seconds <= 30)) throw new Error('--seconds in (0, 30]');
  if (!(args.buckets >= 1 && args.buckets <= 4096)) throw new Error('--buckets in [1, 4096]');
  if (!(args.replay >= 100 && args.replay <= 100_000)) throw new Error('--replay in [100, 1e5]');
  return args;
}

interface Row {
  readonly case: string;
  readonly [field: string]: string | number;
}

const VALUE_BYTES = 100;

function entries(prng: Prng, from: number, count: number): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = 0; i < count; i++) {
    const value = Buffer.allocUnsafe(VALUE_BYTES);
    for (let j = 0; j < VALUE_BYTES; j += 4) value.writeUInt32LE(prng.nextU32(), j);
    out.push({
      epoch: epoch(1),
      index: logIndex(from + i),
      payload: {
        kind: 'write',
        clientId: clientId(1),
        seq: from + i,
        ackedBelow: from + i,
        command: { op: 'put', key: `key-${from + i}`, value },
      },
    });
  }
  return out;
}

/** Rounds of: every bucket appends `perBucket` entries and a commit; then one (or per-bucket) sync. */
function writeCase(
  log: NodeBucketLog,
  buckets: number,
  perBucket: number,
  groupSync: boolean,
  seconds: number,
): { entries: number; syncs: number; bytes: number; seconds: number; cpuSeconds: number } {
  const prng = new Prng(7);
  const next = new Array<number>(buckets).fill(1);
  const before = log.stats();
  const cpu = process.cpuUsage();
  const start = performance.now();
  const end = start + seconds * 1000;
  let written = 0;
  while (performance.now() < end) {
    for (let b = 0; b < buckets; b++) {
      const from = next[b] as number;
      const store = log.store(b);
      store.persist([
        { op: 'append', entries: entries(prng, from, perBucket) },
        { op: 'commit', index: logIndex(from - 1) },
      ]);
      next[b] = from + perBucket;
      written += perBucket;
      if (!groupSync) store.sync();
    }
    if (groupSync) log.sync();
  }
  const elapsed = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  const after = log.stats();
  return {
    cpuSeconds: (used.user + used.system) / 1e6,
    entries: written,
    syncs: after.syncs - before.syncs,
    bytes: after.fileBytes - before.fileBytes,
    seconds: elapsed,
  };
}

async function writeCases(args: Args, emit: (row: Row) => void): Promise<void> {
  const cases: { perBucket: number; group: boolean }[] = [
    { perBucket: 1, group: false },
    { perBucket: 1, group: true },
    { perBucket: 4, group: true },
    { perBucket: 16, group: true },
  ];
  for (const c of cases) {
    const dir = path.join(args.dir, 'write');
    fs.rmSync(dir, { recursive: true, force: true });
    const log = openBucketLog(dir);
    const busyPct = await waitForQuiet();
    const r = writeCase(log, args.buckets, c.perBucket, c.group, args.seconds);
    log.close();
    fs.rmSync(dir, { recursive: true, force: true });
    const bytesPerSync = Math.max(1, Math.round(r.bytes / r.syncs));
    const raw = rawSyncLimit(args.dir, bytesPerSync, Math.min(args.seconds, 2));
    const rawSyncs = raw.syncs / raw.seconds;
    const syncsPerSecond = r.syncs / r.seconds;
    emit({
      case: `${c.group ? 'group' : 'per-bucket'} sync, ${args.buckets}×${c.perBucket} entries`,
      entriesPerSec: Math.round(r.entries / r.seconds),
      syncsPerSec: Math.round(syncsPerSecond),
      entriesPerSync: Math.round(r.entries / r.syncs),
      mbPerSec: Number((r.bytes / r.seconds / 1e6).toFixed(1)),
      bytesPerEntry: Math.round(r.bytes / r.entries),
      cpuUsPerEntry: Number(((r.cpuSeconds * 1e6) / r.entries).toFixed(1)),
      rawSyncsPerSec: Math.round(rawSyncs),
      syncRatio: Number((syncsPerSecond / rawSyncs).toFixed(2)),
      busyPct,
    });
  }
}

async function replayCase(args: Args, emit: (row: Row) => void): Promise<void> {
  const dir = path.join(args.dir, 'replay');
  fs.rmSync(dir, { recursive: true, force: true });
  const buckets = 256;
  const perRound = 100;
  const prng = new Prng(11);
  let log = openBucketLog(dir);
  for (let from = 1; from <= args.replay; from += perRound) {
    const count = Math.min(perRound, args.replay - from + 1);
    for (let b = 0; b < buckets; b++) {
      log.store(b).persist([{ op: 'append', entries: entries(prng, from, count) }]);
    }
    log.sync();
  }
  const fileBytes = log.stats().fileBytes;
  log.close();
  const busyPct = await waitForQuiet();
  let start = performance.now();
  log = openBucketLog(dir);
  const openSeconds = (performance.now() - start) / 1000;
  const total = log.buckets().reduce((n, b) => n + log.store(b).load().entries.length, 0);
  emit({
    case: `open: ${buckets} buckets × ${args.replay} entries`,
    entries: total,
    fileMB: Math.round(fileBytes / 1e6),
    openSeconds: Number(openSeconds.toFixed(2)),
    entriesPerSec: Math.round(total / openSeconds),
    heapMB: Math.round(process.memoryUsage().heapUsed / 1e6),
    busyPct,
  });
  // Half the buckets install a snapshot at their last index: their entries become dead.
  for (let b = 0; b < buckets; b += 2) {
    const at = logIndex(args.replay);
    log.store(b).persist([
      {
        op: 'snapshot',
        image: { base: { epoch: epoch(1), index: at }, items: [], sessions: [], sessionFloor: 0 },
      },
    ]);
  }
  log.sync();
  start = performance.now();
  log.compact();
  const compactSeconds = (performance.now() - start) / 1000;
  emit({
    case: 'compact after half the buckets snapshot',
    beforeMB: Math.round(fileBytes / 1e6),
    afterMB: Math.round(log.stats().fileBytes / 1e6),
    compactSeconds: Number(compactSeconds.toFixed(2)),
  });
  log.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  fs.mkdirSync(args.dir, { recursive: true });
  const emit = (row: Row): void => {
    if (args.json) process.stdout.write(`${JSON.stringify(row)}\n`);
    else
      process.stdout.write(
        `${Object.entries(row)
          .map(([k, v]) => (k === 'case' ? String(v).padEnd(42) : `${k}=${v}`))
          .join('  ')}\n`,
      );
  };
  try {
    await writeCases(args, emit);
    await replayCase(args, emit);
  } finally {
    fs.rmSync(args.dir, { recursive: true, force: true });
  }
}
