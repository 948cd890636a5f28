/**
 * The storage engine's FileSystem (src/storage/file-system.ts) over the simulated disk of
 * sim/disk.ts. Each `append` is one SimDisk record, so `disk.crash()` can keep some batches and
 * tear the last one kept at any byte: what a real disk may do to appends that were not synced.
 * `create` uses `writeAtomic`, which models create + fsync + fsync of the directory.
 *
 * Crash points are added by wrapping this in a `FaultyFileSystem` (sim/faulty-storage.ts).
 */
import type { FileSystem } from '../src/storage/file-system.js';
import { assert } from '../src/core/lib/assert.js';
import type { SimDisk } from './disk.js';

/** The FileSystem of the storage engine on a SimDisk. */
export class SimFileSystem implements FileSystem {
  private closed = false;

  constructor(readonly disk: SimDisk) {}

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
    this.disk.writeAtomic(name, new Uint8Array(0));
  }

  append(name: string, chunks: readonly Uint8Array[]): void {
    this.checkOpen();
    if (this.disk.size(name) === null) throw notFound(name);
    this.disk.append(name, Buffer.concat(chunks));
  }

  sync(name: string): void {
    this.checkOpen();
    this.disk.fsync(name);
  }

  truncate(name: string, length: number): void {
    this.checkOpen();
    this.disk.truncate(name, length);
  }

  remove(name: string): void {
    this.checkOpen();
    if (!this.disk.remove(name)) throw notFound(name);
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
