/**
 * The session table (DESIGN.md 4.5, invariant 7): RIFL-style at-most-once writes for pipelining
 * clients. It is part of the replicated state: every replica applies the same entries in the same
 * order, so every replica's table is the same, and snapshots carry it.
 *
 * Invariant: a (clientId, seq) is executed at most once, and while its result is kept, every copy
 * of it is answered with that first result. Per session the table keeps:
 * - `floor`: every seq below it is forgotten; a write with seq < floor is refused with STALE_SEQ
 *   (its outcome is unknown: the client had given up on it, or it was answered long ago);
 * - `results`: seq → WriteResult of the seqs ≥ floor that were applied, at most `resultsMax`;
 * - `touched`: the log index of the session's last write entry (drives eviction).
 *
 * Applying (clientId, seq, ackedBelow): the floor rises to max(floor, ackedBelow) and the results
 * below it are dropped (the client promised every seq below ackedBelow is answered or given up on);
 * then seq < floor → STALE_SEQ; seq in results → duplicate (answered with the recorded result,
 * nothing changes); else the write is executed and its result recorded. Beyond `resultsMax`
 * results the smallest seq is dropped and the floor raised past it.
 *
 * Bounded: at most `sessionsMax` sessions and `resultsTotalMax` results in all. Beyond either the
 * least recently used session (smallest `touched`, then smallest id; never the one being written)
 * is evicted, and the largest evicted id becomes the table's `floor`. Client ids are allocated
 * increasing cluster-wide, so an unknown id at or below that floor may be an evicted session: its
 * writes are refused with SESSION_EXPIRED instead of being applied a second time. A client that
 * never wrote to this bucket but has an old id gets the same answer and opens a new session — a
 * cost, not an error.
 */
import { assert } from '../lib/assert.js';
import type { ClientId, LogIndex, SessionItem, WriteResult } from './types.js';

/** How a write's (clientId, seq) relates to its session. */
export type SessionCheck =
  | { readonly kind: 'new' }
  | { readonly kind: 'duplicate'; readonly result: WriteResult }
  | { readonly kind: 'stale' }
  | { readonly kind: 'expired' };

/** The table's bounds (ReplicaOptions: sessionsMax, sessionResultsMax, sessionResultsTotalMax). */
export interface SessionLimits {
  readonly sessionsMax: number;
  readonly resultsMax: number;
  readonly resultsTotalMax: number;
}

interface Session {
  floor: number;
  /** The seqs of `results`, ascending. */
  readonly seqs: number[];
  readonly results: Map<number, WriteResult>;
  touched: LogIndex;
}

export class SessionTable {
  private readonly sessions = new Map<ClientId, Session>();
  private evictedFloor = 0;
  private total = 0;

