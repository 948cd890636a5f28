/**
 * The test conductor of the `bucket` scenario: it plays the metadata log and the conductor for one
 * bucket, issuing random edicts — failover, planned handover, expand, promote, contract — but only
 * those the conductor contract of docs/bucket-replication.md allows:
 *
 * - epochs grow by one per edict; every edict is delivered to every node, repeatedly (the metadata
 *   log's catch-up), except to nodes it is told to cut off from the metadata for a while;
 * - a new leader is chosen among the `complete` members: those known to hold every acknowledged
 *   write. `complete` becomes the voters of a government when its leader reports `activated`, and
 *   shrinks to `complete ∩ voters` with every edict;
 * - a learner is promoted only after the leader of this epoch reported it `caught-up` (kept while
 *   the same node leads);
 * - a planned handover pauses the leader first and waits for `drained` (or a deadline).
 *
 * It knows which hosts are up (the failure detector's verdict, without its delay) and may also
 * depose a healthy leader, as a detector with a false suspicion would.
 */
import { assert } from '../../src/core/lib/assert.js';
import { epoch as toEpoch } from '../../src/core/lib/ids.js';
import type { Prng } from '../../src/core/lib/prng.js';
import {
  voters,
  type BucketId,
  type Epoch,
  type Government,
  type NodeId,
  type ReplicaEvent,
} from '../../src/core/bucket/index.js';
import type { SimHost } from '../host.js';
import type { SimNetwork } from '../network.js';
import type { Simulator } from '../simulator.js';
import type { BucketSimMessage } from './node.js';

export interface ConductorOptions {
  /** Mean time between two random edicts in the safety phase. */
  readonly meanEdictIntervalMs: number;
  /** How often the current edict is sent again to every node. */
  readonly rebroadcastMs: number;
  /** How long a planned handover waits for `drained` before it goes ahead anyway. */
  readonly drainDeadlineMs: number;
  /** Voters the conductor aims for (it never contracts below this). */
  readonly targetVoters: number;
}

export const defaultConductorOptions: ConductorOptions = {
  meanEdictIntervalMs: 120,
  rebroadcastMs: 40,
  drainDeadlineMs: 150,
  targetVoters: 3,
};

const ACTIONS = [
  'failover',
  'depose',
  'handover',
  'expand',
  'promote',
  'contract',
  'isolate',
  'slow',
  'demote',
] as const;

interface Handover {
  readonly epoch: Epoch;
  readonly to: NodeId;
  readonly deadline: number;
}

export class TestConductor {
  government: Government;
  /** Members known to hold every acknowledged write. */
  complete: Set<NodeId>;
  private caughtUp = new Set<NodeId>();
  private handover: Handover | null = null;
  private readonly cutOffUntil = new Map<NodeId, number>();
  private safety = true;
  /** Every government issued, by epoch. */
  readonly history: Government[] = [];
  edicts = 0;
  /** Edicts issued per kind, for the run's notes. */
  readonly counts = new Map<string, number>();

  constructor(
    private readonly sim: Simulator,
    private readonly network: SimNetwork<BucketSimMessage>,
    readonly endpoint: number,
    private readonly hosts: ReadonlyMap<NodeId, SimHost>,
    private readonly prng: Prng,
    bucket: BucketId,
    first: { leader: NodeId; followers: NodeId[] },
    private readonly options: ConductorOptions = defaultConductorOptions,
  ) {
    this.government = {
      bucket,
      epoch: toEpoch(1),
      leader: first.leader,
      followers: first.followers,
      learners: [],
    };
    // A new, empty bucket: every member holds every (no) acknowledged write.
    this.complete = new Set(voters(this.government));
    this.history.push(this.government);
    network.attach(endpoint, (from, m) => {
      if (m.t === 'event') this.onEvent(from as NodeId, m.event);
    });
  }

  private get nodes(): NodeId[] {
    return [...this.hosts.keys()].sort((a, b) => a - b);
  }

  private up(node: NodeId): boolean {
    return this.hosts.get(node)?.up ?? false;
  }

  /** Starts broadcasting, and issuing random edicts until `safetyEndMs`. */
  start(safetyEndMs: number): void {
    const broadcast = (): void => {
      this.broadcast();
      this.sim.schedule(this.options.rebroadcastMs, 'conductor rebroadcast', broadcast);
    };
    broadcast();
    const act = (): void => {
      if (this.sim.now >= safetyEndMs) return;
      this.step();
      this.sim.schedule(1 + this.prng.int(2 * this.options.meanEdictIntervalMs), 'conductor', act);
    };
    this.sim.schedule(this.options.meanEdictIntervalMs, 'conductor', act);
  }

