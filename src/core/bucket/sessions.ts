/**
 * The session table: for each client session of a bucket, the last applied seq and its result
 * (DESIGN.md 4.5, invariant 7). It is part of the replicated state: every replica applies the same
 * entries in the same order, so every replica's table is the same, and snapshots carry it.
 *
 * Bounded: beyond `max` sessions the least recently used one (smallest `touched` index, then
 * smallest id) is evicted, and the largest evicted id becomes the `floor`. Client ids are allocated
 * increasing, so an unknown id at or below the floor may be an evicted session: its writes are
 * refused with SESSION_EXPIRED instead of being applied a second time. A client that never wrote to
 * this bucket but has an old id gets the same answer and opens a new session — a cost, not an error.
 */
import { assert } from '../lib/assert.js';
import type { ClientId, LogIndex, SessionItem, WriteResult } from './types.js';

/** How a write's (clientId, seq) relates to its session. */
export type SessionCheck =
  | { readonly kind: 'new' }
  | { readonly kind: 'duplicate'; readonly result: WriteResult }
  | { readonly kind: 'stale' }
  | { readonly kind: 'expired' };

interface Session {
  seq: number;
  result: WriteResult;
  touched: LogIndex;
}

export class SessionTable {
  private readonly sessions = new Map<ClientId, Session>();
  private evictedFloor = 0;

  constructor(private readonly max: number) {
    assert(max > 0, 'a session table holds at least one session');
  }

  get size(): number {
    return this.sessions.size;
  }

  /** The largest evicted client id (0 when none). */
  get floor(): number {
    return this.evictedFloor;
  }

  /** Classifies a write before it is proposed or applied. */
  check(clientId: ClientId, seq: number): SessionCheck {
    const session = this.sessions.get(clientId);
    if (session === undefined) return clientId <= this.evictedFloor ? EXPIRED : NEW;
    if (seq === session.seq) return { kind: 'duplicate', result: session.result };
    return seq < session.seq ? STALE : NEW;
  }

  /** Records that (clientId, seq) was applied at `index` with `result`. */
  record(clientId: ClientId, seq: number, result: WriteResult, index: LogIndex): void {
    const session = this.sessions.get(clientId);
    assert(session === undefined || seq > session.seq, 'a session seq is applied at most once');
    if (session === undefined && this.sessions.size >= this.max) this.evictOne();
    this.sessions.set(clientId, { seq, result, touched: index });
  }

  /** Every session, sorted by client id (for snapshots). */
  export(): SessionItem[] {
    return [...this.sessions.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([clientId, s]) => ({ clientId, seq: s.seq, result: s.result, touched: s.touched }));
  }

  /** Replaces the table with a snapshot's sessions. */
  import(items: readonly SessionItem[], floor: number): void {
    this.sessions.clear();
    for (const item of items) {
      this.sessions.set(item.clientId, {
        seq: item.seq,
        result: item.result,
        touched: item.touched,
      });
    }
    this.evictedFloor = floor;
    assert(this.sessions.size <= this.max, 'a snapshot fits in the session table');
  }

  private evictOne(): void {
    let victim: ClientId | null = null;
    let oldest: Session | null = null;
    for (const [id, s] of this.sessions) {
      if (
        oldest === null ||
        s.touched < oldest.touched ||
        (s.touched === oldest.touched && id < (victim as ClientId))
      ) {
        victim = id;
        oldest = s;
      }
    }
    assert(victim !== null, 'evicting from an empty table');
    this.sessions.delete(victim);
    this.evictedFloor = Math.max(this.evictedFloor, victim);
  }
}

const NEW: SessionCheck = { kind: 'new' };
const STALE: SessionCheck = { kind: 'stale' };
const EXPIRED: SessionCheck = { kind: 'expired' };
