/**
 * Last resort for leader balance. When no choice of leaders among the placed members keeps every
 * node between ⌊t⌋ and ⌈t⌉ leaderships (Hall's condition fails for the placement: a few nodes host
 * more buckets among themselves than they may lead, which happens with skewed weights), two
 * buckets trade members: bucket A gives member X to bucket B and takes B's member Y, so that Y can
 * lead A. Replica counts stay the same; the trade costs up to two copies, and the zone rule is
 * checked for both buckets. It is rarely needed and, like the search for leaders, exhaustive over
 * direct trades only (not chains of them); what it cannot fix is reported as LEADER_BALANCE.
 */
import type { Placer } from './placer.js';

/** Whether bucket `a` may swap member `x` for `y` (y not a member, zone rule kept). */
function canSwapIn(p: Placer, a: number, x: number, y: number): boolean {
  if (p.asg.holds(a, y)) return false;
  return p.zoneAllows(a, y, x);
}

/**
 * Makes `taker` (with room to lead) the leader of `bucket` by trading one of
 * `bucket`'s members for `taker` with a bucket `taker` hosts but does not lead. Returns true on
 * success.
 */
function trade(p: Placer, leaderOf: Int32Array, bucket: number, taker: number): boolean {
  const { asg } = p;
  for (const slot of [...asg.slotsOf(taker)]) {
    const other = Math.floor(slot / asg.width);
    if (leaderOf[other] === taker || other === bucket) continue;
    for (const out of asg.members(bucket)) {
      if (asg.holds(other, out) || !canSwapIn(p, bucket, out, taker)) continue;
      if (!canSwapIn(p, other, taker, out)) continue;
      p.move(bucket, out, taker);
      p.move(other, taker, out);
      leaderOf[bucket] = taker;
      return true;
    }
  }
  return false;
}

/**
 * Repairs leader counts outside [low, high] by trades; updates `leaderOf` and the placement.
 * Bounded: each trade fixes one unit of imbalance, and each node is tried once per direction.
 */
export function tradeForLeaders(
  p: Placer,
  leaderOf: Int32Array,
  low: Int32Array,
  high: Int32Array,
): void {
  const led = new Int32Array(low.length);
  for (const node of leaderOf) led[node] += 1;
  const room = (node: number): boolean => p.topo.eligible[node] === 1 && led[node] < high[node];
  const spare = (node: number): boolean => led[node] > low[node];
  for (const over of p.topo.pool) {
    for (let b = 0; b < leaderOf.length && led[over] > high[over]; b++) {
      if (leaderOf[b] !== over) continue;
      const taker = Array.from(p.topo.pool).find(
        (t) => room(t) && !p.asg.holds(b, t) && trade(p, leaderOf, b, t),
      );
      if (taker === undefined) continue;
      led[over] -= 1;
      led[taker] += 1;
    }
  }
  for (const under of p.topo.pool) {
    for (let b = 0; b < leaderOf.length && led[under] < low[under]; b++) {
      const giver = leaderOf[b];
      if (!spare(giver) || p.asg.holds(b, under) || !trade(p, leaderOf, b, under)) continue;
      led[giver] -= 1;
      led[under] += 1;
    }
  }
}
