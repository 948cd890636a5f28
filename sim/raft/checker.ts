/**
 * The `raft` scenario's structural checkers, fed by every node as it runs (Raft paper, figure 3):
 * - election safety: at most one leader per term;
 * - leader completeness: a new leader of term T holds every entry known committed before T
 *   (an entry applied by a node whose term was then K < T was committed in a term ≤ K);
 * - state-machine safety: every node applies the same entry at each index, in index order;
 * - log matching (`checkLogs`): two logs that hold an entry with the same index and term are
 *   identical up to it;
 * - commit durability (`onLeaderCommit`): when a leader's commit index moves to c, every node that
 *   could win an election now — a voter of its own configuration whose log is at least as
 *   up-to-date as the logs of a majority of its configuration's live voters — holds the leader's
 *   entry at c. This is the step of Raft's safety proof (5.4.3) that the commit rule exists for,
 *   checked at the moment of commitment instead of waiting for an unlucky election to expose it.
 * Each property reports its first violation only, so one bug does not bury the output.
 */
import type { LogIndex, NodeId, Term } from '../../src/core/lib/ids.js';
import { logIndex } from '../../src/core/lib/ids.js';
import type { Entry, Raft, RaftStatus } from '../../src/core/raft/index.js';

interface Known {
  readonly term: Term;
  readonly data: string;
  readonly node: NodeId;
  /** The smallest term an applier was in when it applied this entry. */
  knownAtTerm: Term;
}

const decoder = new TextDecoder();
const describeData = (data: Uint8Array): string => `${data.length}:${decoder.decode(data)}`;

export class RaftChecker {
  private readonly leaders = new Map<Term, NodeId>();
  private readonly committed: (Known | undefined)[] = [];
  private readonly lastApplied = new Map<NodeId, LogIndex>();
  private readonly reported = new Set<string>();
  /** The commit index of each term's leader when last seen. */
  private readonly leaderCommits = new Map<Term, LogIndex>();
  readonly violations: string[] = [];
  /** Leaderships seen (term, node), for notes. */
  elections = 0;

  private violation(property: string, detail: string): void {
    if (this.reported.has(property)) return;
    this.reported.add(property);
    this.violations.push(`${property}: ${detail}`);
  }

  /** Called whenever `node` is seen leading `term`. */
  onLeader(node: NodeId, term: Term, raft: Raft): void {
    const known = this.leaders.get(term);
    if (known === node) return;
    if (known !== undefined) {
      this.violation('election safety', `nodes ${known} and ${node} both lead term ${term}`);
      return;
    }
    this.leaders.set(term, node);
    this.elections += 1;
    const first = raft.status().firstIndex;
    for (let i = first; i < this.committed.length; i++) {
      const entry = this.committed[i];
      if (entry === undefined || entry.knownAtTerm >= term) continue;
      const held = raft.termAt(logIndex(i));
      if (held !== entry.term) {
        this.violation(
          'leader completeness',
          `leader ${node} of term ${term} has term ${held} at index ${i}, committed with term ` +
            `${entry.term} (applied by node ${entry.node} in term ${entry.knownAtTerm})`,
        );
        return;
      }
    }
  }

  /** Called when `node` restores a snapshot covering everything up to `index`. */
  onRestore(node: NodeId, index: LogIndex): void {
    this.lastApplied.set(node, index);
  }

  /** Called when `node`, in term `nodeTerm`, applies `entry`. */
  onApply(node: NodeId, entry: Entry, nodeTerm: Term): void {
    const last = this.lastApplied.get(node) ?? logIndex(0);
    if (entry.index !== last + 1) {
      this.violation(
        'state machine safety',
        `node ${node} applied index ${entry.index} after ${last}`,
      );
    }
    this.lastApplied.set(node, entry.index);
    const data = describeData(entry.data);
    const known = this.committed[entry.index];
    if (known === undefined) {
      this.committed[entry.index] = { term: entry.term, data, node, knownAtTerm: nodeTerm };
      return;
    }
    if (known.term !== entry.term || known.data !== data) {
      this.violation(
        'state machine safety',
        `at index ${entry.index} node ${known.node} applied term ${known.term} ${known.data}, ` +
          `node ${node} applied term ${entry.term} ${data}`,
      );
    }
    if (nodeTerm < known.knownAtTerm) known.knownAtTerm = nodeTerm;
  }

