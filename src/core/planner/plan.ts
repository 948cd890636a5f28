/**
 * `plan(current, nodes, constraints)`: the target map. A pure function: the same nodes (in any
 * order) and the same current map give the same target, byte for byte.
 *
 * The algorithm, in five passes over typed arrays (docs/planner.md has the reasoning):
 * 1. Ideal and quotas (ideal.ts): each usable node's weighted share of replicas and of leaders,
 *    rounded to integer quotas that favour what nodes already hold.
 * 2. Keep (keep.ts): every current copy on a usable node stays, unless its bucket has more than
 *    `replicas` of them or more than perZone in a zone; then the copies kept are chosen to fit the
 *    quotas.
 * 3. Fill: buckets short of copies get them on nodes below quota (placer.ts), zone with the largest
 *    deficit first.
 * 4. Shed: nodes above quota hand copies (followers before leaderships) to nodes below quota.
 *    Where no direct move exists, a round-up of the quotas changes hands (trades.ts) or an
 *    augmenting path relocates copies (repair.ts); both keep balance and the zone rule.
 * 5. Leaders (leaders.ts): current leaders stay where their range allows; the rest are placed by
 *    b-matching on members that already hold the data; member trades (leader-swaps.ts) when the
 *    placement admits no balanced choice.
 * Then an audit turns whatever could not be met into warnings.
 */
import { assert } from '../lib/assert.js';
import type { NodeId } from '../lib/ids.js';
import { err, ok, type Result } from '../lib/result.js';
import { leaderShares, replicaQuotas, replicaShares, shareCeil, shareFloor } from './ideal.js';
import { tradeForLeaders } from './leader-swaps.js';
import { assignLeaders } from './leaders.js';
import { Placer } from './placer.js';
import { forcePlace, repairNeedy, repairOver } from './repair.js';
import { placeByTrade, shedThroughNeighbour, shedViaRoundUp, SpareRoundUps } from './trades.js';
import { acceptance, indexCurrent, keep } from './keep.js';
import { buildTopology, type Topology } from './topology.js';
import {
  BUCKETS_MAX,
  type CurrentMap,
  type Plan,
  type PlanConstraints,
  type PlanWarning,
  type PlannerNode,
  type TargetPlacement,
} from './types.js';

const ascending = (a: NodeId, b: NodeId): number => a - b;

/** Pass 3: give every bucket its replicas. */
function fill(p: Placer): void {
  const { topo, asg } = p;
  for (let b = 0; b < asg.buckets; b++) {
    while (asg.size[b] < topo.replicas) {
      const node = p.pickTarget(b, -1);
      if (node !== -1) p.place(b, node);
      else if (!placeByTrade(p, b) && !repairNeedy(p, b)) forcePlace(p, b);
    }
  }
}

/**
 * Pass 4: bring every node down to its quota. First without any copy (round-up trades), then by
 * handing copies straight to nodes below quota, the nodes with the fewest such options first (they
 * compete for the same few targets, e.g. buckets with no copy in a joining node's zone), then by
 * trades and augmenting paths for what is left.
 */
function shed(p: Placer, currentLeader: Int32Array): void {
  const { topo, asg } = p;
  const spare = new SpareRoundUps(p);
  const over: { node: number; slack: number }[] = [];
  for (const v of topo.pool) {
    while (p.deficit(v) < 0 && spare.absorbExcess(v));
    if (p.deficit(v) >= 0) continue;
    let options = 0;
    for (const slot of asg.slotsOf(v))
      if (p.pickTarget(Math.floor(slot / asg.width), v) !== -1) options++;
    over.push({ node: v, slack: options + p.deficit(v) });
  }
  over.sort((a, b) => a.slack - b.slack || a.node - b.node);
  for (const { node: v } of over) {
    const buckets = asg.slotsOf(v).map((slot) => Math.floor(slot / asg.width));
    // Followers first, so that leaders stay put; then by bucket.
    buckets.sort((a, b) => +(currentLeader[a] === v) - +(currentLeader[b] === v) || a - b);
    if (p.peers === null) {
      for (const b of buckets) {
        if (p.deficit(v) >= 0) break;
        const to = p.pickTarget(b, v);
        if (to !== -1) p.move(b, v, to);
      }
    } else while (p.deficit(v) < 0 && shedFewestLinks(p, v, buckets));
  }
  for (const { node: v } of over) {
    while (
      p.deficit(v) < 0 &&
      (shedThroughNeighbour(p, v) || shedViaRoundUp(p, v) || repairOver(p, v))
    );
  }
}

