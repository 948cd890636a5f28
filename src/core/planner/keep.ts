/**
 * The current map as node indices, and the keep pass of plan(): which current copies stay in the
 * target before anything is placed.
 */
import { assert } from '../lib/assert.js';
import type { NodeId } from '../lib/ids.js';
import type { Acceptance } from './ideal.js';
import type { Placer } from './placer.js';
import type { Topology } from './topology.js';
import type { CurrentMap } from './types.js';

const ascending = (a: NodeId, b: NodeId): number => a - b;

/** Current members as node indices, CSR, in keep order: leader, followers, learners. */
export interface IndexedCurrent {
  readonly start: Int32Array;
  readonly nodes: Int32Array;
  readonly leader: Int32Array;
  /** Buckets each node holds (any state), for node indices. */
  readonly held: Int32Array;
}

export function indexCurrent(current: CurrentMap, topo: Topology): IndexedCurrent {
  const n = topo.nodes.length;
  const start = new Int32Array(current.length + 1);
  const out: number[] = [];
  const leader = new Int32Array(current.length).fill(-1);
  const held = new Int32Array(n);
  current.forEach((placement, b) => {
    const ordered = [
      ...(placement.leader === null ? [] : [placement.leader]),
      ...[...placement.followers].sort(ascending),
      ...[...(placement.learners ?? [])].sort(ascending),
    ];
    assert(new Set(ordered).size === ordered.length, `bucket ${b}: a node appears twice`);
    assert(placement.leader !== null || placement.followers.length === 0, `bucket ${b}: no leader`);
    for (const id of ordered) {
      const node = topo.indexOf.get(id);
      if (node === undefined) continue;
      out.push(node);
      held[node] = held[node] + 1;
    }
    if (placement.leader !== null) {
      const node = topo.indexOf.get(placement.leader);
      if (node !== undefined) {
        leader[b] = node;
      }
    }
    start[b + 1] = out.length;
  });
  return { start, nodes: Int32Array.from(out), leader, held };
}

/**
 * For the rounding of quotas: how many of the buckets short of copies (fewer keepable copies than
 * replicas) each node could take a copy of, i.e. not counting buckets it already holds or whose
 * zone is full. O(copies), by subtraction from the total.
 */
export function acceptance(cur: IndexedCurrent, topo: Topology): Acceptance {
  const node = new Float64Array(topo.nodes.length);
  const zoneBlocked = new Float64Array(topo.zoneNodes.length);
  let total = 0;
  const perZone = new Map<number, number>();
  for (let b = 0; b + 1 < cur.start.length; b++) {
    const usable = usableCopies(cur, topo, b);
    perZone.clear();
    for (const n of usable) perZone.set(topo.zoneOf[n], (perZone.get(topo.zoneOf[n]) ?? 0) + 1);
    let keepable = 0;
    for (const c of perZone.values()) keepable += Math.min(c, topo.perZone);
    if (keepable >= topo.replicas) continue;
    total += 1;
    for (const [z, c] of perZone) if (c >= topo.perZone) zoneBlocked[z] += 1;
    for (const n of usable)
      if ((perZone.get(topo.zoneOf[n]) as number) < topo.perZone) node[n] += 1;
  }
  for (const n of topo.pool) node[n] = total - zoneBlocked[topo.zoneOf[n]] - node[n];
  return node;
}

/**
 * Pass 2: keep what may stay. A bucket whose usable copies fit (at most `replicas`, at most
 * perZone per zone) keeps them all. The others, once every fitting bucket is kept, keep copies one
 * at a time on the node furthest below its quota, ties going to the leader, then followers, then
 * learners: so when a zone must give up copies (it now holds more than perZone of a bucket), the
 * copies kept are the ones the quotas want, not ones that would have to move again.
 */
