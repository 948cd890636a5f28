/**
 * The duties of the metadata leader (DESIGN.md 4.4): it alone proposes to the metadata log. It
 * runs the failure detector on the nodes' heartbeats, turns bucket leaders' reports into
 * `activated`/`caught-up` commands, registers joining nodes, allocates client-session ids, keeps
 * the metadata log's own membership in line with the directory, and runs the conductor — one round
 * at a time: a round's commands must apply (or time out) before the next round is computed, so a
 * round always sees the effect of the previous one.
 *
 * All of it is rebuilt from scratch when a node becomes leader: what the old leader was doing is
 * either in the log (and the directory shows it) or lost, in which case the next round proposes it
 * again. Every command states its expectations, so repeats are no-ops.
 */
import { conduct, type ConductorRound } from '../conductor/conductor.js';
import { FailureDetector } from '../conductor/failure-detector.js';
import { encodeCommand, type Command } from '../directory/commands.js';
import type { Directory } from '../directory/directory.js';
import { voters } from '../directory/types.js';
import type { LogIndex, NodeId } from '../lib/ids.js';
import type { Raft } from '../raft/raft.js';
import { nextMembershipChange } from './membership.js';
import type { NodeProfile, Report } from './messages.js';
import type { NodeOptions } from './options.js';

/** What the leader's duties need of the node around them. */
export interface MetaContext {
  readonly id: NodeId;
  readonly raft: Raft;
  readonly directory: () => Directory;
  readonly options: NodeOptions;
  /** Bootstrap parameters for a founding node, null otherwise. */
  readonly founding: { readonly bucketCount: number; readonly replicas: number } | null;
  /** Sends `pause` to the leader of a bucket (locally when it is this node). */
  readonly pause: (leader: NodeId, bucket: number, epoch: number) => void;
}

/** A proposal whose outcome someone waits for. */
export type Awaited =
  | { readonly kind: 'sessions'; readonly waiters: readonly number[] }
  | { readonly kind: 'drain'; readonly waiters: readonly number[] };

/** Entries a learner may lag the commit index by and still be promoted. */
const CAUGHT_UP_SLACK = 16;

const live = (state: string | undefined): boolean => state === 'active' || state === 'draining';

export class MetaDuties {
  readonly detector: FailureDetector;
  private now = 0;
  private roundIndex: LogIndex | null = null;
  private roundStarted = 0;
  private sinceRound = 0;
  /** Pauses sent, by `bucket/epoch`, with the tick they were sent at. */
  private readonly paused = new Map<string, number>();
  private readonly drained = new Set<string>();
  /** Registrations proposed, by node: incarnation and tick, so heartbeats do not re-propose. */
  private readonly joins = new Map<NodeId, { incarnation: number; at: number }>();
  /** Reports proposed recently, so repeated reports do not flood the log. */
  private readonly reported = new Map<string, number>();
  private sessionWaiters: number[] = [];
  /** Proposals someone waits for, by log index, with the term they were proposed in. */
  readonly awaited = new Map<LogIndex, { term: number; what: Awaited }>();
  lastRound: ConductorRound | null = null;

  constructor(private readonly ctx: MetaContext) {
    this.detector = new FailureDetector(ctx.options.detector);
    const nodes = ctx
      .directory()
      .state()
      .nodes.filter((n) => live(n.state));
    this.detector.reset(nodes.map((n) => ({ id: n.id, incarnation: n.incarnation })));
  }

  tick(): void {
    this.now += 1;
    this.detector.tick();
    if (this.sessionWaiters.length > 0) this.proposeSessions();
    this.sinceRound += 1;
    if (this.sinceRound >= this.ctx.options.roundTicks) this.maybeRound();
  }

  heartbeat(from: NodeId, incarnation: number): void {
    this.detector.heartbeat(from, incarnation);
  }