/**
 * Pass 5: leaders, each node between the floor and ceiling of its leader share; member trades
 * where the placement leaves no such choice.
 */
function chooseLeaders(p: Placer, buckets: number, currentLeader: Int32Array): Int32Array {
  const shares = leaderShares(p.topo, buckets);
  const n = p.topo.nodes.length;
  const low = new Int32Array(n);
  const high = new Int32Array(n);
  for (const node of p.topo.pool) {
    const share = { num: shares.num[node], den: shares.den };
    low[node] = shareFloor(share);
    high[node] = shareCeil(share);
  }
  const leaderOf = assignLeaders(p.asg, low, high, currentLeader);
  const led = new Int32Array(n);
  for (const node of leaderOf) led[node] += 1;
  if (p.topo.pool.some((node) => led[node] < low[node] || led[node] > high[node]))
    tradeForLeaders(p, leaderOf, low, high);
  return leaderOf;
}

/**
 * With a fan-out limit: hands on the copy of `over` whose move adds the fewest peer links (ties to
 * the earlier bucket in `buckets`). Returns false if none can move directly.
 */
function shedFewestLinks(p: Placer, over: number, buckets: readonly number[]): boolean {
  let best = -1;
  let bestTo = -1;
  let bestLinks = Infinity;
  for (const b of buckets) {
    if (!p.asg.holds(b, over)) continue;
    const to = p.pickTarget(b, over);
    if (to === -1) continue;
    const links = p.newLinks(b, to, over);
    if (links < bestLinks) {
      best = b;
      bestTo = to;
      bestLinks = links;
      if (links === 0) break;
    }
  }
  if (best === -1) return false;
  p.move(best, over, bestTo);
  return true;
}

/** Checks the result against the constraints and returns the warnings it earns. */
function audit(
  p: Placer,
  leaderOf: Int32Array,
  buckets: number,
  constraints: PlanConstraints,
): PlanWarning[] {
  const { topo, asg } = p;
  const warnings: PlanWarning[] = [...topo.warnings];
  const shares = replicaShares(topo, buckets);
  const leaders = leaderShares(topo, buckets);
  const led = new Int32Array(topo.nodes.length);
  for (const node of leaderOf) led[node] = led[node] + 1;
  let offReplicas = 0;
  let offLeaders = 0;
  for (const n of topo.pool) {
    const r = { num: shares.num[n], den: shares.zoneDen[topo.zoneOf[n]] };
    if (asg.count[n] < shareFloor(r) || asg.count[n] > shareCeil(r)) offReplicas++;
    const l = { num: leaders.num[n], den: leaders.den };
    if (led[n] < shareFloor(l) || led[n] > shareCeil(l)) offLeaders++;
  }
  if (offReplicas > 0) warnings.push({ code: 'REPLICA_BALANCE', nodes: offReplicas });
  if (offLeaders > 0) warnings.push({ code: 'LEADER_BALANCE', nodes: offLeaders });
  let zoneViolations = 0;
  let rackCollisions = 0;
  const members = new Int32Array(asg.width);
  for (let b = 0; b < buckets; b++) {
    let size = 0;
    for (let s = b * asg.width; s < (b + 1) * asg.width; s++)
      if (asg.slots[s] !== -1) members[size++] = asg.slots[s];
    const check = checkDomains(topo, members, size);
    if (check.zoneOver) zoneViolations++;
    if (check.rackCollision) rackCollisions++;
  }
  if (zoneViolations > 0) warnings.push({ code: 'ZONE_VIOLATION', buckets: zoneViolations });
  if (rackCollisions > 0) warnings.push({ code: 'RACK_COLLISION', buckets: rackCollisions });
  if (constraints.fanOutMax !== undefined) {
    const peers = fanOuts(asg, topo.nodes.length);
    const over = peers.filter((f) => f > (constraints.fanOutMax as number));
    if (over.length > 0)
      warnings.push({
        code: 'FAN_OUT_EXCEEDED',
        fanOutMax: constraints.fanOutMax,
        nodes: over.length,
        worst: Math.max(...over),
      });
  }
  return warnings.sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
}

