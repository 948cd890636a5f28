// A reference model of the engine and a seeded driver that runs random operations against both,
// with crashes at seeded crash points. Shared by the simulated-disk and real-disk crash tests.
//
// The model is a Map per bucket: key -> (value, version), plus the applied index. The property
// checked after every crash and reopen: the recovered state equals the acknowledged state plus a
// prefix of the operations that were in flight when the process died (the log is one sequence, so
// what survives of it is a prefix). Between crashes, every read, scan, snapshot read, export and
// install must agree with the model, and verify() must find the index consistent.
import assert from 'node:assert/strict';
import { Prng } from '../../src/core/lib/prng.js';
import type { BucketChunk, Engine, Entry, Op, Snapshot } from '../../src/storage/engine.js';
import { isSimulatedCrash } from '../../sim/faulty-storage.js';
import { B, I, type TestStore } from './helpers.js';

interface Row {
  readonly value: Buffer;
  readonly version: number;
}

interface BucketModel {
  applied: number;
  rows: Map<string, Row>;
}

class Model {
  readonly buckets = new Map<number, BucketModel>();

  clone(): Model {
    const copy = new Model();
    for (const [id, m] of this.buckets)
      copy.buckets.set(id, { applied: m.applied, rows: new Map(m.rows) });
    return copy;
  }

  bucket(id: number): BucketModel {
    let m = this.buckets.get(id);
    if (m === undefined) {
      m = { applied: 0, rows: new Map() };
      this.buckets.set(id, m);
    }
    return m;
  }
}

/** An operation's effect on the model, applied when it is acknowledged (or found recovered). */
type Effect = (model: Model) => void;

const BUCKETS = 4;
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** The engine's whole state as comparable strings, for the buckets the model or engine knows. */
function engineState(engine: Engine, buckets: Iterable<number>): string[] {
  const out: string[] = [];
  for (const id of [...new Set(buckets)].sort((a, b) => a - b)) {
    out.push(`bucket ${id} applied ${engine.appliedIndex(B(id))}`);
    let start: Uint8Array | undefined;
    for (;;) {
      const page = engine.scan(B(id), { start, limit: 37 });
      for (const r of page.rows) out.push(`${id}/${hex(r.key)}=${hex(r.value)}@${r.version}`);
      if (page.resumeAt === null) break;
      start = page.resumeAt;
    }
  }
  return out;
}

function modelState(model: Model, buckets: Iterable<number>): string[] {
  const out: string[] = [];
  for (const id of [...new Set(buckets)].sort((a, b) => a - b)) {
    const m = model.buckets.get(id);
    out.push(`bucket ${id} applied ${m?.applied ?? 0}`);
    const keys = [...(m?.rows.keys() ?? [])].sort((a, b) =>
      Buffer.compare(Buffer.from(a, 'hex'), Buffer.from(b, 'hex')),
    );
    for (const k of keys) {
      const row = (m as BucketModel).rows.get(k) as Row;
      out.push(`${id}/${k}=${hex(row.value)}@${row.version}`);
    }
  }
  return out;
}

const allBuckets = (): number[] => Array.from({ length: BUCKETS + 1 }, (_, i) => i);

export interface DriverOptions {
  /** Operations per seed. */
  readonly steps: number;
  /** Largest crash point drawn (mutating calls into a lifetime). */
  readonly crashWithin: number;
  /** Probability that a lifetime has a crash point. */
  readonly crashProbability: number;
  /** Include keys long enough to exercise LMDB bins. */
  readonly longKeys: boolean;
}

/** Counters over a run, reported by the tests. */
export interface DriverStats {
  crashes: number;
  crashesDuringRecovery: number;
  inFlightRecovered: number;
  inFlightLost: number;
  operations: number;
}

