// A slow, exact reference for the planner's movement: the fewest copies any correct target needs,
// found as a min-cost flow, for small clusters only. "Correct" is the planner's contract: every
// bucket has min(replicas, pool) copies on distinct pool nodes, at most perZone per zone, and
// every pool node holds between the floor and the ceiling of its ideal share.
//
// Network: source → bucket (capacity R) → (bucket, zone) (capacity perZone) → node (capacity 1;
// cost 0 if the node holds the bucket now, else 1) → sink. A node's edge to the sink is split in
// two: ⌊t⌋ units at a large negative cost, so that lower bounds are met whenever they can be, and
// ⌈t⌉ − ⌊t⌋ units at cost 0. Successive shortest paths (Bellman-Ford, as costs are negative).
import type { NodeId } from '../../../src/core/lib/ids.js';
import {
  idealLoads,
  type CurrentMap,
  type PlanConstraints,
  type PlannerNode,
} from '../../../src/core/planner/index.js';
import { perZoneCap } from './arbitraries.js';

interface Edge {
  to: number;
  cap: number;
  cost: number;
}

class Network {
  readonly edges: Edge[] = [];
  readonly out: number[][] = [];

  node(): number {
    this.out.push([]);
    return this.out.length - 1;
  }

  edge(from: number, to: number, cap: number, cost: number): void {
    this.out[from]?.push(this.edges.length);
    this.edges.push({ to, cap, cost });
    this.out[to]?.push(this.edges.length);
    this.edges.push({ to: from, cap: 0, cost: -cost });
  }

  /** Sends up to `want` units from s to t at least cost; returns [flow, cost]. */
  minCostFlow(s: number, t: number, want: number): [number, number] {
    let flow = 0;
    let cost = 0;
    while (flow < want) {
      const dist = new Array<number>(this.out.length).fill(Infinity);
      const via = new Array<number>(this.out.length).fill(-1);
      dist[s] = 0;
      for (let round = 0, changed = true; changed && round < this.out.length; round++) {
        changed = false;
        for (let u = 0; u < this.out.length; u++) {
          if (dist[u] === Infinity) continue;
          for (const e of this.out[u] as number[]) {
            const edge = this.edges[e] as Edge;
            const d = (dist[u] as number) + edge.cost;
            if (edge.cap > 0 && d < (dist[edge.to] as number)) {
              dist[edge.to] = d;
              via[edge.to] = e;
              changed = true;
            }
          }
        }
      }
      if (dist[t] === Infinity) break;
      let push = want - flow;
      for (let v = t; v !== s; v = (this.edges[(via[v] as number) ^ 1] as Edge).to)
        push = Math.min(push, (this.edges[via[v] as number] as Edge).cap);
      for (let v = t; v !== s; v = (this.edges[(via[v] as number) ^ 1] as Edge).to) {
        (this.edges[via[v] as number] as Edge).cap -= push;
        (this.edges[(via[v] as number) ^ 1] as Edge).cap += push;
      }
      flow += push;
      cost += push * (dist[t] as number);
    }
    return [flow, cost];
  }
}

/**
 * The fewest copies a correct target for `current` needs, or null when no target meets every
 * node's floor (the planner then warns).
 */
export function optimalCopies(
  current: CurrentMap,
  nodes: readonly PlannerNode[],
  constraints: PlanConstraints,
): number | null {
  const buckets = current.length;
  const ideal = idealLoads(nodes, buckets, constraints);
  const pool = nodes.filter((n) => ideal.get(n.id)?.inPool).sort((a, b) => a.id - b.id);
  const replicas = Math.min(constraints.replicas, pool.length);
  const perZone = perZoneCap(nodes, constraints, buckets);
  const zones = [...new Set(pool.map((n) => n.zone))].sort();
  const net = new Network();
  const source = net.node();
  const sink = net.node();
  const nodeVertex = new Map<NodeId, number>();
  const BIG = 1_000_000;
  let floors = 0;
  for (const n of pool) {
    const v = net.node();
    nodeVertex.set(n.id, v);
    const [lo, hi] = ideal.get(n.id)?.replicasRange ?? [0, 0];
    floors += lo;
    net.edge(v, sink, lo, -BIG);
    net.edge(v, sink, hi - lo, 0);
  }
  current.forEach((p, b) => {
    const held = new Set<NodeId>([
      ...(p.leader === null ? [] : [p.leader]),
      ...p.followers,
      ...(p.learners ?? []),
    ]);
    const bv = net.node();
    net.edge(source, bv, replicas, 0);
    for (const zone of zones) {
      const zv = net.node();
      net.edge(bv, zv, perZone, 0);
      for (const n of pool)
        if (n.zone === zone)
          net.edge(zv, nodeVertex.get(n.id) as number, 1, held.has(n.id) ? 0 : 1);
    }
    void b;
  });
  const [flow, cost] = net.minCostFlow(source, sink, replicas * buckets);
  if (flow < replicas * buckets) return null;
  const copies = cost + floors * BIG;
  return copies >= 0 && copies < BIG ? copies : null;
}