/**
 * For one bucket's members (the first `size` of `members`): whether a zone holds more than
 * perZone copies, and whether two copies share a rack while their zone had a rack to spare.
 * Quadratic in the replicas, allocation-free.
 */
function checkDomains(
  topo: Topology,
  members: Int32Array,
  size: number,
): { zoneOver: boolean; rackCollision: boolean } {
  let zoneOver = false;
  let rackCollision = false;
  for (let i = 0; i < size; i++) {
    const zone = topo.zoneOf[members[i]];
    let inZone = 0;
    let racks = 0;
    let shared = false;
    for (let j = 0; j < size; j++) {
      if (topo.zoneOf[members[j]] !== zone) continue;
      inZone++;
      let first = true;
      for (let k = 0; k < j; k++) {
        if (topo.rackOf[members[k]] === topo.rackOf[members[j]]) {
          first = false;
          if (j === i || k === i) shared = true;
        }
      }
      if (first) racks++;
    }
    if (inZone > topo.perZone) zoneOver = true;
    if (shared && racks < Math.min(inZone, topo.racksPerZone[zone])) rackCollision = true;
  }
  return { zoneOver, rackCollision };
}

/** Distinct peers per node index. */
function fanOuts(asg: { buckets: number; members(b: number): number[] }, n: number): number[] {
  const peers: Set<number>[] = Array.from({ length: n }, () => new Set());
  for (let b = 0; b < asg.buckets; b++) {
    const members = asg.members(b);
    for (const x of members) for (const y of members) if (x !== y) peers[x].add(y);
  }
  return peers.map((s) => s.size);
}

function checkConstraints(current: CurrentMap, constraints: PlanConstraints): void {
  assert(current.length >= 1, 'a map has at least one bucket');
  assert(current.length <= BUCKETS_MAX, `a map has at most ${BUCKETS_MAX} buckets`);
  const f = constraints.fanOutMax;
  assert(
    f === undefined || (Number.isInteger(f) && f >= 1),
    'fanOutMax must be a positive integer',
  );
}

/**
 * Plans the target map for `current` over `nodes`. Returns NO_NODES when no node may host a copy
 * (none given, or all failed). See the file comment for the algorithm and docs/planner.md for
 * the guarantees; the warnings say which constraints could not be met.
 */
export function plan(
  current: CurrentMap,
  nodes: readonly PlannerNode[],
  constraints: PlanConstraints,
): Result<Plan, 'NO_NODES'> {
  checkConstraints(current, constraints);
  const topo = buildTopology(nodes, constraints.replicas);
  if (topo === null) return err('NO_NODES');
  const buckets = current.length;
  const cur = indexCurrent(current, topo);
  const shares = replicaShares(topo, buckets);
  const quota = replicaQuotas(topo, buckets, shares, cur.held, acceptance(cur, topo));
  const low = new Int32Array(topo.nodes.length);
  const high = new Int32Array(topo.nodes.length);
  for (const n of topo.pool) {
    const share = { num: shares.num[n], den: shares.zoneDen[topo.zoneOf[n]] };
    low[n] = shareFloor(share);
    high[n] = shareCeil(share);
  }
  const p = new Placer(
    topo,
    buckets,
    quota,
    low,
    high,
    cur.start,
    cur.nodes,
    constraints.fanOutMax,
  );
  keep(p, cur);
  fill(p);
  shed(p, cur.leader);
  const leaderOf = chooseLeaders(p, buckets, cur.leader);
  const target: TargetPlacement[] = [];
  for (let b = 0; b < buckets; b++) {
    const leader = leaderOf[b];
    assert(leader !== -1, `bucket ${b} has a leader`);
    const followers: NodeId[] = [];
    for (let s = b * p.asg.width; s < (b + 1) * p.asg.width; s++) {
      const m = p.asg.slots[s];
      if (m !== -1 && m !== leader) followers.push((topo.nodes[m] as PlannerNode).id);
    }
    followers.sort(ascending);
    target.push({ leader: (topo.nodes[leader] as PlannerNode).id, followers });
  }
  return ok({ target, warnings: audit(p, leaderOf, buckets, constraints) });
}