export function keep(p: Placer, cur: IndexedCurrent): void {
  const { topo, asg } = p;
  const crowded: number[] = [];
  const isCrowded = new Uint8Array(asg.buckets);
  for (let b = 0; b < asg.buckets; b++) {
    if (!fits(cur, topo, b)) {
      crowded.push(b);
      isCrowded[b] = 1;
      continue;
    }
    for (let k = cur.start[b]; k < cur.start[b + 1]; k++)
      if (topo.eligible[cur.nodes[k]] === 1) p.place(b, cur.nodes[k]);
  }
  for (const b of crowded) {
    const usable = usableCopies(cur, topo, b);
    while (asg.size[b] < topo.replicas) {
      let best = -1;
      for (const node of usable) {
        if (asg.holds(b, node) || !p.zoneAllows(b, node, -1)) continue;
        if (best === -1 || p.deficit(node) > p.deficit(best)) best = node;
      }
      if (best === -1) break;
      p.place(b, best);
    }
  }
  if (crowded.length > 0) rebalanceKept(p, cur, isCrowded);
}

/**
 * The greedy choice of kept copies can leave a node over quota while another holder of one of
 * its crowded buckets has room. Augmenting paths fix that for free (no copy is made, only another
 * existing copy is kept): an over node drops a crowded bucket's copy, another holder of that
 * bucket keeps its copy instead, possibly dropping one of its own crowded copies in turn, until a
 * node below quota is reached.
 */
function rebalanceKept(p: Placer, cur: IndexedCurrent, isCrowded: Uint8Array): void {
  const { topo, asg } = p;
  const n = topo.nodes.length;
  const stamp = new Int32Array(n);
  const parent = new Int32Array(n);
  const via = new Int32Array(n);
  let round = 0;
  const augment = (over: number): boolean => {
    round++;
    stamp[over] = round;
    parent[over] = -1;
    const queue = [over];
    for (let head = 0; head < queue.length; head++) {
      const x = queue[head];
      for (const slot of asg.slotsOf(x)) {
        const b = Math.floor(slot / asg.width);
        if (isCrowded[b] === 0) continue;
        for (const u of usableCopies(cur, topo, b)) {
          if (stamp[u] === round || asg.holds(b, u) || !p.zoneAllows(b, u, x)) continue;
          stamp[u] = round;
          parent[u] = x;
          via[u] = b;
          if (p.deficit(u) <= 0) {
            queue.push(u);
            continue;
          }
          const hops: [number, number, number][] = [];
          for (let y = u; parent[y] !== -1; y = parent[y]) hops.push([via[y], parent[y], y]);
          if (new Set(hops.map((h) => h[0])).size !== hops.length) continue;
          for (const [bucket, from, to] of hops) p.move(bucket, from, to);
          return true;
        }
      }
    }
    return false;
  };
  for (const v of topo.pool) while (p.deficit(v) < 0 && augment(v));
}

/** Whether all of bucket `b`'s copies on pool nodes may stay: at most replicas, perZone per zone. */
function fits(cur: IndexedCurrent, topo: Topology, b: number): boolean {
  let usable = 0;
  for (let k = cur.start[b]; k < cur.start[b + 1]; k++) {
    const node = cur.nodes[k];
    if (topo.eligible[node] === 0) continue;
    usable++;
    let sameZone = 0;
    for (let j = cur.start[b]; j < cur.start[b + 1]; j++) {
      const other = cur.nodes[j];
      if (topo.eligible[other] === 1 && topo.zoneOf[other] === topo.zoneOf[node]) sameZone++;
    }
    if (sameZone > topo.perZone) return false;
  }
  return usable <= topo.replicas;
}

/** The copies of bucket `b` on pool nodes, in keep order. */
function usableCopies(cur: IndexedCurrent, topo: Topology, b: number): number[] {
  const out: number[] = [];
  for (let k = cur.start[b]; k < cur.start[b + 1]; k++)
    if (topo.eligible[cur.nodes[k]] === 1) out.push(cur.nodes[k]);
  return out;
}