/** Runs one seed: random operations with crashes against `store`, checked against the model. */
export async function runSeed(
  seed: number,
  store: TestStore,
  options: DriverOptions,
  stats: DriverStats,
): Promise<void> {
  const prng = new Prng(seed);
  const acked = new Model();
  let accepted = new Map<number, number>();
  let snapshots: { snapshot: Snapshot; model: Model }[] = [];
  let engine = await reopen();

  async function reopen(): Promise<Engine> {
    for (let attempt = 0; ; attempt++) {
      const crashAt =
        attempt < 3 && prng.chance(options.crashProbability)
          ? prng.range(1, options.crashWithin)
          : null;
      try {
        const opened = await store.open({}, crashAt);
        accepted = new Map(allBuckets().map((id) => [id, opened.appliedIndex(B(id))]));
        return opened;
      } catch (error) {
        if (!isSimulatedCrash(error)) throw error;
        stats.crashesDuringRecovery += 1;
        await store.crash();
      }
    }
  }

  /** After a crash: reopen, and find which prefix of `inFlight` the recovered state holds. */
  async function recover(inFlight: readonly Effect[]): Promise<void> {
    stats.crashes += 1;
    snapshots = [];
    await store.crash();
    engine = await reopen();
    const actual = engineState(engine, allBuckets());
    let candidate = acked.clone();
    const matches: number[] = [];
    for (let k = 0; ; k++) {
      if (assertSame(actual, modelState(candidate, allBuckets()))) matches.push(k);
      if (k === inFlight.length) break;
      candidate = candidate.clone();
      (inFlight[k] as Effect)(candidate);
    }
    if (matches.length === 0) {
      const want = modelState(acked, allBuckets());
      if (process.env['STORAGE_DEBUG'] !== undefined) {
        let c = acked.clone();
        for (let k = 0; k < inFlight.length; k++) {
          c = c.clone();
          (inFlight[k] as Effect)(c);
          console.log(`candidate ${k + 1}:\n${diff(actual, modelState(c, allBuckets()))}`);
        }
      }
      assert.fail(
        `recovered state is the acknowledged state plus no prefix of the ${inFlight.length} ` +
          `operations in flight; against the acknowledged state:\n${diff(actual, want)}`,
      );
    }
    const k = matches.at(-1) as number;
    stats.inFlightRecovered += k;
    stats.inFlightLost += inFlight.length - k;
    for (const effect of inFlight.slice(0, k)) effect(acked);
    engine.verify();
  }

  /**
   * Waits for `ops` (already submitted, in this order), applying the effects of each as it
   * resolves; recovers on a crash. An op's effects are its atomic parts in log order (one per
   * entry of an apply): a crash may keep a prefix of them.
   */
  async function settle(ops: { promise: Promise<unknown>; effects: Effect[] }[]): Promise<void> {
    const results = await Promise.allSettled(ops.map((o) => o.promise));
    const inFlight: Effect[] = [];
    let crashed = false;
    results.forEach((r, i) => {
      const op = ops[i] as (typeof ops)[number];
      if (r.status === 'fulfilled' && !crashed) op.effects.forEach((effect) => effect(acked));
      else if (r.status === 'fulfilled' && crashed) inFlight.push(...op.effects);
      else if (r.status === 'rejected' && (isSimulatedCrash(r.reason) || store.crashes().fired)) {
        crashed = true;
        inFlight.push(...op.effects);
      } else if (r.status === 'rejected') throw r.reason;
    });
    if (crashed || store.crashes().fired) await recover(inFlight);
  }

  /** Runs a synchronous engine call; recovers if it meets the crash. */
  async function guard(fn: () => void): Promise<void> {
    try {
      fn();
    } catch (error) {
      if (!isSimulatedCrash(error) && !store.crashes().fired) throw error;
      await recover([]);
    }
  }

  const keyFor = (bucket: number): Buffer => {
    if (options.longKeys && prng.chance(0.1)) {
      return Buffer.concat([Buffer.alloc(2000, 0x6c), Buffer.from([bucket, prng.int(4)])]);
    }
    return Buffer.from(`k${prng.int(12)}`);
  };
  const valueFor = (): Buffer => {
    const size = prng.chance(0.5) ? prng.int(40) : 65 + prng.int(600);
    const value = Buffer.alloc(size);
    for (let i = 0; i < size; i++) value[i] = prng.int(256);
    return value;
  };

  function submitWrites(): { promise: Promise<unknown>; effects: Effect[] }[] {
    const ops: { promise: Promise<unknown>; effects: Effect[] }[] = [];
    for (let call = prng.range(1, 4); call > 0; call--) {
      const bucket = prng.int(BUCKETS);
      const entries: Entry[] = [];
      let index = accepted.get(bucket) ?? 0;
      for (let e = prng.range(1, 3); e > 0; e--) {
        index += prng.chance(0.1) ? 2 : 1;
        const ops_: Op[] = [];
        for (let o = prng.int(4); o > 0; o--) {
          ops_.push(
            prng.chance(0.25)
              ? { kind: 'delete', key: keyFor(bucket) }
              : { kind: 'put', key: keyFor(bucket), value: valueFor() },
          );
        }
        entries.push({ index: I(index), ops: ops_ });
      }
      accepted.set(bucket, index);
      const effects = entries.map((e): Effect => (model) => {
        const m = model.bucket(bucket);
        for (const op of e.ops) {
          if (op.kind === 'put')
            m.rows.set(hex(op.key), { value: Buffer.from(op.value), version: e.index });
          else m.rows.delete(hex(op.key));
        }
        m.applied = e.index;
      });
      ops.push({ promise: engine.apply(B(bucket), entries), effects });
    }
    return ops;
  }

  async function transfer(): Promise<void> {
    const from = prng.int(BUCKETS);
    const to = (from + 1 + prng.int(BUCKETS - 1)) % BUCKETS;
    const pinned = snapshots.length > 0 && prng.chance(0.5) ? prng.pick(snapshots) : null;
    let chunks: BucketChunk[];
    try {
      chunks = [];
      for await (const c of engine.exportBucket(
        B(from),
        pinned === null ? {} : { snapshot: pinned.snapshot },
      ))
        chunks.push(c);
    } catch (error) {
      if (!isSimulatedCrash(error) && !store.crashes().fired) throw error;
      return recover([]);
    }
    const source = (pinned?.model ?? acked).bucket(from);
    const version = source.applied;
    assert.equal(chunks[0]?.version ?? -1, version, 'export version');
    const exported = chunks.flatMap((c) =>
      c.rows.map((r) => `${hex(r.key)}=${hex(r.value)}@${r.version}`),
    );
    const want = [...source.rows].map(([k, r]) => `${k}=${hex(r.value)}@${r.version}`);
    assert.deepEqual([...exported].sort(), [...want].sort(), 'export content');
    const rows = new Map(source.rows);
    const effect: Effect = (model) => {
      const m = model.bucket(to);
      m.applied = version;
      m.rows = new Map(rows);
    };
    const stream = async function* (): AsyncGenerator<BucketChunk> {
      for (const c of chunks) yield await Promise.resolve(c);
    };
    const promise = engine.installBucket(B(to), stream());
    await settle([{ promise, effects: [effect] }]);
    if (!store.crashes().fired) accepted.set(to, engine.appliedIndex(B(to)));
  }

  async function drop(): Promise<void> {
    const bucket = prng.int(BUCKETS);
    const effect: Effect = (model) => {
      model.buckets.delete(bucket);
    };
    const promise = engine.dropBucket(B(bucket));
    accepted.set(bucket, 0);
    await settle([{ promise, effects: [effect] }]);
  }

  function checkReads(): void {
    const got = engineState(engine, allBuckets());
    const want = modelState(acked, allBuckets());
    if (!assertSame(got, want)) assert.fail(`reads differ from the model:\n${diff(got, want)}`);
    for (const { snapshot, model } of snapshots) {
      const bucket = prng.int(BUCKETS);
      const want = modelState(model, [bucket]).slice(1);
      const got: string[] = [];
      let start: Uint8Array | undefined;
      for (;;) {
        const page = engine.scan(B(bucket), { start, limit: 50, snapshot });
        for (const r of page.rows) got.push(`${bucket}/${hex(r.key)}=${hex(r.value)}@${r.version}`);
        if (page.resumeAt === null) break;
        start = page.resumeAt;
      }
      if (!assertSame(got, want))
        assert.fail(`snapshot ${snapshot.id} of bucket ${bucket}:\n${diff(got, want)}`);
    }
  }

  for (let step = 0; step < options.steps; step++) {
    stats.operations += 1;
    const roll = prng.int(100);
    if (roll < 45) await settle(submitWrites());
    else if (roll < 50) await drop();
    else if (roll < 57) await transfer();
    else if (roll < 63 && snapshots.length < 3)
      snapshots.push({ snapshot: engine.openSnapshot(), model: acked.clone() });
    else if (roll < 68 && snapshots.length > 0)
      snapshots.splice(prng.int(snapshots.length), 1)[0]?.snapshot.release();
    else if (roll < 73) await guard(() => engine.checkpoint());
    else if (roll < 78) {
      try {
        await engine.compact();
      } catch (error) {
        if (!isSimulatedCrash(error) && !store.crashes().fired) throw error;
        await recover([]);
      }
    } else if (roll < 82) await guard(() => engine.runMaintenance());
    else if (roll < 85) {
      await engine.close().catch((error: unknown) => {
        if (!isSimulatedCrash(error)) throw error;
      });
      if (store.crashes().fired) await recover([]);
      else {
        snapshots = [];
        engine = await reopen();
      }
    } else if (roll < 90) await guard(() => engine.verify());
    if (!store.crashes().fired) checkReads();
    else await recover([]);
  }
  if (!store.crashes().fired) {
    engine.verify();
    await engine.close().catch(() => undefined);
  }
}

/** The lines only in `got` (+) and only in `want` (-), values shortened, at most 20. */
function diff(got: readonly string[], want: readonly string[]): string {
  const short = (line: string): string => line.replace(/=([0-9a-f]{16})[0-9a-f]+@/, '=$1…@');
  const g = new Set(got);
  const w = new Set(want);
  const lines = [
    ...got.filter((x) => !w.has(x)).map((x) => `+ ${short(x)}`),
    ...want.filter((x) => !g.has(x)).map((x) => `- ${short(x)}`),
  ];
  return lines.slice(0, 20).join('\n') + (lines.length > 20 ? `\n… ${lines.length - 20} more` : '');
}

/** Whether two state listings are equal (without throwing). */
function assertSame(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
