/**
 * Augmenting paths, for when no node below quota may take a copy directly.
 *
 * A needy bucket b (one copy short) is placed on a full node w0 that may take it; w0 hands one of
 * its buckets y0 to a node w1 that may take y0; and so on until a node below quota takes the last
 * bucket. Every node on the path keeps its count except the last, which gains one. An over-quota
 * node v is repaired the same way, starting with v handing a bucket on.
 *
 * With one copy per zone (perZone = 1) the nodes of a zone are interchangeable for the zone rule,
 * so the search runs over zones: a path exists whenever any valid assignment of the remaining
 * copies exists (the zone-level problem is a bipartite b-matching, and this is its augmenting path),
 * so repair never fails there. With perZone > 1 the search runs over nodes, under a work budget;
 * when it gives up, the caller falls back and the plan reports a warning.
 *
 * Paths prefer to hand on fresh copies (placed by this plan, so moving them again costs nothing)
 * over copies the current map already has.
 */
import type { Placer } from './placer.js';

/** Work budget of one node-level search, in candidate checks. */
const NODE_SEARCH_WORK_MAX = 2_000_000;

/** A bucket handed from one node to another along a path. */
interface Hop {
  readonly bucket: number;
  readonly from: number;
}

/**
 * Applies a path: `incoming` (or -1) onto the first hop's node, then each hop in order, the last
 * one onto `end`. Forward order lets a bucket travel more than one hop.
 */
function applyPath(p: Placer, incoming: number, hops: readonly Hop[], end: number): void {
  if (incoming !== -1) p.place(incoming, (hops[0] as Hop).from);
  hops.forEach((hop, k) =>
    p.move(hop.bucket, hop.from, k + 1 < hops.length ? (hops[k + 1] as Hop).from : end),
  );
}

/**
 * Whether applying the path leaves every bucket it touches valid: distinct members, at most
 * perZone copies per zone. Checked on copies of the touched buckets' member lists.
 */
function validPath(p: Placer, incoming: number, hops: readonly Hop[], end: number): boolean {
  const { asg, topo } = p;
  const lists = new Map<number, number[]>();
  const listOf = (bucket: number): number[] => {
    let list = lists.get(bucket);
    if (list === undefined) {
      list = asg.members(bucket);
      lists.set(bucket, list);
    }
    return list;
  };
  if (incoming !== -1) listOf(incoming).push((hops[0] as Hop).from);
  for (let k = 0; k < hops.length; k++) {
    const hop = hops[k] as Hop;
    const list = listOf(hop.bucket);
    const at = list.indexOf(hop.from);
    if (at === -1) return false;
    list[at] = k + 1 < hops.length ? (hops[k + 1] as Hop).from : end;
  }
  for (const list of lists.values()) {
    if (new Set(list).size !== list.length) return false;
    const zones = list.map((n) => topo.zoneOf[n]);
    if (zones.some((z) => zones.filter((x) => x === z).length > topo.perZone)) return false;
  }
  return true;
}

/**
 * A copy in `zone` (on `onlyNode` if given) whose bucket has no copy in `toZone`, fresh only if
 * `freshOnly`. Returns [node, bucket] or null.
 */
function findWitness(
  p: Placer,
  zone: number,
  toZone: number,
  onlyNode: number,
  freshOnly: boolean,
): readonly [number, number] | null {
  const { asg, topo } = p;
  const nodes = onlyNode === -1 ? topo.zoneNodes[zone] : [onlyNode];
  for (const node of nodes) {
    for (const slot of asg.slotsOf(node)) {
      if (freshOnly && asg.fresh[slot] === 0) continue;
      const bucket = Math.floor(slot / asg.width);
      if (asg.countIn(bucket, topo.zoneOf, toZone) === 0) return [node, bucket];
    }
  }
  return null;
}

/**
 * Zone-level search (perZone = 1), cheapest path first: handing on a fresh copy costs nothing,
 * handing on a copy of the current map costs one more copy (a 0-1 breadth-first search). Starts
 * from `starts` (zones that may take `incoming`, or the over node's zone with incoming -1) and
 * returns true once the path is applied.
 */
function searchZones(
  p: Placer,
  starts: readonly number[],
  incoming: number,
  over: number,
): boolean {
  const zones = p.topo.zoneNodes.length;
  const parent = new Int32Array(zones).fill(-1);
  const hopNode = new Int32Array(zones).fill(-1);
  const hopBucket = new Int32Array(zones).fill(-1);
  const cost = new Float64Array(zones).fill(Infinity);
  const done = new Uint8Array(zones);
  const isStart = new Uint8Array(zones);
  const deque: number[] = [];
  for (const z of starts) {
    cost[z] = 0;
    isStart[z] = 1;
    deque.push(z);
  }
  while (deque.length > 0) {
    const x = deque.shift() as number;
    if (done[x] === 1) continue;
    done[x] = 1;
    if (isStart[x] === 0 && p.zoneDeficit[x] > 0) {
      const hops: Hop[] = [];
      for (let z = x; parent[z] !== -1; z = parent[z]) {
        hops.unshift({ bucket: hopBucket[z], from: hopNode[z] });
      }
      const last = hops[hops.length - 1] as Hop;
      applyPath(p, incoming, hops, p.pickInZone(last.bucket, x, last.from));
      return true;
    }
    const onlyNode = over !== -1 && isStart[x] === 1 ? over : -1;
    for (let next = 0; next < zones; next++) {
      if (done[next] === 1 || isStart[next] === 1) continue;
      const free = findWitness(p, x, next, onlyNode, true);
      const witness =
        free ?? (cost[x] + 1 < cost[next] ? findWitness(p, x, next, onlyNode, false) : null);
      if (witness === null) continue;
      const via = cost[x] + (free === null ? 1 : 0);
      if (via >= cost[next]) continue;
      cost[next] = via;
      parent[next] = x;
      hopNode[next] = witness[0];
      hopBucket[next] = witness[1];
      if (free === null) deque.push(next);
      else deque.unshift(next);
    }
  }
  return false;
}

