/**
 * The data of the metadata log's Raft core: log entries, the hard state that must survive a crash,
 * configurations, snapshots, the messages peers exchange, and the `Ready` the driver acts on.
 *
 * Everything here is plain immutable data. Byte payloads (`Uint8Array`) are shared by reference
 * between the core, the driver and the network: nobody mutates one after handing it over.
 */
import type { LogIndex, NodeId, Term } from '../lib/ids.js';

/**
 * `normal`: an application command (an empty one is the no-op a new leader appends).
 * `config`: a membership change; its data is an encoded {@link ConfigEntry} (config-change.ts).
 */
export type EntryType = 'normal' | 'config';

/** One log entry. `(index, term)` names it uniquely across the cluster (log matching). */
export interface Entry {
  readonly index: LogIndex;
  readonly term: Term;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/**
 * What must be durable before any message that depends on it leaves the node: the current term,
 * the vote cast in it, and the commit index (kept only to avoid re-deciding commitment after a
 * restart; it is never ahead of the durable log).
 */
export interface HardState {
  readonly term: Term;
  readonly vote: NodeId | null;
  readonly commit: LogIndex;
}

/**
 * A cluster configuration: voters elect and form quorums; learners receive the log but never vote
 * or count. Both lists are sorted ascending and disjoint.
 */
export interface ConfigState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/** What a snapshot covers: every entry up to `index` (whose term is `term`), and the config then. */
export interface SnapshotMeta {
  readonly index: LogIndex;
  readonly term: Term;
  readonly config: ConfigState;
}

/** The application's state after applying every entry up to `meta.index`, opaque to the core. */
export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

/**
 * A linearizable read's go-ahead: once the application has applied `index`, it may answer the read
 * identified by `context` from its local state.
 */
export interface ReadState {
  readonly index: LogIndex;
  readonly context: string;
}

/** A node's role. `pre-candidate` asks for pre-votes without having raised its term. */
export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's term; for a pre-vote request, the term the sender would campaign in. */
  readonly term: Term;
}

/** Leader → follower: entries following `(prevIndex, prevTerm)`, and the leader's commit index. */
export interface AppendMessage extends MessageBase {
  readonly type: 'append';
  readonly prevIndex: LogIndex;
  readonly prevTerm: Term;
  readonly entries: readonly Entry[];
  readonly commit: LogIndex;
}

/**
 * Follower → leader, for an append or a snapshot. Accepted: the follower's log matches the leader's
 * up to `index`. Rejected: it has no entry `(index, prevTerm)`; `hintIndex`/`hintTerm` point at
 * where the leader should probe next (the largest index whose term is ≤ the rejected prevTerm).
 */
export interface AppendResponseMessage extends MessageBase {
  readonly type: 'append-response';
  readonly index: LogIndex;
  readonly reject: boolean;
  readonly hintIndex: LogIndex;
  readonly hintTerm: Term;
}

/** Leader → follower: liveness and commit index; `context` names a ReadIndex round, if any. */
export interface HeartbeatMessage extends MessageBase {
  readonly type: 'heartbeat';
  readonly commit: LogIndex;
  readonly context: string | null;
}

/** Follower → leader: the heartbeat with `context` reached a node that accepts this term. */
export interface HeartbeatResponseMessage extends MessageBase {
  readonly type: 'heartbeat-response';
  readonly context: string | null;
}

/**
 * Candidate → voter: a request for a vote (or a pre-vote) with the candidate's last log position.
 * `transfer` marks an election started by a leadership transfer: it may disturb a live leader.
 */
export interface VoteMessage extends MessageBase {
  readonly type: 'vote';
  readonly preVote: boolean;
  readonly lastIndex: LogIndex;
  readonly lastTerm: Term;
  readonly transfer: boolean;
}

/** Voter → candidate. A granted pre-vote carries the request's term, a rejection the voter's. */
export interface VoteResponseMessage extends MessageBase {
  readonly type: 'vote-response';
  readonly preVote: boolean;
  readonly reject: boolean;
}

/** Leader → follower whose next entry was compacted away: InstallSnapshot. */
export interface SnapshotMessage extends MessageBase {
  readonly type: 'snapshot';
  readonly snapshot: Snapshot;
}

/** Leader → transfer target: campaign now, without waiting for the election timeout. */
export interface TimeoutNowMessage extends MessageBase {
  readonly type: 'timeout-now';
}

/** Follower → leader: run a ReadIndex round on my behalf for `context`. */
export interface ReadIndexMessage extends MessageBase {
  readonly type: 'read-index';
  readonly context: string;
}

/** Leader → follower: the read `context` may be served once `index` is applied. */
export interface ReadIndexResponseMessage extends MessageBase {
  readonly type: 'read-index-response';
  readonly context: string;
  readonly index: LogIndex;
}

/** Every message Raft peers exchange. */
export type Message =
  | AppendMessage
  | AppendResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | VoteMessage
  | VoteResponseMessage
  | SnapshotMessage
  | TimeoutNowMessage
  | ReadIndexMessage
  | ReadIndexResponseMessage;

/** The type tag of a {@link Message}. */
export type MessageType = Message['type'];

/** A node's volatile state that the driver may want to watch (e.g. to route clients). */
export interface SoftState {
  readonly role: Role;
  readonly leader: NodeId | null;
}

/**
 * Work the driver must do, strictly in this order, then hand the same object to `advance()`:
 * 1. persist `snapshot` (if any; it replaces the log), then `entries` (an entry at index i replaces
 *    the stored entry at i and every later one), then `hardState`, and fsync;
 * 2. send `messages` (only now: a vote or an acknowledgement promises that the state is durable);
 * 3. restore the state machine from `snapshot` (if any), then apply `committed` in order and serve
 *    each read in `readStates` once its index is applied.
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly committed: readonly Entry[];
  readonly readStates: readonly ReadState[];
}

/** What survived on disk; the core is rebuilt from it after a restart. */
export interface PersistentState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  /** Contiguous entries following the snapshot (or starting at index 1 without one). */
  readonly entries: readonly Entry[];
}

/** The planted bugs the simulator can switch on to prove its checkers catch them. */
export type RaftBug = 'raft-commit-old-term' | 'raft-vote-no-log-check';

/** Every planted bug, for the simulator's `--bug` list. */
export const raftBugs: readonly RaftBug[] = ['raft-commit-old-term', 'raft-vote-no-log-check'];
