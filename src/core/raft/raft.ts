/**
 * The metadata log's Raft core: a deterministic, synchronous state machine in the shape of
 * etcd-io/raft. Its driver feeds it `tick()` at a fixed rate, `step(message)` for each message
 * received, and the application's requests (`propose`, `readIndex`, `proposeConfigChange`,
 * `transferLeadership`, `compact`). The core never does I/O: it accumulates work in a `Ready`,
 * which the driver takes with `ready()`, carries out in order (persist, fsync, send, apply) and
 * acknowledges with `advance()`. Only one Ready is outstanding at a time; the core keeps accepting
 * ticks and messages meanwhile.
 *
 * Protocol choices (docs/raft.md): pre-vote and check-quorum; membership changes one server at a
 * time with the configuration taking effect when appended; ReadIndex reads; leadership transfer
 * with TimeoutNow; snapshots made by the application (`compact`) and sent whole (InstallSnapshot).
 *
 * Handlers read `onX` → guard → assertions → work. Invariants asserted here (on in production):
 * a term never decreases; one vote per term; a leader never truncates its own log; commit never goes
 * back and a committed entry is never replaced (log.ts); applied ≤ committed; the Ready acknowledged
 * is the one handed out.
 */
import { assert } from '../lib/assert.js';
import { logIndex, term as makeTerm, type LogIndex, type NodeId, type Term } from '../lib/ids.js';
import type { Prng } from '../lib/prng.js';
import { Timeout } from '../lib/timeout.js';
import {
  applyConfigChange,
  encodeConfigEntry,
  isVoter,
  sameConfig,
  type ConfigChange,
} from './config-change.js';
import type {
  ConfigChangeResult,
  NotLeader,
  ProposeResult,
  Proposed,
  RaftInit,
  RaftStatus,
  ReadIndexResult,
  StepResult,
  TransferResult,
} from './api.js';
import {
  answerStaleTerm,
  onAppend,
  onHeartbeat,
  onSnapshot,
  shouldGrantVote,
  type FollowerContext,
} from './follower.js';
import { Leader } from './leader.js';
import { RaftLog } from './log.js';
import { defaultRaftOptions, validateRaftOptions, type RaftOptions } from './options.js';
import { voteResult } from './quorum.js';
import type {
  ConfigState,
  Entry,
  EntryType,
  HardState,
  Message,
  Ready,
  ReadState,
  Role,
  Snapshot,
  SoftState,
  VoteMessage,
  VoteResponseMessage,
} from './types.js';

const OK: { readonly ok: true } = { ok: true };

export class Raft {
  readonly id: NodeId;
  readonly options: RaftOptions;
  private readonly prng: Prng;
  private readonly log: RaftLog;
  private currentTerm: Term;
  private vote: NodeId | null;
  private role: Role = 'follower';
  private leaderId: NodeId | null = null;
  private config: ConfigState;
  private configIndex: LogIndex;
  private leader: Leader | null = null;
  private readonly votes = new Map<NodeId, boolean>();
  /** Counts ticks since the last sign of a leader (or, on a leader, since the last quorum check). */
  private readonly electionTimeout: Timeout;
  private readonly heartbeatTimeout: Timeout;
  private messages: Message[] = [];
  private readStates: ReadState[] = [];
  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private outstanding: Ready | null = null;
  /** What the follower's handlers (follower.ts) may see and do. */
  private readonly followerContext: FollowerContext;

  constructor(init: RaftInit, options: RaftOptions = defaultRaftOptions) {
    validateRaftOptions(options);
    this.id = init.id;
    this.options = options;
    this.prng = init.prng;
    this.log = new RaftLog(init.state, init.applied ?? null);
    this.currentTerm = init.state.hardState.term;
    this.vote = init.state.hardState.vote;
    const latest = this.log.latestConfig();
    this.config = latest.config;
    this.configIndex = latest.index;
    this.electionTimeout = new Timeout('election', options.electionTicks);
    this.heartbeatTimeout = new Timeout('heartbeat', options.heartbeatTicks);
    this.electionTimeout.startRandomized(this.prng);
    this.prevHardState = this.hardState();
    this.prevSoftState = this.softState();
    this.followerContext = {
      id: this.id,
      log: this.log,
      currentTerm: () => this.currentTerm,
      send: (m) => this.send(m),
      syncConfig: () => this.syncConfig(),
    };
  }

  // ---- Public API ------------------------------------------------------------------------------

