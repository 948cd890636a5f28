/**
 * The replica placer's state: an {@link Assignment}, each node's quota, and the nodes below quota
 * ("deficit" nodes) kept in one max-heap per zone, with the zones themselves in a max-heap by
 * their total deficit. Choosing where a copy goes is then a few heap pops, never a scan of the
 * cluster: the zone with the largest deficit that may take the bucket, then the node of that zone
 * with the largest deficit that does not hold it.
 *
 * Taking the zone with the largest remaining deficit first is what guarantees, when placing whole
 * buckets from nothing, that no bucket ever finds only zones it already uses (the zones' quotas are
 * at most one copy per bucket each, and largest-first keeps every zone's remaining deficit no
 * larger than the buckets left to place). When earlier copies are kept, that guarantee is lost and
 * the augmenting paths of repair.ts take over.
 *
 * With a fan-out limit the placer also tracks, for every node, how many buckets it shares with
 * each peer, and prefers a node already peered with the bucket's members.
 */
import { assert } from '../lib/assert.js';
import { Assignment } from './assignment.js';
import { IndexedHeap } from './heap.js';
import type { Topology } from './topology.js';

/** How many deficit nodes of a zone are looked at to find one in a rack the bucket does not use. */
const RACK_PROBE_MAX = 8;

export class Placer {
  readonly asg: Assignment;
  /** Zone deficit: the sum over the zone's nodes of max(0, quota - count). */
  readonly zoneDeficit: Float64Array;
  /** Sum of the quotas of each zone's nodes; at most perZone × buckets. */
  private readonly zoneQuota: Float64Array;
  private readonly positive: Int32Array;
  private readonly localIndex: Int32Array;
  private readonly nodeHeaps: IndexedHeap[];
  private readonly zoneHeap: IndexedHeap;
  /** Scratch lists of heap members popped while searching, pushed back before returning. */
  private readonly poppedZones: number[] = [];
  private readonly poppedNodes: number[] = [];
  /** Per node: peer → number of shared buckets. Null without a fan-out limit. */
  readonly peers: Map<number, number>[] | null;

  constructor(
    readonly topo: Topology,
    readonly buckets: number,
    /** Replica quota per node; only {@link Placer.tradeQuota} changes it. */
    readonly quota: Int32Array,
    /** ⌊t⌋ and ⌈t⌉ of each node's replica share: the range its quota stays in. */
    readonly quotaLow: Int32Array,
    readonly quotaHigh: Int32Array,
    originalStart: Int32Array,
    originalNodes: Int32Array,
    readonly fanOutMax: number | undefined,
  ) {
    const n = topo.nodes.length;
    this.asg = new Assignment(buckets, topo.replicas, n, originalStart, originalNodes);
    this.positive = new Int32Array(n);
    this.localIndex = new Int32Array(n).fill(-1);
    this.zoneDeficit = new Float64Array(topo.zoneNodes.length);
    this.zoneQuota = new Float64Array(topo.zoneNodes.length);
    for (const node of topo.pool) this.zoneQuota[topo.zoneOf[node]] += quota[node];
    const count = this.asg.count;
    this.nodeHeaps = topo.zoneNodes.map((members) => {
      members.forEach((node, k) => (this.localIndex[node] = k));
      return new IndexedHeap(members.length, (a, b) => {
        const na = members[a];
        const nb = members[b];
        const da = quota[na] - count[na];
        const db = quota[nb] - count[nb];
        return da !== db ? da > db : na < nb;
      });
    });
    const zd = this.zoneDeficit;
    this.zoneHeap = new IndexedHeap(topo.zoneNodes.length, (a, b) =>
      zd[a] !== zd[b] ? zd[a] > zd[b] : a < b,
    );
    this.peers = fanOutMax === undefined ? null : Array.from({ length: n }, () => new Map());
    for (const node of topo.pool) this.touch(node);
  }

  deficit(node: number): number {
    return this.quota[node] - this.asg.count[node];
  }

  /** Whether `to` may take one unit of quota from `from` (see {@link Placer.tradeQuota}). */
  canTrade(from: number, to: number): boolean {
    if (from === to || this.quota[from] <= this.quotaLow[from]) return false;
    if (this.quota[to] >= this.quotaHigh[to]) return false;
    const zone = this.topo.zoneOf[to];
    return (
      zone === this.topo.zoneOf[from] || this.zoneQuota[zone] < this.topo.perZone * this.buckets
    );
  }

