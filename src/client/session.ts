/**
 * The sequence numbers of one client session (DESIGN.md 4.5). Every write takes the next seq of the
 * session it is sent under and keeps it through all its retries in that session; `ackedBelow` is the lowest seq still in flight, so
 * the servers may forget the results of every write below it and must refuse those seqs if a
 * stray copy arrives late. Writes may complete out of order; the floor only moves past seqs that
 * are done.
 */
import { assert } from '../core/lib/assert.js';
import { EdictError } from '../errors.js';

export class SessionSeqs {
  private next = 1;
  /** Lowest seq not yet done; every seq below it is done. */
  private floor = 1;
  private readonly inFlight = new Set<number>();

  constructor(private readonly inFlightMax: number) {
    assert(Number.isSafeInteger(inFlightMax) && inFlightMax > 0, 'inFlightMax is positive');
  }

  /** Writes started and not yet done. */
  get size(): number {
    return this.inFlight.size;
  }

  /** Takes the next seq; `QUEUE_FULL` when `inFlightMax` writes are in flight. */
  begin(): number {
    if (this.inFlight.size >= this.inFlightMax) {
      throw new EdictError('QUEUE_FULL', `${this.inFlight.size} writes in flight`, {
        writesInFlightMax: this.inFlightMax,
      });
    }
    const seq = this.next;
    this.next += 1;
    this.inFlight.add(seq);
    return seq;
  }

  /** The stamp to send with `seq` now. */
  stamp(seq: number): { seq: number; ackedBelow: number } {
    assert(this.inFlight.has(seq), 'stamp() of a seq in flight');
    assert(this.floor <= seq, 'the floor never passes a seq in flight');
    return { seq, ackedBelow: this.floor };
  }

  /** Marks `seq` done (answered or given up on) and moves the floor past every done seq. */
  end(seq: number): void {
    assert(this.inFlight.delete(seq), 'end() of a seq in flight');
    while (this.floor < this.next && !this.inFlight.has(this.floor)) this.floor += 1;
  }
}