  join(id: NodeId, incarnation: number, profile: NodeProfile): void {
    const existing = this.ctx.directory().node(id);
    if (existing?.state === 'removed') return;
    if (existing !== undefined && existing.incarnation >= incarnation) {
      if (existing.state !== 'dead') return;
      // Declared dead at this incarnation, and it may not know (a node outside the metadata log's
      // configuration hears nothing): register it at the next one; it adopts it once applied.
      incarnation = existing.incarnation + 1;
    }
    const last = this.joins.get(id);
    const retry = this.ctx.options.joinRetryTicks * 2;
    if (last !== undefined && last.incarnation === incarnation && this.now - last.at < retry)
      return;
    this.joins.set(id, { incarnation, at: this.now });
    this.propose({ kind: 'register', id, incarnation, ...profile });
  }

  report(from: NodeId, r: Report): void {
    if (r.kind === 'drained') {
      this.drained.add(`${r.bucket}/${r.epoch}`);
      return;
    }
    const g = this.ctx.directory().government(r.bucket);
    if (g === undefined || g.epoch !== r.epoch || g.leader !== from) return;
    const key =
      r.kind === 'activated' ? `a${r.bucket}/${r.epoch}` : `c${r.bucket}/${r.epoch}/${r.node}`;
    const at = this.reported.get(key);
    if (at !== undefined && this.now - at < this.ctx.options.roundTimeoutTicks) return;
    if (r.kind === 'activated') {
      if (g.complete.length === voters(g).length) return;
      this.reported.set(key, this.now);
      this.propose({ kind: 'activated', bucket: r.bucket, epoch: g.epoch, reporter: from });
    } else {
      if (!g.learners.includes(r.node) || g.caughtUp.includes(r.node)) return;
      this.reported.set(key, this.now);
      this.propose({
        kind: 'caught-up',
        bucket: r.bucket,
        epoch: g.epoch,
        node: r.node,
        reporter: from,
      });
    }
  }

  /** A node shutting down asks to be declared dead at once, so its buckets move without delay. */
  leaving(id: NodeId, incarnation: number): void {
    const node = this.ctx.directory().node(id);
    if (node === undefined || !live(node.state) || node.incarnation > incarnation) return;
    this.propose({ kind: 'mark-dead', id, incarnation });
  }

  /** Queues a session-id allocation for `waiter`; answered when the command applies. */
  openSession(waiter: number): void {
    this.sessionWaiters.push(waiter);
  }

  /** Proposes `drain`; false when the node is not a live member. */
  drain(node: NodeId, waiter: number): boolean {
    if (!live(this.ctx.directory().node(node)?.state)) return false;
    const index = this.propose({ kind: 'drain', id: node });
    if (index !== null) this.await(index, { kind: 'drain', waiters: [waiter] });
    return index !== null;
  }

  /** A command of ours applied: bookkeeping for the detector. */
  onApplied(c: Command): void {
    if (c.kind === 'register') this.detector.watch(c.id, c.incarnation);
    if (c.kind === 'mark-dead') {
      this.detector.forget(c.id);
      this.detector.recordDeath(c.id);
    }
    if (c.kind === 'remove') this.detector.forget(c.id);
  }

  /** Everyone still waiting, for a leader that steps down. */
  abandon(): number[] {
    const waiters = [...this.sessionWaiters];
    for (const { what } of this.awaited.values()) waiters.push(...what.waiters);
    this.sessionWaiters = [];
    this.awaited.clear();
    return waiters;
  }

  private proposeSessions(): void {
    const waiters = this.sessionWaiters.slice(0, 4096);
    const index = this.propose({ kind: 'open-sessions', count: waiters.length });
    if (index === null) return;
    this.sessionWaiters = this.sessionWaiters.slice(waiters.length);
    this.await(index, { kind: 'sessions', waiters });
  }

  private await(index: LogIndex, what: Awaited): void {
    this.awaited.set(index, { term: this.ctx.raft.status().term, what });
  }

  private propose(c: Command): LogIndex | null {
    const result = this.ctx.raft.propose(encodeCommand(c));
    return result.ok ? result.index : null;
  }

