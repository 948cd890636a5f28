/**
 * The leader's queue of ReadIndex requests (Raft thesis 6.4).
 *
 * A read that arrives when the commit index is C may be answered once the state machine has applied
 * C, provided that the node was still the leader when the read arrived. The leader proves the latter
 * by a heartbeat round that a quorum answers in its term; the round carries the request's context.
 * Requests queue in arrival order, and a quorum's answer to one request's round proves leadership
 * for every request queued before it too, so they are released together.
 */
import { assert } from '../lib/assert.js';
import type { LogIndex, NodeId } from '../lib/ids.js';

/** One pending read: its context, the commit index when it arrived, who asked. */
export interface ReadRequest {
  readonly context: string;
  readonly index: LogIndex;
  readonly from: NodeId;
  readonly acks: Set<NodeId>;
}

export class ReadOnly {
  private queue: ReadRequest[] = [];
  private readonly byContext = new Map<string, ReadRequest>();

  constructor(readonly maxPending: number) {
    assert(maxPending > 0, 'read queue holds at least one request');
  }

  get count(): number {
    return this.queue.length;
  }

  /** Whether a request with this context is queued. */
  has(context: string): boolean {
    return this.byContext.has(context);
  }

  /** Whether no more requests fit. */
  full(): boolean {
    return this.queue.length >= this.maxPending;
  }

  /** Queues a request; the caller has checked that its context is new and the queue has room. */
  add(context: string, index: LogIndex, from: NodeId, self: NodeId): void {
    assert(!this.has(context), `read context ${context} queued twice`);
    assert(!this.full(), 'read queue overflow');
    const request: ReadRequest = { context, index, from, acks: new Set([self]) };
    this.queue.push(request);
    this.byContext.set(context, request);
  }

  /** Records `from`'s answer to the round of `context`; returns who has answered, or null. */
  recvAck(from: NodeId, context: string): ReadonlySet<NodeId> | null {
    const request = this.byContext.get(context);
    if (request === undefined) return null;
    request.acks.add(from);
    return request.acks;
  }

  /** Removes and returns every request up to and including the one with `context`. */
  advance(context: string): ReadRequest[] {
    const at = this.queue.findIndex((r) => r.context === context);
    if (at < 0) return [];
    const released = this.queue.slice(0, at + 1);
    this.queue = this.queue.slice(at + 1);
    for (const r of released) this.byContext.delete(r.context);
    return released;
  }

  /** The context of the newest request, which the next heartbeat carries. */
  lastContext(): string | null {
    return this.queue.at(-1)?.context ?? null;
  }

  /** Drops every request (the node stopped leading; their readers will time out and retry). */
  reset(): void {
    this.queue = [];
    this.byContext.clear();
  }
}