  /**
   * Moves one unit of quota from `from` to `to`, so that every quota stays in [⌊t⌋, ⌈t⌉] and no
   * zone goes over its cap: which nodes round their share up is a choice, and this revisits it
   * when the first choice makes a copy move that need not.
   */
  tradeQuota(from: number, to: number): void {
    assert(this.canTrade(from, to), 'a quota trade keeps quotas in range and zones under cap');
    this.quota[from] -= 1;
    this.quota[to] += 1;
    this.zoneQuota[this.topo.zoneOf[from]] -= 1;
    this.zoneQuota[this.topo.zoneOf[to]] += 1;
    this.touch(from);
    this.touch(to);
  }

  /** Puts a copy of `bucket` on `node`. */
  place(bucket: number, node: number): void {
    assert(this.topo.eligible[node] === 1, `node ${node} is not in the pool`);
    if (this.peers !== null) this.link(bucket, node, 1);
    this.asg.add(bucket, node);
    this.touch(node);
  }

  /** Takes the copy of `bucket` off `node`. */
  unplace(bucket: number, node: number): void {
    this.asg.remove(bucket, node);
    if (this.peers !== null) this.link(bucket, node, -1);
    this.touch(node);
  }

  /** Moves the copy of `bucket` from `from` to `to`. */
  move(bucket: number, from: number, to: number): void {
    this.unplace(bucket, from);
    this.place(bucket, to);
  }

  /**
   * Whether `node` may take a copy of `bucket` by the zone rule, once `leaving` (or -1) has given
   * its copy up: the zone holds fewer than perZone copies, or `leaving` is in the same zone.
   */
  zoneAllows(bucket: number, node: number, leaving: number): boolean {
    const zone = this.topo.zoneOf[node];
    if (leaving !== -1 && this.topo.zoneOf[leaving] === zone) return true;
    return this.asg.countIn(bucket, this.topo.zoneOf, zone) < this.topo.perZone;
  }

  /**
   * The best deficit node for a copy of `bucket`, with `leaving` (or -1) giving its copy up; -1
   * when no deficit node may take it.
   */
  pickTarget(bucket: number, leaving: number): number {
    const popped = this.poppedZones;
    popped.length = 0;
    let found = -1;
    while (found === -1 && this.zoneHeap.size > 0) {
      const zone = this.zoneHeap.pop();
      popped.push(zone);
      const allowed =
        (leaving !== -1 && this.topo.zoneOf[leaving] === zone) ||
        this.asg.countIn(bucket, this.topo.zoneOf, zone) < this.topo.perZone;
      if (allowed) found = this.pickInZone(bucket, zone, leaving);
    }
    for (const zone of popped) this.zoneHeap.push(zone);
    if (this.peers === null || found === -1 || !this.hasKeptMember(bucket, leaving)) return found;
    // With a fan-out limit: a node already peered with more of the members wins over the
    // balance-first choice, which is kept on ties (it keeps the zones' deficits level).
    const linked = this.pickPeered(bucket, leaving);
    if (linked === -1) return found;
    return this.newLinks(bucket, linked, leaving) < this.newLinks(bucket, found, leaving)
      ? linked
      : found;
  }

  /**
   * Whether `bucket` has a member other than `leaving` that the current map already had. A bucket
   * placed from nothing follows the balance-first order, which by itself lays buckets out in
   * near-copysets (each node's buckets share the same few peers); the peer preference is for
   * buckets that already have a place.
   */
  private hasKeptMember(bucket: number, leaving: number): boolean {
    const base = bucket * this.asg.width;
    for (let s = base; s < base + this.asg.width; s++) {
      const m = this.asg.slots[s];
      if (m !== -1 && m !== leaving && this.asg.fresh[s] === 0) return true;
    }
    return false;
  }

  /** Peer links that a copy of `bucket` on `node` would add (`leaving` giving its copy up). */
  newLinks(bucket: number, node: number, leaving: number): number {
    if (this.peers === null) return 0;
    const links = this.peers[node] as Map<number, number>;
    let fresh = 0;
    for (const m of this.asg.members(bucket)) if (m !== leaving && !links.has(m)) fresh++;
    return fresh;
  }

