/**
 * The weighted ideal load of every node, and its rounding into integer quotas.
 *
 * Replicas. The pool must hold S = replicas × buckets copies. A node can hold at most one copy of
 * a bucket (cap B = buckets) and a zone at most `perZone` copies of a bucket (cap perZone × B).
 * The ideal is the water-filling of S over the pool in proportion to weight under those caps: the
 * largest λ such that t(n) = min(B, w(n)·λ) inside uncapped zones, and inside a capped zone the
 * zone's cap is itself water-filled over its nodes. Without caps, t(n) = S · w(n) / W.
 *
 * Leaders. Every bucket has one leader: t(n) = B · w(n) / W over the pool. This never exceeds the
 * replica ideal (caps only raise λ). Leaders get no fixed quota: leaders.ts keeps every node
 * between ⌊t⌋ and ⌈t⌉, which leaves it room to keep current leaders.
 *
 * Shares are exact rationals num/den of safe integers; the limits in types.ts bound every product.
 *
 * Replica quotas. A node's quota is ⌊t⌋ or ⌈t⌉, the quotas add up to the total, and no zone is asked
 * for more than its cap (perZone × B copies). Which
 * shares round up is chosen to move the least data: first those that already hold ⌈t⌉ (keeping
 * them costs nothing), then those that could take more of the copies that must be made anyway
 * (a failed node's buckets are not rounded onto nodes that hold them already), then those
 * furthest below their share (so a joining node takes the extra copy rather than an old node),
 * then the largest fractional part, then the lowest index. Planning a target again rounds the same
 * shares up, which makes the plan stable.
 */
import { assert } from '../lib/assert.js';
import type { Topology } from './topology.js';
import { BUCKETS_MAX, NODES_MAX, REPLICAS_MAX, WEIGHT_MAX } from './types.js';

assert(
  2 * REPLICAS_MAX * BUCKETS_MAX * NODES_MAX * WEIGHT_MAX < Number.MAX_SAFE_INTEGER,
  'water-filling products stay exact in doubles',
);

/** A non-negative rational num/den. */
export interface Share {
  readonly num: number;
  readonly den: number;
}

/** ⌊num/den⌋, exactly. */
export function shareFloor(share: Share): number {
  let q = Math.floor(share.num / share.den);
  if (q * share.den > share.num) q -= 1;
  else if ((q + 1) * share.den <= share.num) q += 1;
  return q;
}

/** ⌈num/den⌉, exactly. */
export function shareCeil(share: Share): number {
  const q = shareFloor(share);
  return q * share.den === share.num ? q : q + 1;
}

/** The share as a float, for reports and tie-breaks only. */
export const shareValue = (share: Share): number => share.num / share.den;

/**
 * Water-fills `total` over `items` in proportion to `weight`, each item capped at `cap`. Returns
 * numerators over the returned common denominator (capped items get cap × den).
 */
function waterFill(
  items: Int32Array,
  weight: Int32Array,
  cap: number,
  total: number,
): { num: Float64Array; den: number } {
  const capped = new Uint8Array(items.length);
  let rem: number;
  let free: number;
  for (;;) {
    rem = total;
    free = 0;
    for (let k = 0; k < items.length; k++) {
      if (capped[k]) rem -= cap;
      else free += weight[items[k]] as number;
    }
    if (free === 0) break;
    let changed = false;
    for (let k = 0; k < items.length; k++) {
      if (!capped[k] && weight[items[k]] * rem > cap * free) {
        capped[k] = 1;
        changed = true;
      }
    }
    if (!changed) break;
  }
  const den = free === 0 ? 1 : free;
  assert(free > 0 || rem === 0, 'water-filling: the caps hold the total');
  const num = new Float64Array(items.length);
  for (let k = 0; k < items.length; k++) num[k] = capped[k] ? cap * den : weight[items[k]] * rem;
  return { num, den };
}

/**
 * Replica shares per node index (zero outside the pool), and per zone the common denominator of
 * its nodes' shares.
 */
export interface ReplicaShares {
  readonly num: Float64Array;
  readonly zoneDen: Float64Array;
}

