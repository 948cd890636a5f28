/**
 * The `raft` scenario's operators: a membership driver that keeps changing the configuration while
 * faults rage, and the liveness probe that proposes fresh entries once everything is healed.
 */
import type { NodeId } from '../../src/core/lib/ids.js';
import type { Prng } from '../../src/core/lib/prng.js';
import type { ConfigChange } from '../../src/core/raft/index.js';
import type { Simulator } from '../simulator.js';
import type { RaftSimCluster } from './cluster.js';

export interface MembershipStats {
  /** Config changes the leader accepted, and those it refused (NOT_READY, CHANGE_PENDING, …). */
  accepted: number;
  refused: number;
  transfers: number;
}

/** How long a removed node stays out before it may be added again. */
const REJOIN_AFTER_MS = 1000;

type Action = ConfigChange | { readonly type: 'transfer'; readonly node: NodeId };

/** The changes that make sense for `cluster`'s current leader and configuration. */
function candidates(
  cluster: RaftSimCluster,
  leaderId: NodeId,
  rejoinable: (node: NodeId) => boolean,
): Action[] {
  const leader = cluster.nodes.get(leaderId);
  if (leader === undefined) return [];
  const { voters, learners } = leader.raft.status().config;
  const actions: Action[] = [];
  for (const node of cluster.ids()) {
    if (!voters.includes(node) && !learners.includes(node) && rejoinable(node)) {
      actions.push({ type: 'add-learner', node });
    }
  }
  for (const learner of learners) {
    actions.push({ type: 'promote-learner', node: learner });
    actions.push({ type: 'remove-node', node: learner });
  }
  // Voters are removed (the leader too) while more than three remain.
  if (voters.length > 3) for (const v of voters) actions.push({ type: 'remove-node', node: v });
  for (const v of voters) if (v !== leaderId) actions.push({ type: 'transfer', node: v });
  return actions;
}

/**
 * Every `intervalMs` or so until `untilMs`, asks the current leader for one change: add a node
 * (a spare, or one removed a while ago, with whatever stale log it kept) as a learner, promote or
 * remove a learner, remove a voter, or transfer leadership. A removed node keeps running, cut off
 * from the log, and must not disturb the cluster.
 */
export function startMembershipDriver(
  sim: Simulator,
  prng: Prng,
  cluster: RaftSimCluster,
  intervalMs: number,
  untilMs: number,
): MembershipStats {
  const stats: MembershipStats = { accepted: 0, refused: 0, transfers: 0 };
  /** When each node was last removed; it may rejoin after REJOIN_AFTER_MS. */
  const removedAt = new Map<NodeId, number>();
  const rejoinable = (node: NodeId): boolean =>
    sim.now - (removedAt.get(node) ?? -Infinity) > REJOIN_AFTER_MS;
  const step = (): void => {
    if (sim.now >= untilMs) return;
    sim.schedule(intervalMs / 2 + prng.int(intervalMs), 'membership', step);
    const leader = cluster.leader();
    if (leader === null) return;
    const actions = candidates(cluster, leader.id, rejoinable);
    const changes = actions.filter((a) => a.type !== 'transfer');
    // Mostly configuration changes; transfers (always possible) a quarter of the time.
    const pool = changes.length > 0 && prng.chance(0.75) ? changes : actions;
    if (pool.length === 0) return;
    const action = prng.pick(pool);
    sim.trace(`membership ${action.type} ${action.node} on ${leader.id}`);
    if (action.type === 'transfer') {
      if (leader.raft.transferLeadership(action.node).ok) stats.transfers += 1;
    } else if (leader.raft.proposeConfigChange(action).ok) {
      stats.accepted += 1;
      if (action.type === 'remove-node') removedAt.set(action.node, sim.now);
    } else {
      stats.refused += 1;
    }
    leader.kick();
  };
  sim.schedule(intervalMs, 'membership', step);
  return stats;
}

/** From now until `untilMs`, proposes a probe entry on whichever node leads, every `intervalMs`. */
export function startProbes(
  sim: Simulator,
  cluster: RaftSimCluster,
  intervalMs: number,
  untilMs: number,
): void {
  cluster.probesFrom = sim.now;
  let n = 0;
  const step = (): void => {
    if (sim.now >= untilMs) return;
    cluster.leader()?.proposeProbe(++n);
    sim.schedule(intervalMs, 'probe', step);
  };
  step();
}
