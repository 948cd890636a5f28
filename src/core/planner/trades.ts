/**
 * Quota trades. Rounding decides up front which nodes get ⌈t⌉ copies; when that choice makes a
 * copy move (or take a detour) that another equally balanced choice would not, the placer hands
 * the round-up to another node instead (Placer.tradeQuota). Quotas stay within [⌊t⌋, ⌈t⌉] and no
 * zone exceeds its cap, so balance is exactly as good, with fewer copies.
 *
 * Nodes of the same zone are tried first, then the others by index. A giver is a node that rounded
 * up; a taker must be below its ceiling.
 */
import type { Placer } from './placer.js';

/** Pool nodes, those of `zone` first, then the rest by index. */
function byProximity(p: Placer, zone: number): number[] {
  const near = Array.from(p.topo.zoneNodes[zone] as Int32Array);
  const far = Array.from(p.topo.pool).filter((n) => p.topo.zoneOf[n] !== zone);
  return [...near, ...far];
}

/**
 * Nodes that rounded up but have room they may not need: the givers of {@link absorbExcess}.
 * During the shed pass deficits only shrink and givers only round down, so a node that stops
 * qualifying never qualifies again and is dropped for good.
 */
export class SpareRoundUps {
  private readonly nodes: number[];

  constructor(private readonly p: Placer) {
    this.nodes = Array.from(p.topo.pool).filter(
      (n) => p.deficit(n) > 0 && p.quota[n] > p.quotaLow[n],
    );
  }

  /**
   * An over-quota node `over` gives up one unit of excess without any copy: a giver hands its
   * round-up to `over`. Returns true if done.
   */
  absorbExcess(over: number): boolean {
    const { p, nodes } = this;
    if (p.quota[over] >= p.quotaHigh[over]) return false;
    for (let k = 0; k < nodes.length;) {
      const giver = nodes[k];
      if (p.deficit(giver) <= 0 || p.quota[giver] <= p.quotaLow[giver]) {
        nodes[k] = nodes[nodes.length - 1];
        nodes.pop();
        continue;
      }
      if (p.canTrade(giver, over)) {
        p.tradeQuota(giver, over);
        return true;
      }
      k++;
    }
    return false;
  }
}

/**
 * An over-quota node `over` that cannot hand any copy on directly: a node that rounded up and can
 * hand one of its own copies on takes the excess instead (it rounds down, `over` rounds up) and
 * hands that copy on. Returns true if done.
 */
export function shedThroughNeighbour(p: Placer, over: number): boolean {
  if (p.quota[over] >= p.quotaHigh[over]) return false;
  for (const giver of byProximity(p, p.topo.zoneOf[over])) {
    if (!p.canTrade(giver, over)) continue;
    for (const slot of p.asg.slotsOf(giver)) {
      const bucket = Math.floor(slot / p.asg.width);
      const to = p.pickTarget(bucket, giver);
      if (to === -1 || to === over) continue;
      p.tradeQuota(giver, over);
      p.move(bucket, giver, to);
      return true;
    }
  }
  return false;
}

/**
 * A bucket that no node below quota may take: a full node that may take it rounds up, taking the
 * round-up of a node that does not need it. Returns true if the copy was placed.
 */
export function placeByTrade(p: Placer, bucket: number): boolean {
  const { topo, asg } = p;
  const givers = Array.from(topo.pool).filter(
    (n) => p.deficit(n) > 0 && p.quota[n] > p.quotaLow[n],
  );
  if (givers.length === 0) return false;
  for (const taker of topo.pool) {
    if (asg.holds(bucket, taker) || !p.zoneAllows(bucket, taker, -1)) continue;
    const giver = givers.find((g) => p.canTrade(g, taker));
    if (giver === undefined) continue;
    p.tradeQuota(giver, taker);
    p.place(bucket, taker);
    return true;
  }
  return false;
}

/**
 * An over-quota node `over` whose copies may go only to nodes at their quota: one of them (`taker`)
 * rounds up to take a copy of `over`, and a node that rounded up and can hand a copy on directly
 * rounds down and does so. Two copies move, both of which had to move anyway. Returns true if
 * done.
 */
export function shedViaRoundUp(p: Placer, over: number): boolean {
  const { topo, asg } = p;
  const direct = new Map<number, readonly [number, number]>();
  for (const giver of topo.pool) {
    if (giver === over || p.quota[giver] <= p.quotaLow[giver]) continue;
    for (const slot of asg.slotsOf(giver)) {
      const bucket = Math.floor(slot / asg.width);
      const to = p.pickTarget(bucket, giver);
      if (to !== -1 && to !== over) {
        direct.set(giver, [bucket, to]);
        break;
      }
    }
  }
  if (direct.size === 0) return false;
  for (const slot of [...asg.slotsOf(over)]) {
    const bucket = Math.floor(slot / asg.width);
    for (const taker of topo.pool) {
      if (taker === over || p.quota[taker] >= p.quotaHigh[taker]) continue;
      if (asg.holds(bucket, taker) || !p.zoneAllows(bucket, taker, over)) continue;
      for (const [giver, [handed, to]] of direct) {
        if (giver === taker || to === taker || !p.canTrade(giver, taker)) continue;
        if (handed === bucket) continue;
        p.tradeQuota(giver, taker);
        p.move(bucket, over, taker);
        p.move(handed, giver, to);
        return true;
      }
    }
  }
  return false;
}
