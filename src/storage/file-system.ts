/**
 * The file system the log sees: one flat directory of named files, synchronous calls. Two
 * implementations: {@link NodeFileSystem} over node:fs, and (in test/storage) an adapter over the
 * simulated disk of sim/disk.ts, so that the same log code runs under real and simulated crashes.
 *
 * Contract, which both implementations honour:
 * - `append` adds bytes at the end of a file, creating it when absent. Appended bytes are visible to
 *   `read` at once and durable only after `sync` of that file returns.
 * - After a crash, each file holds its synced bytes and possibly a prefix of what was appended
 *   later, whose last part may be cut at any byte. Appended bytes reach the disk in order: no hole
 *   is followed by later bytes (ext4 and xfs in their default modes; docs/storage.md).
 * - `create` makes an empty file and makes its name durable before returning.
 * - `truncate` and `remove` are durable when they return.
 * - Calls throw on I/O errors; the caller stops (a failed fdatasync cannot be retried).
 *
 * The calls are synchronous on purpose: one fdatasync costs ~0.25 ms on the bench disk, and the
 * libuv thread-pool round trip of the asynchronous API doubles that (shared/bench/BASELINE.md). Group
 * commit amortises the blocking over every write of a batch.
 */
import fs from 'node:fs';
import path from 'node:path';
import { assert } from '../core/lib/assert.js';
import { StorageError } from './errors.js';

/** Name of the lock file a {@link NodeFileSystem} holds in its directory. */
export const LOCK_FILE = 'LOCK';

/** A flat directory of files with the contract in the file comment. */
export interface FileSystem {
  /** Names of all files, sorted. */
  list(): string[];
  /** Size of `name` in bytes, or null when it does not exist. */
  size(name: string): number | null;
  /** `length` bytes of `name` from `position` (fewer at the end of the file). */
  read(name: string, position: number, length: number): Uint8Array;
  /** Creates an empty file `name` (which must not exist) and makes its directory entry durable. */
  create(name: string): void;
  /** Appends `chunks` in order at the end of `name`, which must exist. */
  append(name: string, chunks: readonly Uint8Array[]): void;
  /** fdatasync: every byte appended to `name` so far is durable when this returns. */
  sync(name: string): void;
  /**
   * `sync` off the calling thread, where the file system can (the real one uses the libuv thread
   * pool): every byte appended to `name` before the call is durable when the promise resolves.
   * Absent: callers fall back to `sync`.
   */
  syncAsync?(name: string): Promise<void>;
  /** Cuts `name` to `length` bytes, durably. */
  truncate(name: string, length: number): void;
  /** Deletes `name`, durably. */
  remove(name: string): void;
  /** Releases open handles. The file system is unusable afterwards. */
  close(): void;
}

/**
 * {@link FileSystem} on a real directory, with cached file descriptors. It holds the directory's
 * `LOCK` file (holding this process's pid) while open, so that two processes never append to one
 * log: a lock whose process is alive makes the constructor throw `STORAGE_LOCKED`; a stale lock (its
 * process died, for instance by SIGKILL) is taken over.
 */
export class NodeFileSystem implements FileSystem {
  private readonly appendFds = new Map<string, number>();
  private readonly readFds = new Map<string, number>();
  private closed = false;