  /** Advances logical time by one tick: elections on followers, heartbeats and checks on leaders. */
  tick(): void {
    if (this.role === 'leader') return this.tickLeader();
    this.electionTimeout.tick();
    // A node that may not campaign lets the timeout run on: it is out of any leader's lease.
    if (!this.electionTimeout.fired() || !this.promotable()) return;
    this.campaign(this.options.preVote ? 'pre-vote' : 'election');
  }

  /**
   * The driver found nothing listening at `node`'s address (a connection was refused): if it is
   * the leader this follower follows, its process is gone. The follower forgets it — out of its
   * check-quorum lease, so it grants (pre-)votes — and campaigns within a random
   * [1, electionTicks / 2] ticks instead of a full election timeout. Only liveness is at stake:
   * votes and terms follow the usual rules (a pre-vote moves no term), so a hint about a leader
   * that is in fact alive costs at most an election.
   */
  leaderUnreachable(node: NodeId): void {
    if (this.role !== 'follower' || this.leaderId !== node) return;
    this.leaderId = null;
    const half = Math.max(1, this.options.electionTicks >> 1);
    this.electionTimeout.fireWithin(1 + this.prng.int(half));
  }

  /** Proposes an application command. Only a leader accepts; see {@link ProposeResult}. */
  propose(data: Uint8Array): ProposeResult {
    if (data.length > this.options.maxEntryBytes) return { ok: false, code: 'TOO_LARGE' };
    return this.proposeEntry('normal', data);
  }

  /** Proposes one membership change, under the rules of config-change.ts. */
  proposeConfigChange(change: ConfigChange): ConfigChangeResult {
    const leader = this.leader;
    if (leader === null) return this.notLeader();
    if (this.log.term(this.log.committed) !== this.currentTerm)
      return { ok: false, code: 'NOT_READY' };
    if (this.configIndex > this.log.committed) return { ok: false, code: 'CHANGE_PENDING' };
    const next = applyConfigChange(this.config, change);
    if (!next.ok) return { ok: false, code: next.code };
    return this.proposeEntry('config', encodeConfigEntry({ change, config: next.value }));
  }

  /**
   * Asks for a linearizable read identified by `context` (unique per request). On acceptance a
   * `ReadState` with the same context follows in a later Ready, on this node, even when the request
   * was made on a follower (which forwards it to the leader).
   */
  readIndex(context: string): ReadIndexResult {
    const leader = this.leader;
    if (leader !== null) {
      const refusal = leader.readIndex(context, this.id);
      return refusal === null ? OK : { ok: false, code: refusal };
    }
    if (this.leaderId === null) return this.notLeader();
    this.send({
      type: 'read-index',
      from: this.id,
      to: this.leaderId,
      term: this.currentTerm,
      context,
    });
    return OK;
  }

  /** Hands leadership to voter `to`; proposals are refused until it takes over or time runs out. */
  transferLeadership(to: NodeId): TransferResult {
    const leader = this.leader;
    if (leader === null) return this.notLeader();
    if (!isVoter(this.config, to)) return { ok: false, code: 'NOT_A_VOTER' };
    if (to === this.id) return OK;
    leader.transfer(to);
    return OK;
  }

  /**
   * Compacts the log up to `index`, which the application has applied, into a snapshot holding its
   * state `data`. The driver persists the returned snapshot, then may drop the entries it covers.
   * Returns null when there is nothing to do now: the log is already compacted that far, or a
   * snapshot received from the leader is still waiting to be persisted and applied.
   */
  compact(index: LogIndex, data: Uint8Array): Snapshot | null {
    if (this.log.unstableSnapshot !== null) return null;
    if (index < this.log.firstIndex()) return null;
    return this.log.compact(index, data);
  }

  /** Handles a message from a peer. Messages may arrive late, twice, or out of order. */
  step(m: Message): StepResult {
    if (m.to !== this.id) return { ok: false, code: 'WRONG_RECIPIENT' };
    if (m.term > this.currentTerm) {
      if (m.type === 'vote' && !m.transfer && this.inLease()) return { ok: false, code: 'IGNORED' };
      if (!this.isFutureTermVote(m)) {
        const leader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot';
        this.becomeFollower(m.term, leader ? m.from : null);
      }
    } else if (m.term < this.currentTerm) {
      return this.onStaleTerm(m);
    }
    if (m.type === 'vote') return this.onVote(m);
    switch (this.role) {
      case 'leader':
        return this.stepLeader(m);
      case 'candidate':
      case 'pre-candidate':
        return this.stepCandidate(m);
      case 'follower':
        return this.stepFollower(m);
    }
  }

