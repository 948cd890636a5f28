/**
 * The outbound side of one connection. Frames queued during one turn of the event loop are written
 * to the socket together when the turn ends (one `write` of their concatenation, or a corked run of
 * writes for large frames), so a burst of pipelined requests or responses costs one system call.
 *
 * The outbox is bounded by bytes: everything queued here plus everything the socket has accepted
 * but not yet handed to the kernel (`socket.writableLength`). Callers ask {@link Outbox.fits}
 * before queueing; the socket's own `write() === false` / `'drain'` signals are folded into
 * that count, so a slow reader at the other end fills the bound and senders see it.
 */
import type { Socket } from 'node:net';
import { assert } from '../core/lib/assert.js';
import type { EdictError } from '../errors.js';

/** Frames up to this many bytes in total are concatenated into one write; larger runs are corked. */
const CONCAT_BYTES_MAX = 64 * 1024;

interface Waiter {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: EdictError) => void;
}

export class Outbox {
  private frames: Buffer[] = [];
  private queuedBytes = 0;
  private flushScheduled = false;
  private failed: EdictError | null = null;
  /** One promise shared by every caller of `whenDrained()` until the next drain. */
  private waiter: Waiter | null = null;
  private readonly flushBound = (): void => this.flush();

  constructor(
    private readonly socket: Socket,
    /** The byte bound; a single frame larger than it is still accepted into an empty outbox. */
    readonly bytesMax: number,
    /** Called when the outbox has room again after being full. */
    private readonly onWritable: () => void,
  ) {
    assert(Number.isSafeInteger(bytesMax) && bytesMax > 0, 'outbox bytesMax must be positive');
    socket.on('drain', () => this.notify());
  }

  /** Bytes accepted but not yet handed to the kernel. */
  get bytes(): number {
    return this.queuedBytes + this.socket.writableLength;
  }

  /** Whether the outbox is below its bound. */
  get writable(): boolean {
    return this.failed === null && this.bytes < this.bytesMax;
  }

  /** Whether a frame of `frameBytes` may be queued now without passing the bound. */
  fits(frameBytes: number): boolean {
    const bytes = this.bytes;
    return this.failed === null && (bytes === 0 || bytes + frameBytes <= this.bytesMax);
  }

  /**
   * Queues `frame` for the end of this turn. Does not check the bound: bounded senders check
   * {@link fits} first; responses to requests already admitted are queued regardless (their number
   * is bounded by the connection's limit on requests being handled).
   */
  push(frame: Buffer): void {
    if (this.failed !== null) return;
    this.frames.push(frame);
    this.queuedBytes += frame.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flushBound);
    }
  }

  /**
   * Resolves once everything queued has been handed to the kernel, when a frame of any size fits;
   * rejects if the connection fails first. (Resolving merely below the bound would let a caller
   * whose frame still does not fit retry in a busy loop.)
   */
  whenDrained(): Promise<void> {
    if (this.failed !== null) return Promise.reject(this.failed);
    if (this.bytes === 0) return Promise.resolve();
    if (this.waiter === null) {
      let resolve!: () => void;
      let reject!: (error: EdictError) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.waiter = { promise, resolve, reject };
    }
    return this.waiter.promise;
  }

  /** Writes everything queued to the socket now. */
  flush(): void {
    this.flushScheduled = false;
    if (this.failed !== null || this.frames.length === 0) return;
    const frames = this.frames;
    const bytes = this.queuedBytes;
    this.frames = [];
    this.queuedBytes = 0;
    if (!this.socket.writable) return;
    if (frames.length === 1) {
      this.socket.write(frames[0] as Buffer);
    } else if (bytes <= CONCAT_BYTES_MAX) {
      this.socket.write(Buffer.concat(frames, bytes));
    } else {
      this.socket.cork();
      for (const frame of frames) this.socket.write(frame);
      this.socket.uncork();
    }
    this.notify();
  }

  /** Drops what is queued and fails waiters with `error`; later pushes are ignored. */
  fail(error: EdictError): void {
    if (this.failed !== null) return;
    this.failed = error;
    this.frames = [];
    this.queuedBytes = 0;
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.reject(error);
  }

  private notify(): void {
    if (this.waiter !== null && this.bytes === 0) {
      const waiter = this.waiter;
      this.waiter = null;
      waiter.resolve();
    }
    if (this.writable) this.onWritable();
  }
}
