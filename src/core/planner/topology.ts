/**
 * The cluster as the placement algorithm sees it: nodes sorted by id and indexed 0..n-1, the pool
 * of nodes the target may use (with spares and draining nodes pulled in only when needed), and the
 * failure domains of that pool as small integers.
 *
 * Everything here depends only on the set of nodes, never on their input order: nodes are sorted
 * by id, zones and racks by name.
 */
import { assert } from '../lib/assert.js';
import type { NodeId } from '../lib/ids.js';
import {
  NODES_MAX,
  REPLICAS_MAX,
  WEIGHT_MAX,
  type NodeState,
  type PlanWarning,
  type PlannerNode,
} from './types.js';

/** The indexed cluster. Arrays are indexed by node index (position in `nodes`). */
export interface Topology {
  /** All given nodes, ascending by id. */
  readonly nodes: readonly PlannerNode[];
  readonly indexOf: ReadonlyMap<NodeId, number>;
  /** 1 for the nodes the target may use (the pool). */
  readonly eligible: Uint8Array;
  /** Pool node indices, ascending. */
  readonly pool: Int32Array;
  readonly weight: Int32Array;
  /** Zone index of a pool node (zones of the pool, by name), -1 outside the pool. */
  readonly zoneOf: Int32Array;
  readonly zoneNames: readonly string[];
  /** Pool nodes of each zone, ascending. */
  readonly zoneNodes: readonly Int32Array[];
  /** Rack index of a pool node (racks are scoped by zone), -1 outside the pool. */
  readonly rackOf: Int32Array;
  /** Number of distinct racks in each zone. */
  readonly racksPerZone: Int32Array;
  /** Copies per bucket in the target: the asked replicas, or fewer when the pool is smaller. */
  readonly replicas: number;
  /**
   * The most copies of one bucket a zone may hold: the smallest m such that the zones can hold
   * `replicas` copies with at most m in each. 1 whenever there are at least `replicas` zones.
   */
  readonly perZone: number;
  /** REPLICAS_SHORT, ZONES_SHORT, SPARES_USED, DRAINING_USED, as they apply. */
  readonly warnings: readonly PlanWarning[];
}

const STATES: ReadonlySet<NodeState> = new Set(['active', 'draining', 'spare', 'failed']);

function checkNode(node: PlannerNode): void {
  assert(Number.isSafeInteger(node.id) && node.id >= 1, `node id must be a NodeId: ${node.id}`);
  assert(typeof node.zone === 'string' && node.zone.length > 0, `node ${node.id}: empty zone`);
  assert(
    Number.isInteger(node.weight) && node.weight >= 1 && node.weight <= WEIGHT_MAX,
    `node ${node.id}: weight must be an integer in 1..${WEIGHT_MAX}, got ${node.weight}`,
  );
  assert(STATES.has(node.state), `node ${node.id}: unknown state ${String(node.state)}`);
}

/** Sorts and checks the nodes: ids unique, fields in range. */
export function sortNodes(nodes: readonly PlannerNode[]): PlannerNode[] {
  assert(nodes.length <= NODES_MAX, `at most ${NODES_MAX} nodes, got ${nodes.length}`);
  const sorted = [...nodes].sort((a, b) => a.id - b.id);
  for (let i = 0; i < sorted.length; i++) {
    const node = sorted[i] as PlannerNode;
    checkNode(node);
    assert(i === 0 || (sorted[i - 1] as PlannerNode).id !== node.id, `duplicate node ${node.id}`);
  }
  return sorted;
}

function countZones(nodes: readonly PlannerNode[], chosen: readonly number[]): number {
  return new Set(chosen.map((i) => (nodes[i] as PlannerNode).zone)).size;
}

/**
 * Chooses the pool: active nodes; then spares, one at a time (a spare in a new zone first, then by
 * id), while the pool has fewer than `replicas` nodes or fewer zones than it could have; then
 * draining nodes, by id, while the pool has fewer than `replicas` nodes.
 */