/** The replica ideal: nested water-filling under node caps (B) and zone caps (perZone × B). */
export function replicaShares(topo: Topology, buckets: number): ReplicaShares {
  const total = topo.replicas * buckets;
  const zoneCap = topo.perZone * buckets;
  const zones = topo.zoneNodes.length;
  const zoneCapped = new Uint8Array(zones);
  const nodeCapped = new Uint8Array(topo.nodes.length);
  let rem: number;
  let free: number;
  for (;;) {
    rem = total;
    free = 0;
    for (let z = 0; z < zones; z++) {
      if (zoneCapped[z]) {
        rem -= zoneCap;
        continue;
      }
      for (const n of topo.zoneNodes[z] as Int32Array) {
        if (nodeCapped[n]) rem -= buckets;
        else free += topo.weight[n];
      }
    }
    if (free === 0) break;
    let changed = false;
    for (let z = 0; z < zones; z++) {
      if (zoneCapped[z]) continue;
      for (const n of topo.zoneNodes[z] as Int32Array) {
        if (!nodeCapped[n] && topo.weight[n] * rem > buckets * free) {
          nodeCapped[n] = 1;
          changed = true;
        }
      }
    }
    if (changed) continue;
    for (let z = 0; z < zones; z++) {
      if (zoneCapped[z]) continue;
      let demand = 0;
      for (const n of topo.zoneNodes[z] as Int32Array)
        demand += nodeCapped[n] ? buckets * free : topo.weight[n] * rem;
      if (demand > zoneCap * free) {
        zoneCapped[z] = 1;
        changed = true;
      }
    }
    if (!changed) break;
  }
  assert(free > 0 || rem === 0, 'replica water-filling: the caps hold every copy');
  const num = new Float64Array(topo.nodes.length);
  const zoneDen = new Float64Array(zones);
  for (let z = 0; z < zones; z++) {
    const members = topo.zoneNodes[z] as Int32Array;
    if (zoneCapped[z]) {
      const inner = waterFill(members, topo.weight, buckets, zoneCap);
      zoneDen[z] = inner.den;
      members.forEach((n, k) => (num[n] = inner.num[k]));
    } else {
      const den = free === 0 ? 1 : free;
      zoneDen[z] = den;
      for (const n of members) num[n] = nodeCapped[n] ? buckets * den : topo.weight[n] * rem;
    }
  }
  return { num, zoneDen };
}

/** The leader ideal per node index: B · w / W over the pool (zero outside it). */
export function leaderShares(topo: Topology, buckets: number): { num: Float64Array; den: number } {
  let total = 0;
  for (const n of topo.pool) total += topo.weight[n];
  const num = new Float64Array(topo.nodes.length);
  for (const n of topo.pool) num[n] = buckets * topo.weight[n];
  return { num, den: total };
}

/**
 * Room for the copies that must be made: per node, how many missing copies of under-replicated
 * buckets it could take. Rounding favours nodes that can take them, so that a failure's copies do
 * not pile onto the nodes that already hold the same buckets.
 */
export type Acceptance = Float64Array;

/**
 * Replica quotas per node index: each ⌊t⌋ or ⌈t⌉, summing to replicas × buckets, no zone above its
 * cap (perZone × buckets). Which shares round up is chosen as the file comment says; a share is
 * skipped only when its zone is full, and the budget argument (every zone's share is at most its
 * cap) guarantees enough others.
 */
export function replicaQuotas(
  topo: Topology,
  buckets: number,
  shares: ReplicaShares,
  held: Int32Array,
  accept: Acceptance,
): Int32Array {
  const quota = new Int32Array(topo.nodes.length);
  const zoneTotal = new Float64Array(topo.zoneNodes.length);
  const zoneCap = topo.perZone * buckets;
  let left = topo.replicas * buckets;
  const candidates: {
    n: number;
    free: number;
    accept: number;
    below: number;
    frac: number;
  }[] = [];
  for (const n of topo.pool) {
    const share = { num: shares.num[n], den: shares.zoneDen[topo.zoneOf[n]] };
    const floor = shareFloor(share);
    const ceil = shareCeil(share);
    quota[n] = floor;
    zoneTotal[topo.zoneOf[n]] += floor;
    left -= floor;
    if (ceil === floor) continue;
    candidates.push({
      n,
      free: held[n] >= ceil ? 0 : 1,
      accept: accept[n],
      below: ceil - Math.min(held[n], ceil),
      frac: shareValue(share) - floor,
    });
  }
  candidates.sort(
    (a, b) =>
      a.free - b.free || b.accept - a.accept || b.below - a.below || b.frac - a.frac || a.n - b.n,
  );
  for (const c of candidates) {
    if (left === 0) break;
    const zone = topo.zoneOf[c.n];
    if (zoneTotal[zone] + 1 > zoneCap) continue;
    quota[c.n] += 1;
    zoneTotal[zone] += 1;
    left -= 1;
  }
  assert(left === 0, 'rounding: the quotas add up to every copy');
  return quota;
}
