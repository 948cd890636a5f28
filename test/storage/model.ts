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

/** An operation submitted to the engine, with its effects on the model in log order. */
interface Pending {
  readonly promise: Promise<unknown>;
  readonly effects: readonly Effect[];
}

/** Runs one seed: random operations with crashes against `store`, checked against the model. */
export async function runSeed(
  seed: number,
  store: TestStore,
  options: DriverOptions,
  stats: DriverStats,
): Promise<void> {
  const driver = new Driver(new Prng(seed), store, options, stats);
  await driver.run();
}

/** One seed's run; see the file comment. */
class Driver {
  private readonly acked = new Model();
  private accepted = new Map<number, number>();
  private snapshots: { snapshot: Snapshot; model: Model }[] = [];
  private engine!: Engine;

  constructor(
    private readonly prng: Prng,
    private readonly store: TestStore,
    private readonly options: DriverOptions,
    private readonly stats: DriverStats,
  ) {}

  async run(): Promise<void> {
    this.engine = await this.reopen();
    for (let step = 0; step < this.options.steps; step++) {
      this.stats.operations += 1;
      await this.step(this.prng.int(100));
      if (this.crashed) await this.recover([]);
      else this.checkReads();
    }
    if (!this.crashed) {
      this.engine.verify();
      await this.engine.close().catch(() => undefined);
    }
  }

  private get crashed(): boolean {
    return this.store.crashes().fired;
  }

  private async step(roll: number): Promise<void> {
    const { engine, snapshots, prng } = this;
    if (roll < 45) await this.settle(this.submitWrites());
    else if (roll < 50) await this.drop();
    else if (roll < 57) await this.transfer();
    else if (roll < 63 && snapshots.length < 3) {
      snapshots.push({ snapshot: engine.openSnapshot(), model: this.acked.clone() });
    } else if (roll < 68 && snapshots.length > 0) {
      snapshots.splice(prng.int(snapshots.length), 1)[0]?.snapshot.release();
    } else if (roll < 73) await this.guard(() => engine.checkpoint());
    else if (roll < 78) await this.guard(() => engine.compact());
    else if (roll < 82) await this.guard(() => engine.runMaintenance());
    else if (roll < 85) await this.restart();
    else if (roll < 90) await this.guard(() => engine.verify());
  }

  /** Opens the engine, crashing (at a drawn crash point) and retrying during recovery. */
  private async reopen(): Promise<Engine> {
    const { prng, options } = this;
    for (let attempt = 0; ; attempt++) {
      // Recovery itself takes a handful of mutating calls; a third of the crash points land there.
      const within = prng.chance(0.33) ? 8 : options.crashWithin;
      const crashAt =
        attempt < 3 && prng.chance(options.crashProbability) ? prng.range(1, within) : null;
      try {
        const opened = await this.store.open({}, crashAt);
        this.accepted = new Map(allBuckets().map((id) => [id, opened.appliedIndex(B(id))]));
        return opened;
      } catch (error) {
        if (!isSimulatedCrash(error)) throw error;
        this.stats.crashesDuringRecovery += 1;
        await this.store.crash();
      }
    }
  }

  /** A clean close and reopen (which may itself meet the crash point). */
  private async restart(): Promise<void> {
    await this.engine.close().catch((error: unknown) => {
      if (!isSimulatedCrash(error)) throw error;
    });
    if (this.crashed) return;
    this.snapshots = [];
    this.engine = await this.reopen();
  }

  /** After a crash: reopen, and find which prefix of `inFlight` the recovered state holds. */
  private async recover(inFlight: readonly Effect[]): Promise<void> {
    this.stats.crashes += 1;
    this.snapshots = [];
    await this.store.crash();
    this.engine = await this.reopen();
    const actual = engineState(this.engine, allBuckets());
    let candidate = this.acked.clone();
    let matched = -1;
    for (let k = 0; ; k++) {
      if (assertSame(actual, modelState(candidate, allBuckets()))) matched = k;
      if (k === inFlight.length) break;
      candidate = candidate.clone();
      (inFlight[k] as Effect)(candidate);
    }
    if (matched < 0) {
      assert.fail(
        `recovered state is the acknowledged state plus no prefix of the ${inFlight.length} ` +
          `operations in flight; against the acknowledged state:\n` +
          diff(actual, modelState(this.acked, allBuckets())),
      );
    }
    this.stats.inFlightRecovered += matched;
    this.stats.inFlightLost += inFlight.length - matched;
    for (const effect of inFlight.slice(0, matched)) effect(this.acked);
    this.engine.verify();
  }

  /**
   * Waits for `ops` (already submitted, in this order), applying the effects of each as it
   * resolves; recovers on a crash. An op's effects are its atomic parts in log order (one per
   * entry of an apply): a crash may keep a prefix of them.
   */
  private async settle(ops: readonly Pending[]): Promise<void> {
    const results = await Promise.allSettled(ops.map((o) => o.promise));
    const inFlight: Effect[] = [];
    results.forEach((r, i) => {
      const op = ops[i] as Pending;
      if (r.status === 'rejected' && !isSimulatedCrash(r.reason) && !this.crashed) throw r.reason;
      if (r.status === 'fulfilled' && inFlight.length === 0)
        op.effects.forEach((e) => e(this.acked));
      else inFlight.push(...op.effects);
    });
    if (inFlight.length > 0 || this.crashed) await this.recover(inFlight);
  }

  /** Runs an engine call; recovers if it meets the crash. Returns whether it completed. */
  private async guard(fn: () => unknown): Promise<boolean> {
    try {
      await fn();
      return true;
    } catch (error) {
      if (!isSimulatedCrash(error) && !this.crashed) throw error;
      await this.recover([]);
      return false;
    }
  }