  constructor(private readonly limits: SessionLimits) {
    assert(limits.sessionsMax > 0, 'a session table holds at least one session');
    assert(limits.resultsMax > 0, 'a session keeps at least one result');
    assert(limits.resultsTotalMax >= limits.resultsMax, 'the total bound holds one full session');
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Results kept over all sessions. */
  get results(): number {
    return this.total;
  }

  /** The largest evicted client id (0 when none). */
  get floor(): number {
    return this.evictedFloor;
  }

  /** The floor of `clientId`'s session, or null when it has none. */
  sessionFloor(clientId: ClientId): number | null {
    return this.sessions.get(clientId)?.floor ?? null;
  }

  /** Classifies a write without changing anything (the leader's check before it proposes). */
  check(clientId: ClientId, seq: number, ackedBelow: number): SessionCheck {
    const session = this.sessions.get(clientId);
    if (session === undefined) return clientId <= this.evictedFloor ? EXPIRED : NEW;
    if (seq < Math.max(session.floor, ackedBelow)) return STALE;
    const result = session.results.get(seq);
    return result === undefined ? NEW : { kind: 'duplicate', result };
  }

  /**
   * The state machine's step for a write entry at `index`: raises the session's floor to
   * `ackedBelow`, touches it, and classifies the write. A `new` write must then be `record`ed.
   */
  admit(clientId: ClientId, seq: number, ackedBelow: number, index: LogIndex): SessionCheck {
    assert(ackedBelow >= 1 && ackedBelow <= seq, `ackedBelow ${ackedBelow} outside 1..${seq}`);
    const session = this.sessions.get(clientId);
    if (session === undefined) return clientId <= this.evictedFloor ? EXPIRED : NEW;
    this.raiseFloor(session, ackedBelow);
    session.touched = index;
    return this.check(clientId, seq, ackedBelow);
  }

  /** Records that (clientId, seq) was executed at `index` with `result`. */
  record(
    clientId: ClientId,
    seq: number,
    ackedBelow: number,
    result: WriteResult,
    index: LogIndex,
  ): void {
    let session = this.sessions.get(clientId);
    if (session === undefined) {
      assert(clientId > this.evictedFloor, 'a new session above the eviction floor');
      if (this.sessions.size >= this.limits.sessionsMax) this.evictOne(clientId);
      session = { floor: ackedBelow, seqs: [], results: new Map(), touched: index };
      this.sessions.set(clientId, session);
    }
    assert(seq >= session.floor && !session.results.has(seq), 'a session seq is applied once');
    session.seqs.splice(insertionPoint(session.seqs, seq), 0, seq);
    session.results.set(seq, result);
    session.touched = index;
    this.total += 1;
    if (session.seqs.length > this.limits.resultsMax) {
      this.raiseFloor(session, (session.seqs[0] as number) + 1);
    }
    while (this.total > this.limits.resultsTotalMax) this.evictOne(clientId);
  }

  /** Every session, sorted by client id, results by seq (for snapshots). */
  export(): SessionItem[] {
    return [...this.sessions.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([clientId, s]) => ({
        clientId,
        floor: s.floor,
        results: s.seqs.map((seq) => ({ seq, result: s.results.get(seq) as WriteResult })),
        touched: s.touched,
      }));
  }

  /** Replaces the table with a snapshot's sessions. */
  import(items: readonly SessionItem[], floor: number): void {
    this.sessions.clear();
    this.total = 0;
    for (const item of items) {
      const seqs = item.results.map((r) => r.seq);
      seqs.forEach((seq, i) => {
        assert(seq >= item.floor, 'a kept result is at or above its session floor');
        assert(i === 0 || seq > (seqs[i - 1] as number), 'a session results are sorted by seq');
      });
      assert(seqs.length <= this.limits.resultsMax, 'a snapshot session fits in its window');
      this.sessions.set(item.clientId, {
        floor: item.floor,
        seqs,
        results: new Map(item.results.map((r) => [r.seq, r.result])),
        touched: item.touched,
      });
      this.total += seqs.length;
    }
    this.evictedFloor = floor;
    assert(this.sessions.size <= this.limits.sessionsMax, 'a snapshot fits in the session table');
    assert(this.total <= this.limits.resultsTotalMax, 'a snapshot fits in the results bound');
  }

  private raiseFloor(session: Session, floor: number): void {
    if (floor <= session.floor) return;
    session.floor = floor;
    const drop = insertionPoint(session.seqs, floor);
    for (const seq of session.seqs.splice(0, drop)) session.results.delete(seq);
    this.total -= drop;
  }

  /** Evicts the least recently used session other than `keep`. */
  private evictOne(keep: ClientId): void {
    let victim: ClientId | null = null;
    let oldest: Session | null = null;
    for (const [id, s] of this.sessions) {
      if (id === keep) continue;
      if (
        oldest === null ||
        s.touched < oldest.touched ||
        (s.touched === oldest.touched && id < (victim as ClientId))
      ) {
        victim = id;
        oldest = s;
      }
    }
    assert(victim !== null && oldest !== null, 'evicting from a table with no other session');
    this.sessions.delete(victim);
    this.total -= oldest.seqs.length;
    this.evictedFloor = Math.max(this.evictedFloor, victim);
  }
}

/** The number of elements of the ascending `seqs` below `seq`. */
function insertionPoint(seqs: readonly number[], seq: number): number {
  let lo = 0;
  let hi = seqs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((seqs[mid] as number) < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const NEW: SessionCheck = { kind: 'new' };
const STALE: SessionCheck = { kind: 'stale' };
const EXPIRED: SessionCheck = { kind: 'expired' };