function choosePool(
  nodes: readonly PlannerNode[],
  replicas: number,
  warnings: PlanWarning[],
): number[] {
  const byState = (state: NodeState): number[] =>
    nodes.flatMap((n, i) => (n.state === state ? [i] : []));
  const pool = byState('active');
  const spares = byState('spare');
  const zonesWanted = Math.min(replicas, countZones(nodes, [...pool, ...spares]));
  const usedSpares: NodeId[] = [];
  while (spares.length > 0 && (pool.length < replicas || countZones(nodes, pool) < zonesWanted)) {
    const zones = new Set(pool.map((i) => (nodes[i] as PlannerNode).zone));
    const inNewZone = spares.findIndex((i) => !zones.has((nodes[i] as PlannerNode).zone));
    const pick = inNewZone !== -1 ? inNewZone : pool.length < replicas ? 0 : -1;
    if (pick === -1) break;
    const [spare] = spares.splice(pick, 1) as [number];
    pool.push(spare);
    usedSpares.push((nodes[spare] as PlannerNode).id);
  }
  if (usedSpares.length > 0) warnings.push({ code: 'SPARES_USED', nodes: usedSpares.sort(byId) });
  const draining = byState('draining');
  const usedDraining: NodeId[] = [];
  while (pool.length < replicas && draining.length > 0) {
    const node = draining.shift() as number;
    pool.push(node);
    usedDraining.push((nodes[node] as PlannerNode).id);
  }
  if (usedDraining.length > 0) warnings.push({ code: 'DRAINING_USED', nodes: usedDraining });
  return pool.sort((a, b) => a - b);
}

const byId = (a: NodeId, b: NodeId): number => a - b;

/** The smallest per-zone cap m with Σ min(m, zone size) ≥ replicas. */
function perZoneCap(zoneSizes: readonly number[], replicas: number): number {
  for (let m = 1; ; m++) {
    let room = 0;
    for (const size of zoneSizes) room += Math.min(m, size);
    if (room >= replicas) return m;
    assert(m <= replicas, 'the pool holds at least `replicas` nodes');
  }
}

/**
 * Indexes the cluster for planning. Returns null when no node can host a copy (every node failed
 * or none given).
 */
export function buildTopology(
  unsortedNodes: readonly PlannerNode[],
  replicasAsked: number,
): Topology | null {
  assert(Number.isInteger(replicasAsked), 'replicas must be an integer');
  assert(
    replicasAsked >= 1 && replicasAsked <= REPLICAS_MAX,
    `replicas must be 1..${REPLICAS_MAX}`,
  );
  const nodes = sortNodes(unsortedNodes);
  const warnings: PlanWarning[] = [];
  const poolList = choosePool(nodes, replicasAsked, warnings);
  if (poolList.length === 0) return null;
  const replicas = Math.min(replicasAsked, poolList.length);
  if (replicas < replicasAsked)
    warnings.push({ code: 'REPLICAS_SHORT', replicas: replicasAsked, available: replicas });

  const n = nodes.length;
  const eligible = new Uint8Array(n);
  const zoneOf = new Int32Array(n).fill(-1);
  const rackOf = new Int32Array(n).fill(-1);
  const weight = new Int32Array(n);
  nodes.forEach((node, i) => (weight[i] = node.weight));
  for (const i of poolList) eligible[i] = 1;

  const zoneNames = [...new Set(poolList.map((i) => (nodes[i] as PlannerNode).zone))].sort();
  const zoneIndex = new Map(zoneNames.map((z, i) => [z, i]));
  const rackKeys = new Map<string, number>();
  const racksPerZone = new Int32Array(zoneNames.length);
  const members: number[][] = zoneNames.map(() => []);
  for (const i of poolList) {
    const node = nodes[i] as PlannerNode;
    const zone = zoneIndex.get(node.zone) as number;
    zoneOf[i] = zone;
    (members[zone] as number[]).push(i);
    const key = `${node.zone}\u0000${node.rack ?? `\u0000${node.id}`}`;
    let rack = rackKeys.get(key);
    if (rack === undefined) {
      rack = rackKeys.size;
      rackKeys.set(key, rack);
      racksPerZone[zone] = racksPerZone[zone] + 1;
    }
    rackOf[i] = rack;
  }
  const zoneNodes = members.map((m) => Int32Array.from(m));
  const perZone = perZoneCap(
    zoneNodes.map((z) => z.length),
    replicas,
  );
  if (perZone > 1)
    warnings.push({ code: 'ZONES_SHORT', zones: zoneNames.length, replicas, perZone });
  return {
    nodes,
    indexOf: new Map(nodes.map((node, i) => [node.id, i])),
    eligible,
    pool: Int32Array.from(poolList),
    weight,
    zoneOf,
    zoneNames,
    zoneNodes,
    rackOf,
    racksPerZone,
    replicas,
    perZone,
    warnings,
  };
}
