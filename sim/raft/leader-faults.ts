/**
 * Faults aimed at Raft leaders, on top of the nemesis's random ones: the adversary watches every
 * node's state (a simulator can) and strikes a leader — crashes it, to restart a while later, or
 * cuts it off from everyone — at the moments that matter to Raft's safety argument:
 * - soon after its election, often before its first appends leave, so that its entries stay on it
 *   alone and logs come to disagree;
 * - right after its commit index moves while it is young, before the news spreads, testing that
 *   what a leader commits survives its death;
 * - right after it commits an index at which another node holds an entry of a *higher* term than
 *   its own entry there. Correct Raft reaches this state (the paper's figure 8, (d) after (c)), and
 *   must then be safe if the leader dies; it is exactly where committing an old-term entry by
 *   counting replicas loses it.
 * Every choice is drawn from the adversary's own PRNG stream, so a run stays a function of its seed.
 */
import type { NodeId } from '../../src/core/lib/ids.js';
import { logIndex } from '../../src/core/lib/ids.js';
import type { Prng } from '../../src/core/lib/prng.js';
import type { Message, RaftStatus } from '../../src/core/raft/index.js';
import type { SimHost } from '../host.js';
import type { SimNetwork } from '../network.js';
import type { Simulator } from '../simulator.js';
import type { SimRaftNode } from './node.js';

export interface LeaderFaultOptions {
  /** Chance that a new leader is struck, and the longest it may lead first. */
  readonly onElectionProbability: number;
  readonly onElectionDelayMs: number;
  /** Chance that a young leader is struck after a commit; how young; how soon after. */
  readonly onCommitProbability: number;
  readonly onCommitWindowMs: number;
  readonly onCommitDelayMs: number;
  /** Chance that a leader is struck after a commit that a higher-term entry elsewhere contests. */
  readonly onContestedCommitProbability: number;
  /** How long a struck leader stays crashed or cut off: [min, max) ms. */
  readonly outageMinMs: number;
  readonly outageMaxMs: number;
  /** Chance that a strike is a crash (when the crash budget allows) rather than a cut. */
  readonly crashProbability: number;
}

export const defaultLeaderFaultOptions: LeaderFaultOptions = {
  onElectionProbability: 0.8,
  onElectionDelayMs: 30,
  onCommitProbability: 0.3,
  onCommitWindowMs: 150,
  onCommitDelayMs: 8,
  onContestedCommitProbability: 0.8,
  outageMinMs: 20,
  outageMaxMs: 220,
  crashProbability: 0.3,
};

export class LeaderFaults {
  /** Per term: when its leader was first seen, and its commit index as last seen. */
  private readonly terms = new Map<number, { since: number; commit: number }>();
  strikes = 0;

  constructor(
    private readonly sim: Simulator,
    private readonly prng: Prng,
    private readonly hosts: readonly SimHost[],
    private readonly nodes: ReadonlyMap<NodeId, SimRaftNode>,
    private readonly net: SimNetwork<Message>,
    private readonly maxCrashed: number,
    private readonly untilMs: number,
    private readonly options: LeaderFaultOptions = defaultLeaderFaultOptions,
  ) {}

  /** Fed every node's status after each of its events. */
  observe(status: RaftStatus): void {
    if (status.role !== 'leader' || this.sim.now >= this.untilMs) return;
    const o = this.options;
    const seen = this.terms.get(status.term);
    if (seen === undefined) {
      this.terms.set(status.term, { since: this.sim.now, commit: status.commit });
      if (this.prng.chance(o.onElectionProbability)) {
        // Half the time within 2 ms: before its first appends leave (they wait for an fsync).
        const delay = this.prng.chance(0.5) ? this.prng.int(3) : this.prng.int(o.onElectionDelayMs);
        this.strikeLater(status.id, delay);
      }
      return;
    }
    if (status.commit <= seen.commit) return;
    const from = seen.commit;
    seen.commit = status.commit;
    if (this.contested(status.id, from, status.commit)) {
      if (this.prng.chance(o.onContestedCommitProbability)) {
        this.strikeLater(status.id, this.prng.int(o.onCommitDelayMs + 1));
      }
    } else if (this.sim.now - seen.since <= o.onCommitWindowMs) {
      if (this.prng.chance(o.onCommitProbability)) {
        this.strikeLater(status.id, this.prng.int(o.onCommitDelayMs + 1));
      }
    }
  }

  /** Whether some node holds, in (from, to], an entry of a higher term than the leader's there. */
  private contested(leaderId: NodeId, from: number, to: number): boolean {
    const leader = this.nodes.get(leaderId);
    if (leader === undefined) return false;
    for (const node of this.nodes.values()) {
      if (node.id === leaderId) continue;
      const { firstIndex, lastIndex } = node.raft.status();
      for (let i = Math.max(from + 1, firstIndex); i <= Math.min(to, lastIndex); i++) {
        const mine = leader.raft.termAt(logIndex(i));
        const theirs = node.raft.termAt(logIndex(i));
        if (mine !== null && theirs !== null && theirs > mine) return true;
      }
    }
    return false;
  }

  private strikeLater(id: NodeId, delayMs: number): void {
    this.sim.schedule(delayMs, 'leader fault', () => this.strike(id));
  }

  private strike(id: NodeId): void {
    const host = this.hosts.find((h) => h.id === id);
    if (host === undefined || !host.up || this.sim.now >= this.untilMs) return;
    this.strikes += 1;
    const o = this.options;
    const outage = o.outageMinMs + this.prng.int(o.outageMaxMs - o.outageMinMs);
    const down = this.hosts.filter((h) => !h.up).length;
    if (down < this.maxCrashed && this.prng.chance(o.crashProbability)) {
      this.sim.trace(`leader fault crash ${id}`);
      host.crash();
      this.sim.schedule(outage, 'leader fault restart', () => {
        if (!host.up && this.sim.now < this.untilMs) host.restart();
      });
      return;
    }
    // Cut with one-way clogs rather than a partition, so that the nemesis ending a partition of
    // its own does not end this outage early.
    this.sim.trace(`leader fault isolate ${id}`);
    const others = this.hosts.map((h) => h.id).filter((other) => other !== id);
    for (const other of others) {
      this.net.clog(id, other);
      this.net.clog(other, id);
    }
    this.sim.schedule(outage, 'leader fault heal', () => {
      if (this.sim.now >= this.untilMs) return;
      for (const other of others) {
        this.net.unclog(id, other);
        this.net.unclog(other, id);
      }
    });
  }
}
