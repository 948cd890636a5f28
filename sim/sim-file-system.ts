/**
 * The storage engine's FileSystem (src/storage/file-system.ts) over the simulated disk, with
 * seeded crash points: a {@link CrashPoints} counter numbers every mutating call (and, through
 * `beforeCommit`, every index commit) and throws {@link SimulatedCrash} at a chosen one, before the
 * call takes effect. The test then calls `disk.crash()`, which keeps synced bytes and a random
 * prefix of the rest, possibly torn, and reopens the engine on the same disk.
 *
 * Each `append` is one SimDisk record, so a crash can keep some batches and tear the last one kept
 * at any byte, which is what a real disk may do to unsynced appends.
 */
import type { FileSystem } from '../src/storage/file-system.js';
import { assert } from '../src/core/lib/assert.js';
import type { SimDisk } from './disk.js';

/** Thrown at a crash point; the process "died" before the call took effect. */
export class SimulatedCrash extends Error {
  override readonly name = 'SimulatedCrash';
}

/** Numbers mutating calls and crashes at a chosen one. */
export class CrashPoints {
  /** Mutating calls so far. */
  count = 0;
  /** The call number to crash at (1-based), or null for none. */
  crashAt: number | null = null;
  /** Whether the crash point fired. */
  fired = false;

  /** Counts one mutating call; throws if it is the crash point (and after it fired). */
  tick(what: string): void {
    if (this.fired) throw new SimulatedCrash(`after the crash: ${what}`);
    this.count += 1;
    if (this.crashAt !== null && this.count >= this.crashAt) {
      this.fired = true;
      throw new SimulatedCrash(`crash point ${this.count}: ${what}`);
    }
  }

  /** Re-arms for the next process lifetime. */
  reset(crashAt: number | null): void {
    this.count = 0;
    this.crashAt = crashAt;
    this.fired = false;
  }
}

export class SimFileSystem implements FileSystem {
  private closed = false;

  constructor(
    readonly disk: SimDisk,
    readonly crashes: CrashPoints = new CrashPoints(),
  ) {}

  list(): string[] {
    this.checkOpen();
    return this.disk.list();
  }

  size(name: string): number | null {
    this.checkOpen();
    return this.disk.size(name);
  }

  read(name: string, position: number, length: number): Uint8Array {
    this.checkOpen();
    const bytes = this.disk.read(name);
    if (bytes === null) throw notFound(name);
    return bytes.subarray(position, Math.min(bytes.length, position + length));
  }

  create(name: string): void {
    this.checkOpen();
    assert(this.disk.size(name) === null, `create of existing file ${name}`);
    this.crashes.tick(`create ${name}`);
    this.disk.writeAtomic(name, new Uint8Array(0));
  }

  append(name: string, chunks: readonly Uint8Array[]): void {
    this.checkOpen();
    if (this.disk.size(name) === null) throw notFound(name);
    this.crashes.tick(`append ${name}`);
    this.disk.append(name, Buffer.concat(chunks));
  }

  sync(name: string): void {
    this.checkOpen();
    this.crashes.tick(`sync ${name}`);
    this.disk.fsync(name);
  }

  truncate(name: string, length: number): void {
    this.checkOpen();
    this.crashes.tick(`truncate ${name}`);
    this.disk.truncate(name, length);
  }

  remove(name: string): void {
    this.checkOpen();
    if (this.disk.size(name) === null) throw notFound(name);
    this.crashes.tick(`remove ${name}`);
    this.disk.remove(name);
  }

  close(): void {
    this.closed = true;
  }

  private checkOpen(): void {
    assert(!this.closed, 'file system is closed');
  }
}

function notFound(name: string): Error {
  return Object.assign(new Error(`ENOENT: no such file ${name}`), { code: 'ENOENT' });
}