  /**
   * The best deficit node of `zone` that does not hold `bucket`, preferring a rack the bucket does
   * not use; -1 if none.
   */
  pickInZone(bucket: number, zone: number, leaving: number): number {
    const heap = this.nodeHeaps[zone] as IndexedHeap;
    const members = this.topo.zoneNodes[zone] as Int32Array;
    const wantRack =
      this.topo.perZone > 1 &&
      this.topo.racksPerZone[zone] > 1 &&
      this.asg.countIn(bucket, this.topo.zoneOf, zone) > (leaving !== -1 ? 1 : 0);
    const popped = this.poppedNodes;
    popped.length = 0;
    let first = -1;
    let best = -1;
    while (heap.size > 0 && best === -1 && popped.length < (wantRack ? RACK_PROBE_MAX : Infinity)) {
      const local = heap.pop();
      popped.push(local);
      const node = members[local];
      if (this.asg.holds(bucket, node)) continue;
      if (first === -1) first = node;
      if (!wantRack || !this.rackUsed(bucket, this.topo.rackOf[node], leaving)) best = node;
    }
    for (const local of popped) heap.push(local);
    return best !== -1 ? best : first;
  }

  /** Whether a member of `bucket` other than `leaving` sits in `rack`. */
  rackUsed(bucket: number, rack: number, leaving: number): boolean {
    for (const m of this.asg.members(bucket))
      if (m !== leaving && this.topo.rackOf[m] === rack) return true;
    return false;
  }

  /**
   * With a fan-out limit: the deficit node already peered with the most members of `bucket`
   * (fewest new peer links), or -1 when no peer of a member is a valid target.
   */
  private pickPeered(bucket: number, leaving: number): number {
    const peers = this.peers as Map<number, number>[];
    const members = this.asg.members(bucket).filter((m) => m !== leaving);
    let best = -1;
    let bestNew = members.length;
    for (const member of members) {
      for (const candidate of (peers[member] as Map<number, number>).keys()) {
        if (candidate === leaving || this.deficit(candidate) <= 0) continue;
        if (this.asg.holds(bucket, candidate) || !this.zoneAllows(bucket, candidate, leaving))
          continue;
        const links = peers[candidate] as Map<number, number>;
        let fresh = 0;
        for (const m of members) if (!links.has(m)) fresh++;
        if (
          fresh < bestNew ||
          (fresh === bestNew &&
            best !== -1 &&
            (this.deficit(candidate) > this.deficit(best) ||
              (this.deficit(candidate) === this.deficit(best) && candidate < best)))
        ) {
          best = candidate;
          bestNew = fresh;
        }
      }
    }
    return best;
  }

  private link(bucket: number, node: number, delta: 1 | -1): void {
    const peers = this.peers as Map<number, number>[];
    for (const other of this.asg.members(bucket)) {
      if (other === node) continue;
      bump(peers[node] as Map<number, number>, other, delta);
      bump(peers[other] as Map<number, number>, node, delta);
    }
  }

  /** Re-files `node` in its zone's heap after its count changed. */
  private touch(node: number): void {
    const zone = this.topo.zoneOf[node];
    const heap = this.nodeHeaps[zone] as IndexedHeap;
    const local = this.localIndex[node];
    const d = this.deficit(node);
    const positive = d > 0 ? d : 0;
    this.zoneDeficit[zone] = this.zoneDeficit[zone] + positive - this.positive[node];
    this.positive[node] = positive;
    if (positive > 0) {
      if (heap.has(local)) heap.update(local);
      else heap.push(local);
    } else heap.remove(local);
    if (this.zoneDeficit[zone] > 0) {
      if (this.zoneHeap.has(zone)) this.zoneHeap.update(zone);
      else this.zoneHeap.push(zone);
    } else this.zoneHeap.remove(zone);
  }
}

function bump(map: Map<number, number>, key: number, delta: 1 | -1): void {
  const next = (map.get(key) ?? 0) + delta;
  if (next === 0) map.delete(key);
  else map.set(key, next);
}
