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
 * Replica quotas. A node's quota is ⌊t⌋ or ⌈t⌉, and the quotas add up to the total; with zones, each
 * zone's total is also ⌊t(zone)⌋ or ⌈t(zone)⌉, so no zone is asked for more than its cap. Which
 * shares round up is chosen to move the least data: first those that already hold ⌈t⌉ (keeping
 * them costs nothing), then those furthest below their share (so a joining node takes the extra
 * copy rather than an old node), then the largest fractional part, then the lowest index. Planning
 * a target again rounds the same shares up, which makes the plan stable.
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
      else free += weight[items[k] as number] as number;
    }
    if (free === 0) break;
    let changed = false;
    for (let k = 0; k < items.length; k++) {
      if (!capped[k] && (weight[items[k] as number] as number) * rem > cap * free) {
        capped[k] = 1;
        changed = true;
      }
    }
    if (!changed) break;
  }
  const den = free === 0 ? 1 : free;
  assert(free > 0 || rem === 0, 'water-filling: the caps hold the total');
  const num = new Float64Array(items.length);
  for (let k = 0; k < items.length; k++)
    num[k] = capped[k] ? cap * den : (weight[items[k] as number] as number) * rem;
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
        else free += topo.weight[n] as number;
      }
    }
    if (free === 0) break;
    let changed = false;
    for (let z = 0; z < zones; z++) {
      if (zoneCapped[z]) continue;
      for (const n of topo.zoneNodes[z] as Int32Array) {
        if (!nodeCapped[n] && (topo.weight[n] as number) * rem > buckets * free) {
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
        demand += nodeCapped[n] ? buckets * free : (topo.weight[n] as number) * rem;
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
      members.forEach((n, k) => (num[n] = inner.num[k] as number));
    } else {
      const den = free === 0 ? 1 : free;
      zoneDen[z] = den;
      for (const n of members)
        num[n] = nodeCapped[n] ? buckets * den : (topo.weight[n] as number) * rem;
    }
  }
  return { num, zoneDen };
}

/** The leader ideal per node index: B · w / W over the pool (zero outside it). */
export function leaderShares(topo: Topology, buckets: number): { num: Float64Array; den: number } {
  let total = 0;
  for (const n of topo.pool) total += topo.weight[n] as number;
  const num = new Float64Array(topo.nodes.length);
  for (const n of topo.pool) num[n] = buckets * (topo.weight[n] as number);
  return { num, den: total };
}

/** A group of shares with a common denominator, rounded together. */
interface Group {
  readonly members: Int32Array;
  readonly den: number;
}

/** Picks `count` members of `candidates` to round up, by the order described in the file comment. */
function pickRoundUps(
  candidates: number[],
  count: number,
  share: (i: number) => Share,
  held: (i: number) => number,
): number[] {
  assert(count >= 0 && count <= candidates.length, 'rounding: enough fractional shares');
  const key = candidates.map((i) => {
    const s = share(i);
    const ceil = shareCeil(s);
    const h = held(i);
    return {
      i,
      free: h >= ceil ? 0 : 1,
      below: ceil - Math.min(h, ceil),
      frac: s.num / s.den - (ceil - 1),
    };
  });
  key.sort((a, b) => a.free - b.free || b.below - a.below || b.frac - a.frac || a.i - b.i);
  return key.slice(0, count).map((k) => k.i);
}

/**
 * Rounds the shares of each group's members to integers so that every group's sum is the floor
 * or ceiling of its share and the whole sums to `total`. `held` is each member's current load.
 */
function roundGroups(
  groups: readonly Group[],
  num: Float64Array,
  held: Int32Array,
  total: number,
  quota: Int32Array,
): void {
  const groupShare = groups.map((g) => {
    let sum = 0;
    for (const n of g.members) sum += num[n] as number;
    return { num: sum, den: g.den };
  });
  let floors = 0;
  for (const s of groupShare) floors += shareFloor(s);
  const fractionalGroups = groups.flatMap((_, g) =>
    shareFloor(groupShare[g] as Share) === shareCeil(groupShare[g] as Share) ? [] : [g],
  );
  const groupHeld = groups.map((g) => g.members.reduce((acc, n) => acc + (held[n] as number), 0));
  const upGroups = new Set(
    pickRoundUps(
      fractionalGroups,
      total - floors,
      (g) => groupShare[g] as Share,
      (g) => groupHeld[g] as number,
    ),
  );
  groups.forEach((group, g) => {
    const s = groupShare[g] as Share;
    const target = upGroups.has(g) ? shareCeil(s) : shareFloor(s);
    const shareOf = (n: number): Share => ({ num: num[n] as number, den: group.den });
    let sum = 0;
    const fractional: number[] = [];
    for (const n of group.members) {
      quota[n] = shareFloor(shareOf(n));
      sum += quota[n] as number;
      if (shareCeil(shareOf(n)) !== quota[n]) fractional.push(n);
    }
    const ups = pickRoundUps(fractional, target - sum, shareOf, (n) => held[n] as number);
    for (const n of ups) quota[n] = (quota[n] as number) + 1;
  });
}

/** Replica quotas per node index: zone totals and node counts within ±1 of their shares. */
export function replicaQuotas(
  topo: Topology,
  buckets: number,
  shares: ReplicaShares,
  held: Int32Array,
): Int32Array {
  const quota = new Int32Array(topo.nodes.length);
  const groups = topo.zoneNodes.map((members, z) => ({
    members,
    den: shares.zoneDen[z] as number,
  }));
  roundGroups(groups, shares.num, held, topo.replicas * buckets, quota);
  return quota;
}
