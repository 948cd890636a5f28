/**
 * Group commit: many writers, one fdatasync. Writers submit records and get a promise; the records
 * of every submission made in the same event-loop turn are written with one append and made
 * durable with one fdatasync, then applied, then acknowledged, in submission order.
 *
 * Ordering rules:
 * - Submissions are written in the order `submit` was called; their records keep their order.
 * - A submission's `apply` runs only after the fdatasync covering it, and before its promise
 *   resolves. So a resolved write is durable and visible to reads.
 * - The queue is bounded in records and bytes; a submission that does not fit is refused with
 *   `QUEUE_FULL` (a submission larger than the bound is accepted alone into an empty queue).
 * - After a failed write or sync, every pending and later submission is rejected with the failure:
 *   nothing is retried, since after a failed fdatasync the kernel may have dropped the dirty pages.
 */
import { assert, AssertionError } from '../core/lib/assert.js';
import { StorageError } from './errors.js';
import type { PendingRecord, RecordPosition } from './segment-log.js';

/** Records to write together, and what to do once they are durable. */
export interface Submission {
  readonly records: readonly PendingRecord[];
  /** Called with the records' positions after they are durable, before the promise resolves. */
  apply(positions: readonly RecordPosition[]): void;
}

/** Options of {@link GroupCommit}. */
export interface GroupCommitOptions {
  /** Most records waiting for the next batch. */
  readonly queueRecordsMax: number;
  /** Most payload bytes waiting for the next batch. */
  readonly queueBytesMax: number;
}

/** What a batch is written through. */
export interface BatchWriter {
  /** Writes and fdatasyncs `records` in order; returns their positions. */
  appendBatch(records: readonly PendingRecord[]): RecordPosition[];
}

interface Waiter {
  readonly submission: Submission;
  readonly bytes: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Counters, for stats and benchmarks. */
export interface GroupCommitStats {
  batches: number;
  records: number;
  bytes: number;
}

/** The group-commit queue; see the file comment for its ordering rules. */
export class GroupCommit {
  private queue: Waiter[] = [];
  private queuedRecords = 0;
  private queuedBytes = 0;
  private scheduled = false;
  private failure: Error | null = null;
  readonly stats: GroupCommitStats = { batches: 0, records: 0, bytes: 0 };

  constructor(
    private readonly writer: BatchWriter,
    private readonly options: GroupCommitOptions,
    /** Runs `fn` soon, after the current event-loop turn's submissions (setImmediate). */
    private readonly schedule: (fn: () => void) => void,
    /** Called after each successful batch (roll segments, checkpoint when due). */
    private readonly afterBatch: () => void,
    /** Called once, when a batch fails: the owner stops. */
    private readonly onFailure: (error: Error) => void,
  ) {
    assert(options.queueRecordsMax >= 1, 'queueRecordsMax >= 1');
    assert(options.queueBytesMax >= 1, 'queueBytesMax >= 1');
  }

  /** Number of records waiting for the next batch. */
  get pending(): number {
    return this.queuedRecords;
  }

  /**
   * Queues `submission` and returns a promise that resolves once it is durable and applied.
   * Throws at once, queueing nothing, when the queue is full (`QUEUE_FULL`) or after a failure, so
   * a caller can tell "not queued" (nothing to undo) from "queued" (wait for the promise).
   */
  submit(submission: Submission): Promise<void> {
    if (this.failure !== null) throw this.failure;
    const records = submission.records.length;
    // Nothing to write: durable as soon as whatever is queued now is (at once when nothing is).
    if (records === 0 && this.queue.length === 0) return Promise.resolve();
    let bytes = 0;
    for (const r of submission.records) bytes += r.payload.length;
    const fits =
      this.queue.length === 0 ||
      (this.queuedRecords + records <= this.options.queueRecordsMax &&
        this.queuedBytes + bytes <= this.options.queueBytesMax);
    if (!fits) {
      throw new StorageError('QUEUE_FULL', 'the group-commit queue is full', {
        queuedRecords: this.queuedRecords,
        queuedBytes: this.queuedBytes,
      });
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ submission, bytes, resolve, reject });
      this.queuedRecords += records;
      this.queuedBytes += bytes;
      if (!this.scheduled) {
        this.scheduled = true;
        this.schedule(() => this.flush());
      }
    });
  }

  /** Writes everything queued now, synchronously (also run by the scheduler). */
  flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0 || this.failure !== null) return;
    const batch = this.queue;
    this.queue = [];
    this.queuedRecords = 0;
    this.queuedBytes = 0;
    const records = batch.flatMap((w) => w.submission.records);
    try {
      const positions = this.writer.appendBatch(records);
      let next = 0;
      for (const waiter of batch) {
        const n = waiter.submission.records.length;
        waiter.submission.apply(positions.slice(next, next + n));
        next += n;
      }
    } catch (error) {
      this.fail(error);
      for (const waiter of batch) waiter.reject(this.failure);
      return;
    }
    this.stats.batches += 1;
    this.stats.records += records.length;
    for (const waiter of batch) this.stats.bytes += waiter.bytes;
    for (const waiter of batch) waiter.resolve();
    try {
      this.afterBatch();
    } catch (error) {
      this.fail(error);
    }
  }

  /** Stops: rejects everything queued now and everything submitted later with `error`. */
  fail(error: unknown): void {
    if (this.failure === null) {
      this.failure = toFailure(error);
      this.onFailure(this.failure);
    }
    const queued = this.queue;
    this.queue = [];
    this.queuedRecords = 0;
    this.queuedBytes = 0;
    for (const waiter of queued) waiter.reject(this.failure);
  }
}

/**
 * An I/O error as `STORAGE_FAILED`. Storage errors (corruption, closing) and failed assertions
 * (bugs, which must stay loud) pass through unchanged.
 */
export function toFailure(error: unknown): Error {
  if (error instanceof StorageError || error instanceof AssertionError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new StorageError(
    'STORAGE_FAILED',
    `storage stopped after an I/O error: ${message}`,
    {},
    {
      cause: error,
    },
  );
}
