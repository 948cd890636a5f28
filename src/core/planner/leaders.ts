/**
 * Leader choice: one leader per bucket among its members, each node leading between ⌊t⌋ and ⌈t⌉
 * buckets, t being its leader share (ideal.ts). This is a bipartite b-matching with lower and upper
 * bounds, solved in two phases:
 *
 * 1. Upper bounds: keep every current leader whose node is still a member and under ⌈t⌉; seat the
 *    other buckets greedily on the member furthest below ⌊t⌋, else with the most room; seat the
 *    rest by augmenting paths (bucket → member → a bucket it leads → another member with room).
 * 2. Lower bounds: a node below ⌊t⌋ takes the leadership of one of its buckets from a leader above
 *    ⌊t⌋, directly or along a chain of such hand-overs.
 *
 * Both searches are breadth-first and complete, so they fail only when no assignment meets the
 * bounds (Hall's condition fails: a group of nodes hosts more buckets among themselves than they
 * may lead, or fewer than they must); the plan then reports LEADER_BALANCE.
 *
 * Preferences: keep the current leader (no transfer at all); lead from a member that already holds
 * the data (a promotion, no copy before the transfer); then the lower node index.
 */
import { assert } from '../lib/assert.js';
import type { Assignment } from './assignment.js';

/** Scratch space for the breadth-first searches, reset by stamping instead of clearing. */
class Search {
  readonly stamp: Int32Array;
  readonly parent: Int32Array;
  readonly via: Int32Array;
  readonly queue: Int32Array;
  private round = 0;

  constructor(nodes: number) {
    this.stamp = new Int32Array(nodes);
    this.parent = new Int32Array(nodes);
    this.via = new Int32Array(nodes);
    this.queue = new Int32Array(nodes);
  }

  begin(): number {
    this.round += 1;
    return this.round;
  }
}

/** Leaders as they are being chosen. */
class Seating {
  readonly leaderOf: Int32Array;
  readonly led: Int32Array;
  private readonly ledBy: number[][];

  constructor(buckets: number, nodes: number) {
    this.leaderOf = new Int32Array(buckets).fill(-1);
    this.led = new Int32Array(nodes);
    this.ledBy = Array.from({ length: nodes }, () => []);
  }

  seat(bucket: number, node: number): void {
    assert(this.leaderOf[bucket] === -1, `bucket ${bucket} already has a leader`);
    this.leaderOf[bucket] = node;
    this.led[node] = this.led[node] + 1;
    (this.ledBy[node] as number[]).push(bucket);
  }

  unseat(bucket: number): void {
    const node = this.leaderOf[bucket];
    const list = this.ledBy[node] as number[];
    const at = list.indexOf(bucket);
    assert(at !== -1, 'the leader lists the bucket it leads');
    list[at] = list[list.length - 1];
    list.pop();
    this.led[node] = this.led[node] - 1;
    this.leaderOf[bucket] = -1;
  }

  bucketsLedBy(node: number): readonly number[] {
    return this.ledBy[node] as number[];
  }
}

/**
 * Leader per bucket (node index). `low` and `high` are each node's bounds (⌊t⌋ and ⌈t⌉);
 * `currentLeader` is the current map's leader (or -1).
 */
export function assignLeaders(
  asg: Assignment,
  low: Int32Array,
  high: Int32Array,
  currentLeader: Int32Array,
): Int32Array {
  const seating = new Seating(asg.buckets, low.length);
  const search = new Search(low.length);
  const { led } = seating;
  for (let b = 0; b < asg.buckets; b++) {
    const current = currentLeader[b];
    if (current !== -1 && asg.holds(b, current) && led[current] < high[current])
      seating.seat(b, current);
  }
  const pending: number[] = [];
  for (let b = 0; b < asg.buckets; b++) {
    if (seating.leaderOf[b] !== -1 || asg.size[b] === 0) continue;
    const best = bestMember(asg, b, (n) => (led[n] < low[n] ? asg.buckets : 0) + high[n] - led[n]);
    if (best !== -1 && led[best] < high[best]) seating.seat(b, best);
    else pending.push(b);
  }
  for (const b of pending) {
    if (!seatByChain(asg, b, high, seating, search))
      seating.seat(
        b,
        bestMember(asg, b, (n) => high[n] - led[n]),
      );
  }
  for (let n = 0; n < low.length; n++) {
    while (led[n] < low[n] && raiseByChain(asg, n, low, seating, search));
  }
  return seating.leaderOf;
}

/** The member with the largest `score`, an existing copy breaking ties, then the lower index. */
function bestMember(asg: Assignment, bucket: number, score: (node: number) => number): number {
  let best = -1;
  let bestKey = -Infinity;
  const base = bucket * asg.width;
  for (let s = base; s < base + asg.width; s++) {
    const node = asg.slots[s];
    if (node === -1) continue;
    const key = score(node) * 2 + (asg.fresh[s] === 1 ? 0 : 1);
    if (key > bestKey || (key === bestKey && node < best)) {
      best = node;
      bestKey = key;
    }
  }
  return best;
}

/**
 * Seats `bucket` on a member by a chain of hand-overs ending at a node under its upper bound.
 * Returns false when there is no such chain.
 */
function seatByChain(
  asg: Assignment,
  bucket: number,
  high: Int32Array,
  seating: Seating,
  search: Search,
): boolean {
  const round = search.begin();
  let tail = 0;
  for (const node of asg.members(bucket)) {
    search.stamp[node] = round;
    search.parent[node] = -1;
    search.queue[tail++] = node;
  }
  for (let head = 0; head < tail; head++) {
    const node = search.queue[head];
    for (const other of seating.bucketsLedBy(node)) {
      for (let s = other * asg.width; s < (other + 1) * asg.width; s++) {
        const next = asg.slots[s];
        if (next === -1 || search.stamp[next] === round) continue;
        search.stamp[next] = round;
        search.parent[next] = node;
        search.via[next] = other;
        if (seating.led[next] < high[next]) {
          let x = next;
          while (search.parent[x] !== -1) {
            const moved = search.via[x];
            seating.unseat(moved);
            seating.seat(moved, x);
            x = search.parent[x];
          }
          seating.seat(bucket, x);
          return true;
        }
        search.queue[tail++] = next;
      }
    }
  }
  return false;
}

/**
 * Gives `node` one more leadership by a chain of hand-overs ending at a leader above its lower
 * bound. Returns false when there is no such chain.
 */
function raiseByChain(
  asg: Assignment,
  node: number,
  low: Int32Array,
  seating: Seating,
  search: Search,
): boolean {
  const round = search.begin();
  search.stamp[node] = round;
  search.parent[node] = -1;
  search.queue[0] = node;
  let tail = 1;
  for (let head = 0; head < tail; head++) {
    const taker = search.queue[head];
    for (const slot of asg.slotsOf(taker)) {
      const bucket = Math.floor(slot / asg.width);
      const giver = seating.leaderOf[bucket];
      if (giver === taker || search.stamp[giver] === round) continue;
      search.stamp[giver] = round;
      search.parent[giver] = taker;
      search.via[giver] = bucket;
      if (seating.led[giver] > low[giver]) {
        // Walk back: each taker takes the bucket from the giver after it.
        for (let x = giver; search.parent[x] !== -1; x = search.parent[x]) {
          const moved = search.via[x];
          seating.unseat(moved);
          seating.seat(moved, search.parent[x]);
        }
        return true;
      }
      search.queue[tail++] = giver;
    }
  }
  return false;
}