  private maybeRound(): void {
    const raft = this.ctx.raft;
    const status = raft.status();
    if (this.roundIndex !== null) {
      const done = status.applied >= this.roundIndex;
      if (!done && this.now - this.roundStarted < this.ctx.options.roundTimeoutTicks) return;
      this.roundIndex = null;
    }
    this.sinceRound = 0;
    const directory = this.ctx.directory();
    const state = directory.state();
    if (state.bucketCount === 0) {
      if (this.ctx.founding !== null) this.propose({ kind: 'bootstrap', ...this.ctx.founding });
      return;
    }
    const change = nextMembershipChange({
      config: status.config,
      directory: state,
      leader: this.ctx.id,
      votersMax: this.ctx.options.metaVotersMax,
      // Within a few entries of the commit index: under steady traffic a learner is rarely level
      // with it at the instant of a round.
      caughtUp: (node) => (raft.progressOf(node)?.match ?? 0) + CAUGHT_UP_SLACK >= status.commit,
    });
    if (change !== null) raft.proposeConfigChange(change);
    this.handOverIfLeaving(state, status);
    // A new cluster's first governments wait (bounded) for `replicas` live nodes, so that every
    // bucket starts at full strength instead of on the first node and then being copied around.
    const liveNodes = state.nodes.filter((n) => live(n.state)).length;
    const uncreated = state.buckets.some((g) => g.epoch === 0);
    if (uncreated && liveNodes < state.replicas && this.now < this.ctx.options.createWaitTicks) {
      return;
    }

    const byId = new Map(state.nodes.map((n) => [n.id, n]));
    const dead = this.detector.verdicts().dead.filter((d) => {
      const n = byId.get(d.id);
      return n !== undefined && live(n.state) && d.incarnation >= n.incarnation;
    });
    const round = conduct(
      {
        directory: state,
        dead,
        damped: (id) => this.detector.isDamped(id),
        drained: (bucket, epoch) => this.isDrained(bucket, epoch),
      },
      this.ctx.options.conductor,
    );
    this.lastRound = round;
    let last: LogIndex | null = null;
    for (const c of round.commands) {
      const index = this.propose(c);
      if (index === null) break;
      last = index;
    }
    if (last !== null) {
      this.roundIndex = last;
      this.roundStarted = this.now;
    }
    for (const p of round.pauses) {
      const key = `${p.bucket}/${p.epoch}`;
      if (this.paused.has(key)) continue;
      this.paused.set(key, this.now);
      this.ctx.pause(p.leader, p.bucket, p.epoch);
    }
    this.forgetOld(state.buckets.map((g) => g.epoch));
  }

  /**
   * A metadata leader whose own node is draining, removed or declared dead hands the log to a
   * live voter that has caught up: the membership policy never takes out the leader itself, so
   * without this a drained node would go on deciding the directory from outside the cluster.
   */
  private handOverIfLeaving(
    state: ReturnType<Directory['state']>,
    status: ReturnType<Raft['status']>,
  ): void {
    const self = state.nodes.find((n) => n.id === this.ctx.id);
    if (self === undefined || self.state === 'active') return;
    const byId = new Map(state.nodes.map((n) => [n.id, n]));
    const successor = status.config.voters.find(
      (id) =>
        id !== this.ctx.id &&
        byId.get(id)?.state === 'active' &&
        (this.ctx.raft.progressOf(id)?.match ?? 0) >= status.commit,
    );
    if (successor !== undefined) this.ctx.raft.transferLeadership(successor);
  }

  private isDrained(bucket: number, epoch: number): boolean {
    const key = `${bucket}/${epoch}`;
    if (this.drained.has(key)) return true;
    const at = this.paused.get(key);
    return at !== undefined && this.now - at >= this.ctx.options.drainWaitTicks;
  }

  /** Drops pause and drain records of epochs that are over. */
  private forgetOld(epochs: readonly number[]): void {
    for (const set of [this.paused, this.drained]) {
      for (const key of set.keys()) {
        const [bucket, epoch] = key.split('/').map(Number) as [number, number];
        if ((epochs[bucket] ?? 0) > epoch) set.delete(key);
      }
    }
    for (const [key, at] of this.reported) {
      if (this.now - at >= this.ctx.options.roundTimeoutTicks) this.reported.delete(key);
    }
    for (const [id, j] of this.joins) {
      if (this.now - j.at >= this.ctx.options.roundTimeoutTicks) this.joins.delete(id);
    }
  }
}