  /** Fed a leader's status after each of its events; checks each new commit index. */
  observeLeader(status: RaftStatus, nodes: readonly Raft[]): void {
    const seen = this.leaderCommits.get(status.term);
    if (seen !== undefined && status.commit <= seen) return;
    this.leaderCommits.set(status.term, status.commit);
    const leader = nodes.find((raft) => raft.id === status.id);
    if (seen !== undefined && leader !== undefined) this.onLeaderCommit(leader, nodes);
  }

  /** Checks commit durability for `leader`'s commit index; see the module comment. */
  private onLeaderCommit(leader: Raft, nodes: readonly Raft[]): void {
    const { commit } = leader.status();
    const term = leader.termAt(commit);
    if (term === null) return;
    const logs = nodes.map((raft) => {
      const s = raft.status();
      return { raft, s, lastTerm: raft.termAt(s.lastIndex) ?? 0 };
    });
    const upToDate = (a: (typeof logs)[number], b: (typeof logs)[number]): boolean =>
      a.lastTerm > b.lastTerm || (a.lastTerm === b.lastTerm && a.s.lastIndex >= b.s.lastIndex);
    for (const c of logs) {
      if (!c.s.config.voters.includes(c.s.id)) continue;
      if (commit < c.s.firstIndex - 1 || c.raft.termAt(commit) === term) continue;
      const voters = c.s.config.voters;
      const grant = logs.filter((v) => voters.includes(v.s.id) && upToDate(c, v)).length;
      if (grant >= Math.floor(voters.length / 2) + 1) {
        this.violation(
          'commit durability',
          `leader ${leader.status().id} of term ${leader.status().term} committed index ${commit} ` +
            `(term ${term}), but node ${c.s.id} (last ${c.s.lastIndex}/${c.lastTerm}, term ` +
            `${c.raft.termAt(commit)} there) could be elected by ${grant} of voters ${voters.join(',')}`,
        );
        return;
      }
    }
  }

  /** Log matching across the nodes' current logs. */
  checkLogs(nodes: readonly { readonly id: NodeId; readonly raft: Raft }[]): void {
    const byPosition = new Map<string, { node: NodeId; data: string }>();
    for (const { id, raft } of nodes) {
      const { firstIndex, lastIndex } = raft.status();
      for (let i = firstIndex; i <= lastIndex; i++) {
        const e = raft.entryAt(logIndex(i));
        const key = `${e.index}/${e.term}`;
        const data = describeData(e.data);
        const seen = byPosition.get(key);
        if (seen === undefined) byPosition.set(key, { node: id, data });
        else if (seen.data !== data) {
          this.violation(
            'log matching',
            `entry ${key} differs between nodes ${seen.node} and ${id}`,
          );
        }
      }
    }
    for (let a = 0; a < nodes.length; a++) {
      for (let b = a + 1; b < nodes.length; b++) {
        this.checkPair(nodes[a] as (typeof nodes)[number], nodes[b] as (typeof nodes)[number]);
      }
    }
  }

  private checkPair(
    a: { readonly id: NodeId; readonly raft: Raft },
    b: { readonly id: NodeId; readonly raft: Raft },
  ): void {
    const sa = a.raft.status();
    const sb = b.raft.status();
    const lo = Math.max(sa.firstIndex, sb.firstIndex);
    let matchAt = 0;
    for (let i = Math.min(sa.lastIndex, sb.lastIndex); i >= lo; i--) {
      if (a.raft.termAt(logIndex(i)) === b.raft.termAt(logIndex(i))) {
        matchAt = i;
        break;
      }
    }
    for (let i = lo; i < matchAt; i++) {
      const ta = a.raft.termAt(logIndex(i));
      const tb = b.raft.termAt(logIndex(i));
      if (ta !== tb) {
        this.violation(
          'log matching',
          `nodes ${a.id} and ${b.id} agree at index ${matchAt} but differ at ${i} (terms ${ta}, ${tb})`,
        );
        return;
      }
    }
  }
}