  /** Whether there is work for the driver (and no Ready is outstanding). */
  hasReady(): boolean {
    if (this.outstanding !== null) return false;
    return (
      this.messages.length > 0 ||
      this.readStates.length > 0 ||
      this.log.unstableSnapshot !== null ||
      this.log.stableIndex < this.log.lastIndex() ||
      this.log.nextCommitted(1).length > 0 ||
      !sameHardState(this.hardState(), this.prevHardState) ||
      !sameSoftState(this.softState(), this.prevSoftState)
    );
  }

  /** Takes the pending work, or null when there is none or a Ready is still outstanding. */
  ready(): Ready | null {
    if (!this.hasReady()) return null;
    const hardState = this.hardState();
    const softState = this.softState();
    const ready: Ready = {
      softState: sameSoftState(softState, this.prevSoftState) ? null : softState,
      hardState: sameHardState(hardState, this.prevHardState) ? null : hardState,
      snapshot: this.log.unstableSnapshot,
      entries: this.log.unstableEntries(),
      messages: this.messages,
      committed: this.log.nextCommitted(this.options.maxApplyBytes),
      readStates: this.readStates,
    };
    this.messages = [];
    this.readStates = [];
    this.outstanding = ready;
    return ready;
  }

  /** Acknowledges that the driver has done everything `ready` asked, in order. */
  advance(ready: Ready): void {
    assert(ready === this.outstanding, 'advance() takes the Ready that ready() handed out');
    this.outstanding = null;
    if (ready.hardState !== null) this.prevHardState = ready.hardState;
    if (ready.softState !== null) this.prevSoftState = ready.softState;
    if (ready.snapshot !== null) {
      if (this.log.unstableSnapshot === ready.snapshot) this.log.unstableSnapshot = null;
      this.log.appliedTo(ready.snapshot.meta.index);
    }
    const lastEntry = ready.entries.at(-1);
    if (lastEntry !== undefined) this.log.stableTo(lastEntry.index, lastEntry.term);
    const lastCommitted = ready.committed.at(-1);
    if (lastCommitted !== undefined) this.log.appliedTo(lastCommitted.index);
    const leader = this.leader;
    if (leader !== null) {
      leader.selfStable();
      if (leader.maybeCommit()) leader.bcastAppend();
      this.maybeFinishRemoval();
    }
  }

  /** A summary of this node's state. */
  status(): RaftStatus {
    return {
      id: this.id,
      role: this.role,
      term: this.currentTerm,
      vote: this.vote,
      leader: this.leaderId,
      commit: this.log.committed,
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      config: this.config,
    };
  }

  /** The term of the entry at `index` in this node's log (null when compacted or absent). */
  termAt(index: LogIndex): Term | null {
    return this.log.term(index);
  }

  /** The entry at `index`, which must be held (firstIndex ≤ index ≤ lastIndex). */
  entryAt(index: LogIndex): Entry {
    return this.log.entry(index);
  }

  /** The leader's replication state for `node` (tests); undefined when not leading. */
  progressOf(node: NodeId): { match: LogIndex; next: LogIndex; state: string } | undefined {
    return this.leader?.progressOf(node);
  }

  // ---- Roles -----------------------------------------------------------------------------------