/**
 * Node-level search (any perZone), under a work budget. `starts` are nodes that may take
 * `incoming` (or just the over node, with incoming -1). A bucket may travel more than one hop,
 * including the incoming one (its old copy making room in its zone for the new one), so every
 * path found is checked as a whole before it is applied.
 */
function searchNodes(p: Placer, starts: readonly number[], incoming: number): boolean {
  const { asg, topo } = p;
  const n = topo.nodes.length;
  const parent = new Int32Array(n).fill(-1);
  const received = new Int32Array(n).fill(-1);
  const visited = new Uint8Array(n);
  const queue = [...starts];
  for (const s of starts) visited[s] = 1;
  const deficitNodes = Array.from(topo.pool).filter((node) => p.deficit(node) > 0);
  let work = 0;
  const canTake = (bucket: number, from: number, to: number): boolean =>
    to !== from && !asg.holds(bucket, to) && p.zoneAllows(bucket, to, from);
  const pathTo = (c: number, bucket: number): Hop[] => {
    const hops: Hop[] = [{ bucket, from: c }];
    for (let x = c; parent[x] !== -1; x = parent[x])
      hops.unshift({ bucket: received[x], from: parent[x] });
    return hops;
  };
  for (let head = 0; head < queue.length && work < NODE_SEARCH_WORK_MAX; head++) {
    const c = queue[head];
    for (const slot of [...asg.slotsOf(c)]) {
      const bucket = Math.floor(slot / asg.width);
      for (const d of deficitNodes) {
        work++;
        if (!canTake(bucket, c, d)) continue;
        const hops = pathTo(c, bucket);
        if (!validPath(p, incoming, hops, d)) continue;
        applyPath(p, incoming, hops, d);
        return true;
      }
      for (const d of topo.pool) {
        work++;
        if (visited[d] === 1 || !canTake(bucket, c, d)) continue;
        visited[d] = 1;
        parent[d] = c;
        received[d] = bucket;
        queue.push(d);
      }
    }
  }
  return false;
}

/** Places one more copy of `bucket` through an augmenting path. Returns false if none was found. */
export function repairNeedy(p: Placer, bucket: number): boolean {
  const { topo, asg } = p;
  if (topo.perZone === 1) {
    const starts: number[] = [];
    for (let z = 0; z < topo.zoneNodes.length; z++)
      if (asg.countIn(bucket, topo.zoneOf, z) === 0) starts.push(z);
    return searchZones(p, starts, bucket, -1);
  }
  const starts = Array.from(topo.pool).filter(
    (node) => !asg.holds(bucket, node) && p.zoneAllows(bucket, node, -1),
  );
  return searchNodes(p, starts, bucket);
}

/**
 * Takes one copy off the over-quota node `over` through an augmenting path. Returns false if none
 * was found.
 */
export function repairOver(p: Placer, over: number): boolean {
  const { topo } = p;
  if (topo.perZone > 1) return searchNodes(p, [over], -1);
  const zone = topo.zoneOf[over];
  if (searchZones(p, [zone], -1, over)) return true;
  // No path starts with a copy of `over` itself: free a slot elsewhere in its zone, then hand one
  // of `over`'s copies to that node (within a zone any node may take any of them).
  const before = new Int32Array(topo.zoneNodes[zone] as Int32Array).map((n) => p.asg.count[n]);
  if (!searchZones(p, [zone], -1, -1)) return false;
  const members = topo.zoneNodes[zone] as Int32Array;
  const freed = members.find((n, k) => p.asg.count[n] < before[k]);
  if (freed === undefined) return true;
  const slot = p.asg.slotsOf(over)[0];
  if (slot === undefined) return true;
  p.move(Math.floor(slot / p.asg.width), over, freed);
  return true;
}

/**
 * Last resort for a needy bucket: any node that does not hold it, below quota first (possibly
 * breaking the zone rule), else the least loaded (breaking balance). Replicas come first.
 */
export function forcePlace(p: Placer, bucket: number): void {
  let best = -1;
  let bestKey = -Infinity;
  for (const node of p.topo.pool) {
    if (p.asg.holds(bucket, node)) continue;
    const key = p.deficit(node);
    if (key > bestKey) {
      best = node;
      bestKey = key;
    }
  }
  if (best !== -1) p.place(bucket, best);
}
