/**
 * The requests one end of a connection has sent and still awaits: their ids, their deadlines and
 * the promises of their callers. Bounded by `max`; ids are unsigned 32-bit integers that wrap and
 * skip ids still in use.
 *
 * Deadlines are enforced by one sweep timer, running only while requests are pending, instead of
 * a timer per request: a request fails with `TIMEOUT` at most {@link DEADLINE_SWEEP_MS} after its
 * deadline (plus event-loop lag). A timer per request cost 8-15% of pipelined throughput; a sweep
 * visits at most `max` entries.
 */
import { assert } from '../core/lib/assert.js';
import { EdictError } from '../errors.js';
import { REQUEST_ID_MAX } from './codec.js';

/** Period of the deadline sweep, in milliseconds. */
export const DEADLINE_SWEEP_MS = 10;

interface Pending {
  readonly type: string;
  /** `performance.now()` time after which the request fails with `TIMEOUT`. */
  readonly deadline: number;
  readonly timeoutMs: number;
  readonly resolve: (body: unknown) => void;
  readonly reject: (error: EdictError) => void;
}

/** Counters the table increments; they only grow. */
export interface PendingStats {
  requestsTimedOut: number;
  /** Responses whose request had already timed out (or was never sent). */
  responsesLate: number;
}

export class PendingRequests {
  private readonly entries = new Map<number, Pending>();
  private nextId: number;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(
    /** Most requests pending at once. */
    readonly max: number,
    private readonly stats: PendingStats,
    /** Called after a request leaves the table (answered, timed out or failed). */
    private readonly onSettled: () => void,
    /** The first id handed out; tests start near the wrap-around. */
    firstId = 1,
  ) {
    assert(Number.isSafeInteger(max) && max > 0 && max < REQUEST_ID_MAX, 'pending max');
    assert(Number.isSafeInteger(firstId) && firstId >= 1 && firstId <= REQUEST_ID_MAX, 'firstId');
    this.nextId = firstId;
  }

  get size(): number {
    return this.entries.size;
  }

  get full(): boolean {
    return this.entries.size >= this.max;
  }

  /** The next request id not in use. */
  nextFreeId(): number {
    // Ends within max + 1 steps: at most `max` ids are in use.
    for (;;) {
      const id = this.nextId;
      this.nextId = id === REQUEST_ID_MAX ? 1 : id + 1;
      if (!this.entries.has(id)) return id;
    }
  }

  /** Registers request `id` (from {@link nextFreeId}); the promise settles with its outcome. */
  add(id: number, type: string, timeoutMs: number): Promise<unknown> {
    assert(!this.full, 'add() to a full pending table');
    assert(!this.entries.has(id), 'add() of an id in use');
    const deadline = performance.now() + timeoutMs;
    if (this.sweepTimer === null) {
      // Keeps the process alive while callers wait; stops itself when the table is empty.
      this.sweepTimer = setInterval(() => this.sweep(), DEADLINE_SWEEP_MS);
    }
    return new Promise<unknown>((resolve, reject) => {
      this.entries.set(id, { type, deadline, timeoutMs, resolve, reject });
    });
  }

  /** Settles request `id` with a response body or the peer's error; a late answer is counted. */
  settle(id: number, body: unknown, error: EdictError | null): void {
    const pending = this.entries.get(id);
    if (pending === undefined) {
      this.stats.responsesLate += 1;
      return;
    }
    this.entries.delete(id);
    if (error === null) pending.resolve(body);
    else pending.reject(error);
    this.onSettled();
  }

  /** Fails every pending request with `error` and stops the sweep. */
  failAll(error: EdictError): void {
    this.stopSweep();
    const entries = [...this.entries.values()];
    this.entries.clear();
    for (const pending of entries) pending.reject(error);
    if (entries.length > 0) this.onSettled();
  }

  /** Fails the requests whose deadline has passed; stops the sweep when none are pending. */
  private sweep(): void {
    const now = performance.now();
    let expired = 0;
    for (const [id, pending] of this.entries) {
      if (pending.deadline > now) continue;
      this.entries.delete(id); // deleting the visited entry is safe while iterating a Map
      this.stats.requestsTimedOut += 1;
      expired += 1;
      pending.reject(
        new EdictError('TIMEOUT', `${pending.type} not answered within ${pending.timeoutMs} ms`),
      );
    }
    if (this.entries.size === 0) this.stopSweep();
    if (expired > 0) this.onSettled();
  }

  private stopSweep(): void {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }
}
