/**
 * A follower's handling of its leader's messages (AppendEntries, heartbeats, InstallSnapshot), of
 * messages from an older term, and the vote decision. The node (raft.ts) has already checked the
 * term and recorded the leader; these handlers update the log and queue the answer, which leaves
 * only after the Ready carrying the change is persisted.
 */
import { assert } from '../lib/assert.js';
import { logIndex, term as makeTerm, type LogIndex, type NodeId, type Term } from '../lib/ids.js';
import type { RaftLog } from './log.js';
import type {
  AppendMessage,
  HeartbeatMessage,
  Message,
  SnapshotMessage,
  VoteMessage,
} from './types.js';

/** What a follower's handlers need from the node. */
export interface FollowerContext {
  readonly id: NodeId;
  /** The node's current term (the leader's). */
  currentTerm(): Term;
  readonly log: RaftLog;
  send(message: Message): void;
  /** Adopts the latest configuration in the log after it changed. */
  syncConfig(): void;
}

/** AppendEntries: append what follows a matching entry, or reject with a hint where to probe. */
export function onAppend(ctx: FollowerContext, m: AppendMessage): void {
  const { log } = ctx;
  checkLeaderCompleteness(ctx, m);
  if (m.prevIndex < log.committed) {
    // Everything up to our commit index matches the leader's log already.
    sendAppendResponse(ctx, m.from, log.committed);
    return;
  }
  const lastNew = log.maybeAppend(m.prevIndex, m.prevTerm, m.commit, m.entries);
  ctx.syncConfig();
  if (lastNew !== null) {
    sendAppendResponse(ctx, m.from, lastNew);
    return;
  }
  const hint = log.findConflictByTerm(logIndex(Math.min(m.prevIndex, log.lastIndex())), m.prevTerm);
  ctx.send({
    type: 'append-response',
    from: ctx.id,
    to: m.from,
    term: ctx.currentTerm(),
    index: m.prevIndex,
    reject: true,
    hintIndex: hint.index,
    hintTerm: hint.term,
  });
}

/**
 * Leader completeness, checked where it can be: the leader of our term holds every entry we know
 * committed, so wherever its message and our committed prefix overlap, the terms agree.
 */
function checkLeaderCompleteness(ctx: FollowerContext, m: AppendMessage): void {
  const { log } = ctx;
  const committed = log.committed;
  const check = (index: LogIndex, term: Term): void => {
    const mine = log.term(index);
    assert(
      mine === null || mine === term,
      `leader completeness: leader ${m.from} of term ${m.term} has term ${term} at committed ` +
        `index ${index}, node ${ctx.id} has ${mine}`,
    );
  };
  if (m.prevIndex <= committed) check(m.prevIndex, m.prevTerm);
  for (const e of m.entries) {
    if (e.index > committed) break;
    check(e.index, e.term);
  }
}

/** A heartbeat: the leader's commit index (never beyond what we are known to hold). */
export function onHeartbeat(ctx: FollowerContext, m: HeartbeatMessage): void {
  ctx.log.commitTo(m.commit);
  ctx.send({
    type: 'heartbeat-response',
    from: ctx.id,
    to: m.from,
    term: ctx.currentTerm(),
    context: m.context,
  });
}

/** InstallSnapshot: fast-forward if we hold its last entry, otherwise replace the log with it. */
export function onSnapshot(ctx: FollowerContext, m: SnapshotMessage): void {
  const { log } = ctx;
  const { meta } = m.snapshot;
  if (meta.index <= log.committed) {
    sendAppendResponse(ctx, m.from, log.committed);
  } else if (log.matchTerm(meta.index, meta.term)) {
    // We hold the snapshot's last entry, hence everything before it: just commit.
    log.commitTo(meta.index);
    sendAppendResponse(ctx, m.from, meta.index);
  } else {
    log.restore(m.snapshot);
    ctx.syncConfig();
    sendAppendResponse(ctx, m.from, log.lastIndex());
  }
}

/** Accepts: our log matches the leader's up to `index`. */
export function sendAppendResponse(ctx: FollowerContext, to: NodeId, index: LogIndex): void {
  ctx.send({
    type: 'append-response',
    from: ctx.id,
    to,
    term: ctx.currentTerm(),
    index,
    reject: false,
    hintIndex: logIndex(0),
    hintTerm: makeTerm(0),
  });
}

/**
 * A message from an older term. An old leader's append or heartbeat is answered with our term so
 * that it steps down (with pre-vote and check-quorum its followers may never raise their terms
 * otherwise); an old pre-vote request is refused with our term. Everything else is dropped.
 */
export function answerStaleTerm(ctx: FollowerContext, m: Message, answerOldLeaders: boolean): void {
  if (answerOldLeaders && (m.type === 'append' || m.type === 'heartbeat')) {
    sendAppendResponse(ctx, m.from, logIndex(0));
  } else if (m.type === 'vote' && m.preVote) {
    ctx.send({
      type: 'vote-response',
      from: ctx.id,
      to: m.from,
      term: ctx.currentTerm(),
      preVote: true,
      reject: true,
    });
  }
}

/** What a voter knows when it decides on a (pre-)vote. */
export interface VoterState {
  readonly term: Term;
  readonly vote: NodeId | null;
  readonly leader: NodeId | null;
  readonly log: RaftLog;
  /** The planted bug `raft-vote-no-log-check`; never set outside the simulator. */
  readonly skipLogCheck: boolean;
}

/**
 * Whether to grant `m`: the voter has not voted for someone else in this term and knows no leader
 * in it (a pre-vote for a later term is always possible), and the candidate's log is at least as
 * up-to-date as the voter's (the election restriction, 5.4.1).
 */
export function shouldGrantVote(m: VoteMessage, voter: VoterState): boolean {
  const canVote =
    voter.vote === m.from ||
    (voter.vote === null && voter.leader === null) ||
    (m.preVote && m.term > voter.term);
  const upToDate = voter.skipLogCheck || voter.log.isUpToDate(m.lastIndex, m.lastTerm);
  return canVote && upToDate;
}