  /** The liveness phase: no more random edicts or cut-offs; only repair what stops progress. */
  enterLiveness(): void {
    this.safety = false;
    this.cutOffUntil.clear();
    const repair = (): void => {
      this.repair();
      this.sim.schedule(100, 'conductor repair', repair);
    };
    repair();
  }

  private broadcast(): void {
    for (const node of this.nodes) {
      if ((this.cutOffUntil.get(node) ?? 0) > this.sim.now) continue;
      this.network.send(this.endpoint, node, { t: 'edict', government: this.government }, 'edict');
    }
  }

  private onEvent(from: NodeId, event: ReplicaEvent): void {
    const g = this.government;
    if (event.epoch !== g.epoch) return;
    switch (event.kind) {
      case 'activated':
        if (from === g.leader) this.complete = new Set(voters(g));
        return;
      case 'caught-up':
        if (from === g.leader && g.learners.includes(event.node)) this.caughtUp.add(event.node);
        return;
      case 'drained':
        if (this.handover?.epoch !== g.epoch || from !== g.leader) return;
        this.count('drained');
        this.finishHandover();
        return;
      case 'dropped':
        return;
    }
  }

  /** Installs the next government (epoch + 1) and tells everyone. */
  private count(kind: string): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
  }

  private issue(next: { leader: NodeId; followers: NodeId[]; learners: NodeId[] }): void {
    const g = this.government;
    const followers = [...new Set(next.followers)]
      .filter((n) => n !== next.leader)
      .sort((a, b) => a - b);
    const learners = [...new Set(next.learners)]
      .filter((n) => n !== next.leader && !followers.includes(n))
      .sort((a, b) => a - b);
    assert(
      this.complete.has(next.leader),
      `edict names ${next.leader}, who may lack acknowledged writes`,
    );
    const government: Government = {
      bucket: g.bucket,
      epoch: toEpoch(g.epoch + 1),
      leader: next.leader,
      followers,
      learners,
    };
    const voterSet = new Set(voters(government));
    this.complete = new Set([...this.complete].filter((n) => voterSet.has(n)));
    this.caughtUp =
      next.leader === g.leader
        ? new Set([...this.caughtUp].filter((n) => learners.includes(n)))
        : new Set();
    this.handover = null;
    this.government = government;
    this.history.push(government);
    this.edicts += 1;
    this.sim.trace(`edict ${government.epoch} leader ${government.leader}`);
    this.broadcast();
  }

  private step(): void {
    if (this.handover !== null) {
      if (this.sim.now >= this.handover.deadline) this.finishHandover();
      return;
    }
    const action = this.prng.pick(ACTIONS);
    switch (action) {
      case 'failover':
        return this.failover(this.prng.chance(0.5));
      case 'depose':
        return this.depose();
      case 'handover':
        return this.startHandover();
      case 'expand':
        return this.expand();
      case 'promote':
        return this.promote();
      case 'contract':
        return this.contract();
      case 'isolate':
        return this.cutOff();
      case 'slow':
        return this.slowFollower();
      case 'demote':
        return this.demote();
    }
  }

  /** The leader is declared failed (really, or by a false suspicion): a complete member usurps. */
  private failover(cutOffOldLeader: boolean): void {
    const g = this.government;
    const old = g.leader as NodeId;
    const candidates = [...this.complete]
      .filter((n) => n !== old && this.up(n))
      .sort((a, b) => a - b);
    if (candidates.length === 0) return;
    const leader = this.prng.pick(candidates);
    const keepOld = this.up(old) && this.prng.chance(0.3);
    // A deposed leader that still runs, cut off from the metadata: it learns of its fall late.
    if (cutOffOldLeader && this.up(old)) {
      this.cutOffUntil.set(old, this.sim.now + 50 + this.prng.int(400));
    }
    this.count(this.up(old) ? 'failover-alive' : 'failover-down');
    this.issue({
      leader,
      followers: [...voters(g).filter((n) => n !== old), ...(keepOld ? [old] : [])],
      learners: [...g.learners],
    });
  }

  /**
   * The worst case for leases: the leader is cut off from its followers and from the metadata,
   * yet still reachable by clients with an old routing table, while a new leader takes over.
   */
  private depose(): void {
    const old = this.government.leader as NodeId;
    if (!this.up(old)) return;
    const ms = 300 + this.prng.int(900);
    for (const other of this.nodes) {
      if (other === old) continue;
      this.network.clog(old, other);
      this.network.clog(other, old);
      this.sim.schedule(ms, 'conductor unclog', () => {
        if (!this.safety) return;
        this.network.unclog(old, other);
        this.network.unclog(other, old);
      });
    }
    this.cutOffUntil.set(old, this.sim.now + ms);
    this.failover(false);
  }

  private startHandover(): void {
    const g = this.government;
    const leader = g.leader as NodeId;
    const candidates = g.followers.filter((n) => this.complete.has(n) && this.up(n));
    if (!this.up(leader) || candidates.length === 0) return;
    const to = this.prng.pick(candidates);
    this.handover = { epoch: g.epoch, to, deadline: this.sim.now + this.options.drainDeadlineMs };
    this.network.send(this.endpoint, leader, { t: 'pause', epoch: g.epoch }, 'pause');
  }

  private finishHandover(): void {
    const h = this.handover;
    const g = this.government;
    this.handover = null;
    if (h === null || h.epoch !== g.epoch || !this.complete.has(h.to)) return;
    this.count('handover');
    this.issue({
      leader: h.to,
      followers: voters(g).filter((n) => n !== h.to),
      learners: [...g.learners],
    });
  }

  private expand(): void {
    const g = this.government;
    const members = new Set([...voters(g), ...g.learners]);
    const spare = this.nodes.filter((n) => !members.has(n));
    if (spare.length === 0 || g.learners.length > 0) return;
    this.count('expand');
    this.issue({
      leader: g.leader as NodeId,
      followers: [...g.followers],
      learners: [this.prng.pick(spare)],
    });
  }

  private promote(): void {
    const g = this.government;
    const ready = g.learners.filter((n) => this.caughtUp.has(n));
    if (ready.length === 0) return;
    const node = this.prng.pick(ready);
    this.count('promote');
    this.issue({
      leader: g.leader as NodeId,
      followers: [...g.followers, node],
      learners: g.learners.filter((n) => n !== node),
    });
  }

  private contract(): void {
    const g = this.government;
    if (g.learners.length > 0 && this.prng.chance(0.3)) {
      const gone = this.prng.pick(g.learners);
      this.count('contract');
      return this.issue({
        leader: g.leader as NodeId,
        followers: [...g.followers],
        learners: g.learners.filter((n) => n !== gone),
      });
    }
    if (voters(g).length <= Math.min(this.options.targetVoters, this.nodes.length) - 1) return;
    if (g.followers.length === 0) return;
    const gone = this.prng.pick(g.followers);
    this.count('contract');
    this.issue({
      leader: g.leader as NodeId,
      followers: g.followers.filter((n) => n !== gone),
      learners: [...g.learners],
    });
  }

  /**
   * Makes the link from the leader to one follower slow for a while: that follower lags, which is
   * when a leader that does not wait for every follower would acknowledge what it lacks.
   */
  private slowFollower(): void {
    const g = this.government;
    if (g.leader === null || g.followers.length === 0) return;
    const leader = g.leader;
    const follower = this.prng.pick(g.followers);
    const slow = 20 + this.prng.int(150);
    this.network.setLinkLatency(leader, follower, {
      minMs: slow,
      maxMs: slow * 2,
      tailProbability: 0,
      tailMaxMs: 0,
    });
    this.sim.schedule(200 + this.prng.int(800), 'conductor unslow', () => {
      this.network.setLinkLatency(leader, follower, null);
    });
  }

  /** A follower becomes a learner: it keeps its log, which may hold a stale tail. */
  private demote(): void {
    const g = this.government;
    if (g.followers.length === 0 || g.learners.length > 0) return;
    const node = this.prng.pick(g.followers);
    this.count('demote');
    this.issue({
      leader: g.leader as NodeId,
      followers: g.followers.filter((n) => n !== node),
      learners: [node],
    });
  }

  /** Cuts a node off from the metadata log for a while (it misses edicts). */
  private cutOff(): void {
    const node = this.prng.pick(this.nodes);
    this.cutOffUntil.set(node, this.sim.now + 50 + this.prng.int(400));
  }

  /** Liveness: a government whose leader is down or that lacks voters is replaced. */
  private repair(): void {
    if (this.handover !== null) {
      if (this.sim.now >= this.handover.deadline) this.finishHandover();
      return;
    }
    const g = this.government;
    if (!this.up(g.leader as NodeId)) return this.failover(false);
    if (voters(g).length < Math.min(this.options.targetVoters, this.nodes.length)) {
      if (g.learners.some((n) => this.caughtUp.has(n))) return this.promote();
      if (g.learners.length === 0) return this.expand();
    }
    assert(!this.safety, 'repair runs in the liveness phase');
  }
}
