/**
 * Which nodes replicate the metadata log (docs/architecture: "Metadata membership"). Every live
 * node holds the log — as a voter or a learner — so every node applies the directory itself. The
 * policy turns the directory's node states into one Raft configuration change at a time:
 *
 * 1. a registered live node outside the configuration is added as a learner;
 * 2. while there are fewer live voters than the target (1, 3 or 5 by the number of nodes not
 *    removed), a live learner that has caught up is promoted;
 * 3. a removed node, or a dead learner, is taken out; a dead voter only once enough live voters
 *    remain without it (a replacement was promoted): otherwise it stays, so that when it restarts
 *    it is a voter again at once — taking it out would shrink the configuration to an even count
 *    in which the next failure loses the quorum. Never the last voter, never the leader itself
 *    (it hands over first);
 * 4. beyond the target, a surplus voter is taken out (the highest id that is not the leader).
 *
 * Members the directory does not list yet (founding voters before they register) count as live.
 *
 * Invariant: every change keeps a live majority able to commit: promotions add caught-up members
 * only, and removals only shrink the set of members a commit waits for.
 */
import type { DirectoryState, NodeRecord } from '../directory/types.js';
import type { NodeId } from '../lib/ids.js';
import type { ConfigChange } from '../raft/config-change.js';
import type { ConfigState } from '../raft/types.js';

export interface MembershipInput {
  readonly config: ConfigState;
  readonly directory: DirectoryState;
  /** The metadata leader's id. */
  readonly leader: NodeId;
  /** Whether a learner's log has caught up with the leader's commit. */
  readonly caughtUp: (node: NodeId) => boolean;
  /** The largest voter count wanted (an odd number). */
  readonly votersMax: number;
}

const live = (n: NodeRecord | undefined): boolean =>
  n !== undefined && (n.state === 'active' || n.state === 'draining');

/** The voter count wanted for `liveCount` live nodes: the largest odd number ≤ both. */
export function targetVoters(liveCount: number, votersMax: number): number {
  const n = Math.max(1, Math.min(liveCount, votersMax));
  return n % 2 === 1 ? n : n - 1;
}

/** The next change to make, or null when the configuration matches the policy. */
export function nextMembershipChange(input: MembershipInput): ConfigChange | null {
  const { config, directory, leader } = input;
  const nodes = new Map(directory.nodes.map((n) => [n.id, n]));
  const inConfig = new Set([...config.voters, ...config.learners]);
  for (const n of directory.nodes) {
    if (live(n) && !inConfig.has(n.id)) return { type: 'add-learner', node: n.id };
  }
  // The target follows the cluster's size, dead nodes included (they are expected back): a death
  // alone never shrinks it. Members the directory does not list yet (founders before they
  // register) count too.
  const unknown = [...inConfig].filter((id) => !nodes.has(id)).length;
  const members = directory.nodes.filter((n) => n.state !== 'removed').length + unknown;
  const target = targetVoters(members, input.votersMax);
  const liveVoters = config.voters.filter((id) => live(nodes.get(id)));
  if (liveVoters.length < target) {
    const learner = config.learners.find((id) => live(nodes.get(id)) && input.caughtUp(id));
    if (learner !== undefined) return { type: 'promote-learner', node: learner };
  }
  for (const id of [...config.voters, ...config.learners]) {
    const node = nodes.get(id);
    if (id === leader || live(node)) continue;
    // A member the directory does not know yet (it registers right after being added) stays.
    if (node === undefined) continue;
    if (config.voters.length === 1 && config.voters[0] === id) continue;
    const voter = config.voters.includes(id);
    if (voter && node.state === 'dead' && liveVoters.length < target) continue;
    return { type: 'remove-node', node: id };
  }
  if (config.voters.length > target) {
    const surplus = [...config.voters].sort((a, b) => b - a).find((id) => id !== leader);
    if (surplus !== undefined) return { type: 'remove-node', node: surplus };
  }
  return null;
}