  private becomeFollower(term: Term, leader: NodeId | null): void {
    assert(term >= this.currentTerm, `term never decreases: ${this.currentTerm} -> ${term}`);
    if (term > this.currentTerm) {
      this.currentTerm = term;
      this.vote = null;
    }
    this.stopLeading();
    this.role = 'follower';
    this.leaderId = leader;
    this.votes.clear();
    this.electionTimeout.startRandomized(this.prng);
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'a leader does not campaign');
    this.role = 'pre-candidate';
    this.leaderId = null;
    this.votes.clear();
    this.electionTimeout.startRandomized(this.prng);
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'a leader does not campaign');
    this.currentTerm = makeTerm(this.currentTerm + 1);
    this.vote = this.id;
    this.role = 'candidate';
    this.leaderId = null;
    this.votes.clear();
    this.electionTimeout.startRandomized(this.prng);
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', 'only a candidate becomes leader');
    this.role = 'leader';
    this.leaderId = this.id;
    const term = this.currentTerm;
    this.leader = new Leader({
      id: this.id,
      term,
      options: this.options,
      log: this.log,
      config: () => this.config,
      send: (m) => this.send(m),
      readState: (rs) => this.readStates.push(rs),
    });
    this.electionTimeout.start();
    this.heartbeatTimeout.start();
    // The no-op: committing an entry of its own term commits everything before it (5.4.2), and
    // unlocks ReadIndex and membership changes.
    this.appendEntry('normal', new Uint8Array(0));
  }

  private stopLeading(): void {
    this.leader?.stop();
    this.leader = null;
    this.heartbeatTimeout.stop();
  }

  /** Whether this node may campaign: a voter with no received snapshot waiting to be persisted. */
  private promotable(): boolean {
    return isVoter(this.config, this.id) && this.log.unstableSnapshot === null;
  }

  /** Whether a leader was heard from within the minimum election timeout (check-quorum's lease). */
  private inLease(): boolean {
    return (
      this.options.checkQuorum &&
      this.leaderId !== null &&
      this.electionTimeout.ticks < this.options.electionTicks
    );
  }

  private tickLeader(): void {
    const leader = this.leader as Leader;
    this.electionTimeout.tick();
    this.heartbeatTimeout.tick();
    if (this.electionTimeout.ticks >= this.options.electionTicks) {
      this.electionTimeout.reset();
      if (this.options.checkQuorum && !leader.quorumActive()) {
        this.becomeFollower(this.currentTerm, null);
        return;
      }
      leader.resetRecentActive();
    }
    leader.tickTransfer();
    leader.tickSnapshots();
    if (this.heartbeatTimeout.fired()) {
      this.heartbeatTimeout.reset();
      leader.bcastHeartbeat();
    }
  }

  // ---- Elections -------------------------------------------------------------------------------

  private campaign(kind: 'pre-vote' | 'election' | 'transfer'): void {
    const preVote = kind === 'pre-vote';
    if (preVote) this.becomePreCandidate();
    else this.becomeCandidate();
    const term = preVote ? makeTerm(this.currentTerm + 1) : this.currentTerm;
    this.votes.set(this.id, true);
    if (voteResult(this.config.voters, this.votes) === 'won') return this.wonElection();
    for (const voter of this.config.voters) {
      if (voter === this.id) continue;
      this.send({
        type: 'vote',
        from: this.id,
        to: voter,
        term,
        preVote,
        lastIndex: this.log.lastIndex(),
        lastTerm: this.log.lastTerm(),
        transfer: kind === 'transfer',
      });
    }
  }

  private wonElection(): void {
    if (this.role === 'pre-candidate') this.campaign('election');
    else this.becomeLeader();
  }

  /**
   * A pre-vote request, or a granted pre-vote response, carries a term this node has not reached;
   * neither may move its term (that is the point of pre-vote).
   */
  private isFutureTermVote(m: Message): boolean {
    return (
      (m.type === 'vote' && m.preVote) || (m.type === 'vote-response' && m.preVote && !m.reject)
    );
  }

  private onVote(m: VoteMessage): StepResult {
    const grant = shouldGrantVote(m, {
      term: this.currentTerm,
      vote: this.vote,
      leader: this.leaderId,
      log: this.log,
      skipLogCheck: this.options.bugs.has('raft-vote-no-log-check'),
    });
    this.send({
      type: 'vote-response',
      from: this.id,
      to: m.from,
      term: grant ? m.term : this.currentTerm,
      preVote: m.preVote,
      reject: !grant,
    });
    if (grant && !m.preVote) {
      assert(m.term === this.currentTerm, 'a vote is cast in the current term');
      assert(this.vote === null || this.vote === m.from, 'one vote per term');
      this.vote = m.from;
      this.electionTimeout.reset();
    }
    return OK;
  }

  private onVoteResponse(m: VoteResponseMessage): StepResult {
    const expected = this.role === 'pre-candidate';
    if (m.preVote !== expected) return { ok: false, code: 'IGNORED' };
    this.votes.set(m.from, !m.reject);
    const result = voteResult(this.config.voters, this.votes);
    if (result === 'won') this.wonElection();
    else if (result === 'lost') this.becomeFollower(this.currentTerm, null);
    return OK;
  }

  private onStaleTerm(m: Message): StepResult {
    const { checkQuorum, preVote } = this.options;
    answerStaleTerm(this.followerContext, m, checkQuorum || preVote);
    return { ok: false, code: 'STALE_TERM' };
  }

  // ---- Role-specific steps ---------------------------------------------------------------------

  private stepLeader(m: Message): StepResult {
    const leader = this.leader as Leader;
    switch (m.type) {
      case 'append-response':
        leader.onAppendResponse(m);
        break;
      case 'heartbeat-response':
        leader.onHeartbeatResponse(m);
        break;
      case 'read-index': {
        leader.readIndex(m.context, m.from);
        break;
      }
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        assert(
          false,
          `election safety: two leaders in term ${this.currentTerm} (${this.id}, ${m.from})`,
        );
        break;
      default:
        return { ok: false, code: 'IGNORED' };
    }
    this.maybeFinishRemoval();
    return OK;
  }

  private stepCandidate(m: Message): StepResult {
    switch (m.type) {
      case 'vote-response':
        return this.onVoteResponse(m);
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // A leader won this term: follow it.
        this.becomeFollower(m.term, m.from);
        return this.stepFollower(m);
      default:
        return { ok: false, code: 'IGNORED' };
    }
  }

  private stepFollower(m: Message): StepResult {
    switch (m.type) {
      case 'append':
        this.heardFromLeader(m.from);
        onAppend(this.followerContext, m);
        return OK;
      case 'heartbeat':
        this.heardFromLeader(m.from);
        onHeartbeat(this.followerContext, m);
        return OK;
      case 'snapshot':
        this.heardFromLeader(m.from);
        onSnapshot(this.followerContext, m);
        return OK;
      case 'timeout-now':
        if (!this.promotable()) return { ok: false, code: 'IGNORED' };
        this.campaign('transfer');
        return OK;
      case 'read-index-response':
        this.readStates.push({ index: m.index, context: m.context });
        return OK;
      default:
        return { ok: false, code: 'IGNORED' };
    }
  }

  private heardFromLeader(from: NodeId): void {
    assert(
      this.leaderId === null || this.leaderId === from,
      `election safety: leaders ${this.leaderId} and ${from} in term ${this.currentTerm}`,
    );
    this.electionTimeout.reset();
    this.leaderId = from;
  }

  // ---- Log and configuration -------------------------------------------------------------------

  private proposeEntry(
    type: EntryType,
    data: Uint8Array,
  ): Proposed | NotLeader | { ok: false; code: 'PROPOSAL_DROPPED' } {
    const leader = this.leader;
    if (leader === null) return this.notLeader();
    if (leader.transferee !== null) return { ok: false, code: 'PROPOSAL_DROPPED' };
    if (!isVoter(this.config, this.id)) return { ok: false, code: 'PROPOSAL_DROPPED' };
    if (!leader.canAccept(data.length)) return { ok: false, code: 'PROPOSAL_DROPPED' };
    const index = this.appendEntry(type, data);
    return { ok: true, index, term: this.currentTerm };
  }

  /** Leader: appends one entry of the current term and sends it out. */
  private appendEntry(type: EntryType, data: Uint8Array): LogIndex {
    const leader = this.leader as Leader;
    const index = logIndex(this.log.lastIndex() + 1);
    this.log.append([{ index, term: this.currentTerm, type, data }]);
    leader.uncommittedBytes += data.length;
    if (type === 'config') this.syncConfig();
    leader.bcastAppend();
    return index;
  }

  /** Adopts the latest configuration in the log (it may have moved either way after a truncation). */
  private syncConfig(): void {
    const latest = this.log.latestConfig();
    if (latest.index === this.configIndex && sameConfig(latest.config, this.config)) return;
    this.config = latest.config;
    this.configIndex = latest.index;
    this.leader?.onConfigChange(this.config);
  }

  /**
   * A leader that removed itself leads until that change commits (thesis 4.2.2), without counting
   * itself; then it hands over to the most caught-up voter and steps down.
   */
  private maybeFinishRemoval(): void {
    const leader = this.leader;
    if (leader === null || isVoter(this.config, this.id)) return;
    if (this.log.committed < this.configIndex) return;
    const successor = leader.bestSuccessor();
    if (successor !== null) leader.sendTimeoutNow(successor);
    this.becomeFollower(this.currentTerm, null);
  }

  // ---- Helpers ---------------------------------------------------------------------------------

  private send(message: Message): void {
    this.messages.push(message);
  }

  private notLeader(): NotLeader {
    return {
      ok: false,
      code: 'NOT_LEADER',
      leaderHint: this.leaderId === this.id ? null : this.leaderId,
    };
  }

  private hardState(): HardState {
    return { term: this.currentTerm, vote: this.vote, commit: this.log.committed };
  }

  private softState(): SoftState {
    return { role: this.role, leader: this.leaderId };
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leader === b.leader;
}