  /** Opens (creating if needed) the directory `dir` and takes its lock. */
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    takeLock(path.join(dir, LOCK_FILE));
  }

  list(): string[] {
    this.checkOpen();
    return fs
      .readdirSync(this.dir, { withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => entry.name)
      .sort();
  }

  size(name: string): number | null {
    this.checkOpen();
    try {
      return fs.statSync(this.pathOf(name)).size;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  read(name: string, position: number, length: number): Uint8Array {
    this.checkOpen();
    assert(position >= 0 && length >= 0, `read ${name}: bad range`);
    const fd = this.readFd(name);
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(fd, out, done, length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done === length ? out : out.subarray(0, done);
  }

  create(name: string): void {
    this.checkOpen();
    const fd = fs.openSync(this.pathOf(name), 'wx');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    this.syncDirectory();
  }

  append(name: string, chunks: readonly Uint8Array[]): void {
    this.checkOpen();
    const fd = this.appendFd(name);
    for (const chunk of coalesce(chunks, COALESCE_BYTES)) {
      let done = 0;
      while (done < chunk.length) done += fs.writeSync(fd, chunk, done, chunk.length - done);
    }
  }

  sync(name: string): void {
    this.checkOpen();
    fs.fdatasyncSync(this.appendFd(name));
  }

  syncAsync(name: string): Promise<void> {
    this.checkOpen();
    const fd = this.appendFd(name);
    return new Promise((resolve, reject) => {
      fs.fdatasync(fd, (error) => (error === null ? resolve() : reject(error)));
    });
  }

  truncate(name: string, length: number): void {
    this.checkOpen();
    const fd = this.appendFd(name);
    fs.ftruncateSync(fd, length);
    fs.fsyncSync(fd);
  }

  remove(name: string): void {
    this.checkOpen();
    this.closeFds(name);
    fs.rmSync(this.pathOf(name));
    this.syncDirectory();
  }

  close(): void {
    if (this.closed) return;
    for (const name of new Set([...this.appendFds.keys(), ...this.readFds.keys()])) {
      this.closeFds(name);
    }
    this.closed = true;
    fs.rmSync(path.join(this.dir, LOCK_FILE), { force: true });
  }

  private pathOf(name: string): string {
    assert(name.length > 0 && !name.includes('/') && name !== '.' && name !== '..', `bad name`);
    return path.join(this.dir, name);
  }

  private appendFd(name: string): number {
    let fd = this.appendFds.get(name);
    if (fd === undefined) {
      // O_APPEND without O_CREAT: every write lands at the end, and a missing file is an error.
      fd = fs.openSync(this.pathOf(name), fs.constants.O_WRONLY | fs.constants.O_APPEND);
      this.appendFds.set(name, fd);
    }
    return fd;
  }

  private readFd(name: string): number {
    let fd = this.readFds.get(name);
    if (fd === undefined) {
      fd = fs.openSync(this.pathOf(name), 'r');
      this.readFds.set(name, fd);
    }
    return fd;
  }

  private closeFds(name: string): void {
    for (const fds of [this.appendFds, this.readFds]) {
      const fd = fds.get(name);
      if (fd !== undefined) {
        fs.closeSync(fd);
        fds.delete(name);
      }
    }
  }

  private syncDirectory(): void {
    const fd = fs.openSync(this.dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  private checkOpen(): void {
    assert(!this.closed, 'file system is closed');
  }
}

/** Takes the lock file at `file` for this process, or throws `STORAGE_LOCKED`. */
function takeLock(file: string): void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number(fs.readFileSync(file, 'utf8').trim());
    if (Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
      throw new StorageError('STORAGE_LOCKED', `${file} is held by process ${holder}`, {
        file,
        pid: holder,
      });
    }
    fs.rmSync(file, { force: true });
  }
  throw new StorageError('STORAGE_LOCKED', `could not take ${file}`, { file });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Small chunks are copied together up to this size, so a batch of small records is one write. */
const COALESCE_BYTES = 1024 * 1024;

/** `chunks` regrouped: runs of chunks smaller than `limit` are concatenated. */
function coalesce(chunks: readonly Uint8Array[], limit: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let run: Uint8Array[] = [];
  let runBytes = 0;
  const close = (): void => {
    if (run.length === 1) out.push(run[0] as Uint8Array);
    else if (run.length > 1) out.push(Buffer.concat(run, runBytes));
    run = [];
    runBytes = 0;
  };
  for (const chunk of chunks) {
    if (chunk.length >= limit) {
      close();
      out.push(chunk);
      continue;
    }
    if (runBytes + chunk.length > limit) close();
    run.push(chunk);
    runBytes += chunk.length;
  }
  close();
  return out;
}

function isNotFound(error: unknown): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === 'ENOENT';
}