  private keyFor(bucket: number): Buffer {
    if (this.options.longKeys && this.prng.chance(0.1)) {
      return Buffer.concat([Buffer.alloc(2000, 0x6c), Buffer.from([bucket, this.prng.int(4)])]);
    }
    return Buffer.from(`k${this.prng.int(12)}`);
  }

  private valueFor(): Buffer {
    const size = this.prng.chance(0.5) ? this.prng.int(40) : 65 + this.prng.int(600);
    const value = Buffer.alloc(size);
    for (let i = 0; i < size; i++) value[i] = this.prng.int(256);
    return value;
  }

  /** Submits 1-4 applies (random buckets, 1-3 entries of 0-3 ops each) without waiting. */
  private submitWrites(): Pending[] {
    const { prng } = this;
    const pending: Pending[] = [];
    for (let call = prng.range(1, 4); call > 0; call--) {
      const bucket = prng.int(BUCKETS);
      const entries: Entry[] = [];
      let index = this.accepted.get(bucket) ?? 0;
      for (let e = prng.range(1, 3); e > 0; e--) {
        index += prng.chance(0.1) ? 2 : 1;
        const ops: Op[] = [];
        for (let o = prng.int(4); o > 0; o--) {
          const key = this.keyFor(bucket);
          ops.push(
            prng.chance(0.25)
              ? { kind: 'delete', key }
              : { kind: 'put', key, value: this.valueFor() },
          );
        }
        entries.push({ index: I(index), ops });
      }
      this.accepted.set(bucket, index);
      const effects = entries.map(
        (e): Effect =>
          (model) =>
            applyEntry(model.bucket(bucket), e),
      );
      pending.push({ promise: this.engine.apply(B(bucket), entries), effects });
    }
    return pending;
  }

  /** Exports a bucket (at its latest version or at a snapshot) and installs it in another. */
  private async transfer(): Promise<void> {
    const { prng } = this;
    const from = prng.int(BUCKETS);
    const to = (from + 1 + prng.int(BUCKETS - 1)) % BUCKETS;
    const pinned = this.snapshots.length > 0 && prng.chance(0.5) ? prng.pick(this.snapshots) : null;
    const chunks: BucketChunk[] = [];
    const exported = await this.guard(async () => {
      const options = pinned === null ? {} : { snapshot: pinned.snapshot };
      for await (const c of this.engine.exportBucket(B(from), options)) chunks.push(c);
    });
    if (!exported) return;
    const source = (pinned?.model ?? this.acked).bucket(from);
    checkExport(chunks, source);
    const version = source.applied;
    const rows = new Map(source.rows);
    const effect: Effect = (model) => {
      model.buckets.set(to, { applied: version, rows: new Map(rows) });
    };
    const stream = async function* (): AsyncGenerator<BucketChunk> {
      for (const c of chunks) yield await Promise.resolve(c);
    };
    await this.settle([{ promise: this.engine.installBucket(B(to), stream()), effects: [effect] }]);
    if (!this.crashed) this.accepted.set(to, this.engine.appliedIndex(B(to)));
  }

  private async drop(): Promise<void> {
    const bucket = this.prng.int(BUCKETS);
    const effect: Effect = (model) => {
      model.buckets.delete(bucket);
    };
    const promise = this.engine.dropBucket(B(bucket));
    this.accepted.set(bucket, 0);
    await this.settle([{ promise, effects: [effect] }]);
  }

  /** Every bucket, and one bucket through each open snapshot, against the model. */
  private checkReads(): void {
    const got = engineState(this.engine, allBuckets());
    const want = modelState(this.acked, allBuckets());
    if (!assertSame(got, want)) assert.fail(`reads differ from the model:\n${diff(got, want)}`);
    for (const { snapshot, model } of this.snapshots) {
      const bucket = this.prng.int(BUCKETS);
      const seen = modelState(model, [bucket]).slice(1);
      const read = scanAll(this.engine, bucket, snapshot);
      if (!assertSame(read, seen)) {
        assert.fail(`snapshot ${snapshot.id} of bucket ${bucket}:\n${diff(read, seen)}`);
      }
    }
  }
}

function applyEntry(m: BucketModel, e: Entry): void {
  for (const op of e.ops) {
    if (op.kind === 'put')
      m.rows.set(hex(op.key), { value: Buffer.from(op.value), version: e.index });
    else m.rows.delete(hex(op.key));
  }
  m.applied = e.index;
}

/** The rows of `bucket` as seen through `snapshot`, as state lines. */
function scanAll(engine: Engine, bucket: number, snapshot: Snapshot): string[] {
  const out: string[] = [];
  let start: Uint8Array | undefined;
  for (;;) {
    const page = engine.scan(B(bucket), { start, limit: 50, snapshot });
    for (const r of page.rows) out.push(`${bucket}/${hex(r.key)}=${hex(r.value)}@${r.version}`);
    if (page.resumeAt === null) return out;
    start = page.resumeAt;
  }
}

/** An export's chunks hold exactly the source's rows at its version. */
function checkExport(chunks: readonly BucketChunk[], source: BucketModel): void {
  assert.equal(chunks[0]?.version, source.applied, 'export version');
  const exported = chunks.flatMap((c) =>
    c.rows.map((r) => `${hex(r.key)}=${hex(r.value)}@${r.version}`),
  );
  const want = [...source.rows].map(([k, r]) => `${k}=${hex(r.value)}@${r.version}`);
  assert.deepEqual([...exported].sort(), [...want].sort(), 'export content');
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
