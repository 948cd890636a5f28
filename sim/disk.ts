/**
 * A simulated disk for one node: named files of bytes with the failure semantics of a real disk
 * under a crash.
 *
 * Semantics (each one is tested in test/sim/disk.test.ts):
 * - `append` adds a *record* (a chunk of bytes) at the end of a file. Reads see every appended byte at
 *   once (the page cache), but only bytes covered by an `fsync` of that file are durable.
 * - `crash()` keeps all durable bytes of every file and, of the unsynced records of a file, a prefix
 *   drawn from the PRNG; the last record kept may be torn (cut to a random shorter length). Nothing
 *   past a lost record survives, as on a disk that writes in order.
 * - `writeAtomic` replaces a whole file durably in one step (what write-temp + fsync + rename +
 *   fsync-directory gives on a real file system); `truncate` and `remove` are durable at once.
 * - `corrupt(file, record)` flips one byte of a named record in place, durably: the bit rot or
 *   misdirected write that a checksum must detect.
 * Record numbers count appends since the file was created (or last replaced), starting at 0.
 */
import { assert } from '../src/core/lib/assert.js';
import type { Prng } from '../src/core/lib/prng.js';

export interface SimDiskOptions {
  /** Probability that the last unsynced record kept on a crash is torn. */
  readonly tornWriteProbability: number;
  /** Probability that each unsynced record survives a crash (the survivors form a prefix). */
  readonly unsyncedSurvivalProbability: number;
}

export const defaultSimDiskOptions: SimDiskOptions = {
  tornWriteProbability: 0.5,
  unsyncedSurvivalProbability: 0.5,
};

interface SimFile {
  /** Record boundaries: `ends[i]` is the byte offset just past record i. */
  ends: number[];
  bytes: Uint8Array;
  length: number;
  /** Bytes [0, durableLength) survive a crash. */
  durableLength: number;
  /** Records [0, durableRecords) are fully durable. */
  durableRecords: number;
}

export interface SimDiskStats {
  appends: number;
  fsyncs: number;
  crashes: number;
  lostRecords: number;
  tornRecords: number;
  corruptions: number;
}

export class SimDisk {
  private readonly files = new Map<string, SimFile>();
  readonly stats: SimDiskStats = {
    appends: 0,
    fsyncs: 0,
    crashes: 0,
    lostRecords: 0,
    tornRecords: 0,
    corruptions: 0,
  };

  constructor(
    private readonly prng: Prng,
    private readonly options: SimDiskOptions = defaultSimDiskOptions,
  ) {}

  /** Appends one record to `file` (created if absent); returns its record number. */
  append(file: string, data: Uint8Array): number {
    const f = this.files.get(file) ?? this.create(file);
    this.reserve(f, f.length + data.length);
    f.bytes.set(data, f.length);
    f.length += data.length;
    f.ends.push(f.length);
    this.stats.appends += 1;
    return f.ends.length - 1;
  }

  /** Makes every byte appended to `file` so far durable. */
  fsync(file: string): void {
    const f = this.files.get(file);
    if (f === undefined) return;
    f.durableLength = f.length;
    f.durableRecords = f.ends.length;
    this.stats.fsyncs += 1;
  }

  /** Whether `file` has bytes that a crash could lose. */
  dirty(file: string): boolean {
    const f = this.files.get(file);
    return f !== undefined && f.durableLength < f.length;
  }

  /** Every byte of `file` as seen by a reader now (a copy), or null when it does not exist. */
  read(file: string): Uint8Array | null {
    const f = this.files.get(file);
    return f === undefined ? null : f.bytes.slice(0, f.length);
  }

  /** The size of `file` in bytes, or null when it does not exist. */
  size(file: string): number | null {
    return this.files.get(file)?.length ?? null;
  }

  /** Number of records appended to `file` (including unsynced ones). */
  records(file: string): number {
    return this.files.get(file)?.ends.length ?? 0;
  }

  /** Replaces `file` with `data` durably and atomically; the file then holds one record. */
  writeAtomic(file: string, data: Uint8Array): void {
    const f = this.create(file);
    this.append(file, data);
    f.durableLength = f.length;
    f.durableRecords = f.ends.length;
  }

  /** Cuts `file` to `length` bytes, durably; records past the cut are gone, one may be cut short. */
  truncate(file: string, length: number): void {
    const f = this.files.get(file);
    assert(f !== undefined, `truncate of missing file ${file}`);
    assert(length >= 0 && length <= f.length, `truncate ${file} to ${length} of ${f.length}`);
    cut(f, length);
    f.durableLength = Math.min(f.durableLength, length);
    f.durableRecords = f.ends.filter((end) => end <= f.durableLength).length;
  }

  /** Deletes `file` durably. Returns whether it existed. */
  remove(file: string): boolean {
    return this.files.delete(file);
  }

  /** The names of all files that start with `prefix`, sorted. */
  list(prefix = ''): string[] {
    return [...this.files.keys()].filter((name) => name.startsWith(prefix)).sort();
  }

  /** Flips one byte in record `record` of `file`, durably. */
  corrupt(file: string, record: number): void {
    const f = this.files.get(file);
    assert(f !== undefined, `corrupt of missing file ${file}`);
    assert(record >= 0 && record < f.ends.length, `corrupt ${file}: no record ${record}`);
    const start = record === 0 ? 0 : (f.ends[record - 1] as number);
    const end = f.ends[record] as number;
    assert(end > start, `corrupt ${file}: record ${record} is empty`);
    const at = start + this.prng.int(end - start);
    f.bytes[at] = (f.bytes[at] as number) ^ (1 + this.prng.int(255));
    this.stats.corruptions += 1;
  }

  /**
   * Loses what a power cut would: of each file's unsynced records a random prefix survives, and
   * the last survivor may be torn. Files are visited in name order so the draws are reproducible.
   */
  crash(): void {
    this.stats.crashes += 1;
    for (const name of this.list()) {
      const f = this.files.get(name) as SimFile;
      let kept = f.durableRecords;
      while (kept < f.ends.length && this.prng.chance(this.options.unsyncedSurvivalProbability)) {
        kept += 1;
      }
      this.stats.lostRecords += f.ends.length - kept;
      let length = kept === 0 ? 0 : (f.ends[kept - 1] as number);
      length = Math.max(length, f.durableLength);
      if (kept > f.durableRecords && this.prng.chance(this.options.tornWriteProbability)) {
        const start = kept === 1 ? 0 : (f.ends[kept - 2] as number);
        const from = Math.max(start, f.durableLength);
        length = from + this.prng.int(Math.max(1, length - from));
        this.stats.tornRecords += 1;
      }
      cut(f, length);
      f.durableLength = length;
      f.durableRecords = f.ends.length;
    }
  }

  private create(file: string): SimFile {
    const f: SimFile = {
      ends: [],
      bytes: new Uint8Array(256),
      length: 0,
      durableLength: 0,
      durableRecords: 0,
    };
    this.files.set(file, f);
    return f;
  }

  private reserve(f: SimFile, capacity: number): void {
    if (capacity <= f.bytes.length) return;
    let size = f.bytes.length;
    while (size < capacity) size *= 2;
    const bytes = new Uint8Array(size);
    bytes.set(f.bytes.subarray(0, f.length));
    f.bytes = bytes;
  }
}

/** Sets the file's length; a record that straddles the cut keeps its head as a shorter record. */
function cut(f: SimFile, length: number): void {
  const ends = f.ends.filter((end) => end <= length);
  if ((ends.at(-1) ?? 0) < length) ends.push(length);
  f.ends = ends;
  f.length = length;
}
