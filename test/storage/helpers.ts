// Shared set-up for the storage tests: stores on the simulated disk (with an in-memory index) and on
// a real temporary directory (with LMDB), opened, crashed and reopened the same way.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Prng } from '../../src/core/lib/prng.js';
import { bucketId, logIndex, type BucketId, type LogIndex } from '../../src/core/lib/ids.js';
import { Engine, type Entry, type Op } from '../../src/storage/engine.js';
import { NodeFileSystem, type FileSystem } from '../../src/storage/file-system.js';
import {
  MemoryIndexData,
  MemoryIndexStore,
  type IndexStore,
} from '../../src/storage/index-store.js';
import { LmdbIndexStore } from '../../src/storage/lmdb-index.js';
import type { StorageOptions } from '../../src/storage/options.js';
import { SimDisk } from '../../sim/disk.js';
import { CrashPoints, FaultyFileSystem, FaultyIndexStore } from '../../sim/faulty-storage.js';
import { SimFileSystem } from '../../sim/sim-file-system.js';

/** Options for tests: no timers (the tests decide when to checkpoint and compact), small units. */
export const testOptions: Partial<StorageOptions> = {
  checkpointIntervalMs: 0,
  compactionIntervalMs: 0,
  segmentBytesTarget: 16 * 1024,
  inlineValueBytesMax: 64,
  memtableRowsMax: 200,
  exportChunkRowsMax: 7,
  exportChunkBytesTarget: 4096,
  maintenanceRowsPerStep: 5,
  compactionBytesPerSecond: 1024 * 1024 * 1024,
};

/** A store's durable state and how to open engines on it, crash them and clean up. */
export interface TestStore {
  readonly kind: 'sim' | 'real';
  /** Opens an engine; with `crashAt`, mutating call number `crashAt` of this lifetime crashes. */
  open(options?: Partial<StorageOptions>, crashAt?: number | null): Promise<Engine>;
  /** The crash points of the current lifetime. */
  crashes(): CrashPoints;
  /** Kills the current lifetime without closing the engine, and loses what a power cut would. */
  crash(): Promise<void>;
  /** The log directory's file system, for inspecting and damaging files (real stores only). */
  files(): FileSystem;
  readonly disk?: SimDisk;
  cleanup(): void;
}

/** A FileSystem that acknowledges fdatasync without doing it: a planted bug for the checkers. */
class IgnoresSync extends SimFileSystem {
  override sync(): void {}
}

/**
 * A store on the simulated disk with an in-memory index. With `ignoreSync`, the disk lies about
 * fdatasync, to prove the crash checker catches lost acknowledged writes.
 */
export function simStore(seed: number, ignoreSync = false): TestStore {
  const prng = new Prng(seed);
  const disk = new SimDisk(prng.fork());
  const data = new MemoryIndexData();
  let crashes = new CrashPoints();
  let current: { fs: FileSystem; index: IndexStore } | null = null;
  return {
    kind: 'sim',
    disk,
    async open(options = {}, crashAt = null) {
      crashes = new CrashPoints(crashAt);
      current = {
        fs: new FaultyFileSystem(
          ignoreSync ? new IgnoresSync(disk) : new SimFileSystem(disk),
          crashes,
        ),
        index: new FaultyIndexStore(new MemoryIndexStore(data), crashes),
      };
      return Engine.open(current, { ...testOptions, ...options });
    },
    crashes: () => crashes,
    async crash() {
      if (current !== null) {
        current.fs.close();
        await current.index.close();
        current = null;
      }
      disk.crash();
    },
    files: () => new SimFileSystem(disk),
    cleanup: () => undefined,
  };
}

/** A store in a temporary directory: NodeFileSystem under log/, LMDB under index/. */
export function realStore(seed: number): TestStore {
  const prng = new Prng(seed);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edict-storage-'));
  const logDir = path.join(dir, 'log');
  let crashes = new CrashPoints();
  let current: { fs: FaultyFileSystem; index: IndexStore } | null = null;
  return {
    kind: 'real',
    async open(options = {}, crashAt = null) {
      crashes = new CrashPoints(crashAt);
      current = {
        fs: new FaultyFileSystem(new NodeFileSystem(logDir), crashes),
        index: new FaultyIndexStore(new LmdbIndexStore({ path: path.join(dir, 'index') }), crashes),
      };
      return Engine.open(current, { ...testOptions, ...options });
    },
    crashes: () => crashes,
    async crash() {
      if (current === null) return;
      current.fs.close();
      await current.index.close();
      const files = new NodeFileSystem(logDir);
      current.fs.powerCut(prng, files);
      files.close();
      current = null;
    },
    files: () => new NodeFileSystem(logDir),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export const b = (s: string): Buffer => Buffer.from(s);
export const B = (n: number): BucketId => bucketId(n);
export const I = (n: number): LogIndex => logIndex(n);
export const put = (key: string | Uint8Array, value: string | Uint8Array): Op => ({
  kind: 'put',
  key: typeof key === 'string' ? b(key) : key,
  value: typeof value === 'string' ? b(value) : value,
});
export const del = (key: string | Uint8Array): Op => ({
  kind: 'delete',
  key: typeof key === 'string' ? b(key) : key,
});
export const entry = (index: number, ...ops: Op[]): Entry => ({ index: I(index), ops });

/** Every row of `bucket` as [key, value, version] strings, through paged scans. */
export function dump(
  engine: Engine,
  bucket: BucketId,
  options: { atVersion?: number } = {},
): string[] {
  const out: string[] = [];
  let start: Uint8Array | undefined;
  for (let i = 0; i < 100_000; i++) {
    const page = engine.scan(bucket, { start, limit: 50, ...options });
    for (const row of page.rows) {
      out.push(
        `${Buffer.from(row.key).toString('hex')}=${Buffer.from(row.value).toString('hex')}@${row.version}`,
      );
    }
    if (page.resumeAt === null) return out;
    start = page.resumeAt;
  }
  throw new Error('dump did not finish');
}

/** Rejects unless `promise` rejects with a storage error of `code`. */
export async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if ((error as { code?: string }).code === code) return;
    throw error;
  }
  throw new Error(`expected a rejection with ${code}`);
}

/** Throws unless `fn` throws a storage error of `code`. */
export function throwsWith(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (error) {
    if ((error as { code?: string }).code === code) return;
    throw error;
  }
  throw new Error(`expected an error with ${code}`);
}
