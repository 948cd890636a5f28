/**
 * The backlog: a bounded FIFO of client requests a replica holds while it cannot serve them — a new
 * leader activating, a paused leader draining for a handover, a member that lost its leader and waits
 * for the next edict (seed 003: "queues are in a backlogged state by default"). When the replica can
 * serve again it takes the requests out in arrival order; when it learns of another leader it hops
 * them there. A request that waited `maxAgeTicks` is given back to be answered `UNAVAILABLE`.
 *
 * Nothing in the backlog has been proposed, so answering any of them with an error is always safe.
 */
import { assert } from '../lib/assert.js';

interface Held<T> {
  readonly item: T;
  readonly since: number;
}

export class Backlog<T> {
  private held: Held<T>[] = [];

  constructor(
    /** The most requests held at once. */
    readonly max: number,
    /** Ticks a request may wait. */
    readonly maxAgeTicks: number,
  ) {
    assert(max > 0, 'a backlog holds at least one request');
    assert(maxAgeTicks > 0, 'a backlog holds requests for at least one tick');
  }

  get size(): number {
    return this.held.length;
  }

  /** Holds `item` from tick `now`. Returns false (and holds nothing) when full. */
  push(item: T, now: number): boolean {
    if (this.held.length >= this.max) return false;
    this.held.push({ item, since: now });
    return true;
  }

  /** Takes every held request out, oldest first. */
  drain(): T[] {
    const items = this.held.map((h) => h.item);
    this.held = [];
    return items;
  }

  /** Takes out the requests that have waited too long at tick `now`, oldest first. */
  expire(now: number): T[] {
    const cut = this.held.findIndex((h) => now - h.since < this.maxAgeTicks);
    const count = cut === -1 ? this.held.length : cut;
    return this.held.splice(0, count).map((h) => h.item);
  }
}
