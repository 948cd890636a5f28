/**
 * Crash points for the storage engine, on any FileSystem and IndexStore.
 *
 * {@link CrashPoints} numbers every mutating call (append, sync, create, truncate, remove, index
 * commit) of one process lifetime and throws {@link SimulatedCrash} at a chosen one, before it takes
 * effect: the process died there. Every later call throws too, as nothing runs after a death.
 *
 * {@link FaultyFileSystem} also emulates a power cut on a real file system: it remembers, per file,
 * how many bytes were synced, and `powerCut(prng)` cuts each file to a random length between its
 * synced length and its current one (appends reach the disk in order, so what survives is a prefix).
 * On the simulated disk, use `SimDisk.crash()` instead.
 */
import type { FileSystem } from '../src/storage/file-system.js';
import type { IndexStore, IndexWrite, Table } from '../src/storage/index-store.js';
import type { Prng } from '../src/core/lib/prng.js';

/** Thrown at a crash point: the process "died" before the call took effect. */
export class SimulatedCrash extends Error {
  override readonly name = 'SimulatedCrash';
}

/** Numbers mutating calls and crashes at a chosen one. */
export class CrashPoints {
  /** Mutating calls so far in this lifetime. */
  count = 0;
  /** Whether the crash point fired. */
  fired = false;

  constructor(
    /** The call number to crash at (1-based), or null for none. */
    readonly crashAt: number | null = null,
  ) {}

  /** Counts one mutating call; throws if it is the crash point or comes after it. */
  tick(what: string): void {
    if (this.fired) throw new SimulatedCrash(`after the crash: ${what}`);
    this.count += 1;
    if (this.crashAt !== null && this.count >= this.crashAt) {
      this.fired = true;
      throw new SimulatedCrash(`crash point ${this.count}: ${what}`);
    }
  }
}

/** Whether `error` is, or was caused by, a {@link SimulatedCrash}. */
export function isSimulatedCrash(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 8; depth++) {
    if (e instanceof SimulatedCrash) return true;
    e = e.cause;
  }
  return false;
}

/** A FileSystem with crash points and power-cut emulation around another one. */
export class FaultyFileSystem implements FileSystem {
  /** Per file: bytes known durable. */
  private readonly synced = new Map<string, number>();

  constructor(
    private readonly inner: FileSystem,
    readonly crashes: CrashPoints,
  ) {
    for (const name of inner.list()) this.synced.set(name, inner.size(name) ?? 0);
  }

  list(): string[] {
    return this.inner.list();
  }

  size(name: string): number | null {
    return this.inner.size(name);
  }

  read(name: string, position: number, length: number): Uint8Array {
    return this.inner.read(name, position, length);
  }

  create(name: string): void {
    this.crashes.tick(`create ${name}`);
    this.inner.create(name);
    this.synced.set(name, 0);
  }

  append(name: string, chunks: readonly Uint8Array[]): void {
    this.crashes.tick(`append ${name}`);
    this.inner.append(name, chunks);
  }

  sync(name: string): void {
    this.crashes.tick(`sync ${name}`);
    this.inner.sync(name);
    this.synced.set(name, this.inner.size(name) ?? 0);
  }

  truncate(name: string, length: number): void {
    this.crashes.tick(`truncate ${name}`);
    this.inner.truncate(name, length);
    this.synced.set(name, length);
  }

  remove(name: string): void {
    this.crashes.tick(`remove ${name}`);
    this.inner.remove(name);
    this.synced.delete(name);
  }

  close(): void {
    this.inner.close();
  }

  /**
   * Loses what a power cut would: each file keeps its synced bytes and a random prefix of the rest.
   * Call after `close()`, on a fresh handle to the same directory. Returns the bytes cut.
   */
  powerCut(prng: Prng, files: FileSystem): number {
    let cut = 0;
    for (const name of files.list()) {
      const size = files.size(name) ?? 0;
      const synced = Math.min(this.synced.get(name) ?? size, size);
      if (synced >= size) continue;
      const keep = synced + prng.int(size - synced + 1);
      if (keep < size) {
        files.truncate(name, keep);
        cut += size - keep;
      }
    }
    return cut;
  }
}

/** An IndexStore whose commits are crash points. */
export class FaultyIndexStore implements IndexStore {
  constructor(
    private readonly inner: IndexStore,
    readonly crashes: CrashPoints,
  ) {}

  get(table: Table, key: Uint8Array): Uint8Array | undefined {
    return this.inner.get(table, key);
  }

  entries(
    table: Table,
    start: Uint8Array,
    end: Uint8Array | null,
  ): Iterable<readonly [Uint8Array, Uint8Array]> {
    return this.inner.entries(table, start, end);
  }

  commit(writes: readonly IndexWrite[]): void {
    this.crashes.tick(`index commit of ${writes.length} writes`);
    this.inner.commit(writes);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
