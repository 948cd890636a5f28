/**
 * The vocabulary of bucket replication (DESIGN.md 4.5): governments, log entries, client requests
 * and replies, the messages replicas exchange, and the `Ready` a replica hands to its driver.
 *
 * Everything here is plain immutable data, so it can cross the wire (msgpack) or the simulator's
 * network by reference. Receivers never mutate a message.
 */
import { assert } from '../lib/assert.js';
import type { Brand, BucketId, Epoch, LogIndex, NodeId } from '../lib/ids.js';

export type { BucketId, Epoch, LogIndex, NodeId };

/** A client session's id. Sessions are per bucket; ids are allocated increasing (see sessions.ts). */
export type ClientId = Brand<number, 'ClientId'>;

/** Makes a ClientId out of a positive safe integer. */
export function clientId(value: number): ClientId {
  assert(Number.isSafeInteger(value), `client id must be an integer, got ${value}`);
  assert(value >= 1, `client id must be positive, got ${value}`);
  return value as ClientId;
}

/**
 * One bucket's government, installed by an edict of the metadata log. `leader` is null when the
 * conductor has appointed nobody (every member then holds still). Followers are waited for on every
 * write; learners receive writes but are not waited for. Epochs only grow.
 */
export interface Government {
  readonly bucket: BucketId;
  readonly epoch: Epoch;
  readonly leader: NodeId | null;
  readonly followers: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/** What a node is in a government. */
export type Role = 'leader' | 'follower' | 'learner' | 'none';

/** The role of `node` in `g`. */
export function roleIn(g: Government, node: NodeId): Role {
  if (g.leader === node) return 'leader';
  if (g.followers.includes(node)) return 'follower';
  if (g.learners.includes(node)) return 'learner';
  return 'none';
}

/** Leader and followers: the members a write waits for. */
export function voters(g: Government): NodeId[] {
  return [...(g.leader === null ? [] : [g.leader]), ...g.followers];
}

/** Every member: leader, followers, learners. */
export function membersOf(g: Government): NodeId[] {
  return [...voters(g), ...g.learners];
}

/** A place in the bucket log: the epoch of the leader that wrote it, and its index. */
export interface Position {
  readonly epoch: Epoch;
  readonly index: LogIndex;
}

/**
 * Conditions a put or delete may carry; the write happens only when all of them hold (otherwise
 * nothing changes and the result says `ok: false`).
 */
export interface WriteConditions {
  /** The key must exist with this version (the LogIndex of the write that set its value). */
  readonly ifVersion?: number;
  /** true: the key must exist; false: it must not. */
  readonly ifExists?: boolean;
}

/** A state-changing operation on the bucket's key-value map. Keys are strings, values bytes. */
export type KvCommand =
  | ({ readonly op: 'put'; readonly key: string; readonly value: Uint8Array } & WriteConditions)
  | ({ readonly op: 'delete'; readonly key: string } & WriteConditions)
  | {
      readonly op: 'cas';
      readonly key: string;
      /** The value the key must hold (null: must be absent) for the write to happen. */
      readonly expected: Uint8Array | null;
      readonly value: Uint8Array;
    };

/** A client's write as it travels through the log. */
export interface WritePayload {
  readonly kind: 'write';
  readonly clientId: ClientId;
  readonly seq: number;
  /** Every seq of the session below this is answered or given up on (1 ≤ ackedBelow ≤ seq). */
  readonly ackedBelow: number;
  readonly command: KvCommand;
}

/** A new government recorded in the log by its leader: the first entry of its epoch. */
export interface GovernmentPayload {
  readonly kind: 'government';
  readonly government: Government;
}

export type EntryPayload = WritePayload | GovernmentPayload;

/** One entry of a bucket log. (epoch, index) identifies it: one leader per epoch writes it. */
export interface LogEntry {
  readonly epoch: Epoch;
  readonly index: LogIndex;
  readonly payload: EntryPayload;
}

/**
 * The outcome of a write once applied. `at` is where it was first applied: when `ok`, the version
 * it gave the key. `ok` is false when the command's condition did not hold (nothing changed then).
 * A delete's `existed` says whether the key existed when it was applied.
 */
export type WriteResult =
  | { readonly op: 'put'; readonly ok: boolean; readonly at: Position }
  | {
      readonly op: 'delete';
      readonly ok: boolean;
      readonly existed: boolean;
      readonly at: Position;
    }
  | { readonly op: 'cas'; readonly ok: boolean; readonly at: Position };

/**
 * What a client API makes of a write's result: put → the new version, or CONDITION_FAILED;
 * delete → the delete's version, null when the key was absent, or CONDITION_FAILED.
 */
export type WriteOutcome =
  | { readonly ok: true; readonly version: LogIndex | null }
  | { readonly ok: false; readonly code: 'CONDITION_FAILED' };

/** Maps a result to the client API's outcome (see WriteOutcome). */
export function writeOutcome(result: WriteResult): WriteOutcome {
  if (!result.ok) return { ok: false, code: 'CONDITION_FAILED' };
  if (result.op === 'delete' && !result.existed) return { ok: true, version: null };
  return { ok: true, version: result.at.index };
}

/** A value and the index of the write that set it. */
export interface Versioned {
  readonly value: Uint8Array;
  readonly version: LogIndex;
}

/** A request from a client, as it reaches a replica (directly or hopped). */
export type ClientRequest =
  | {
      readonly kind: 'read';
      readonly bucket: BucketId;
      readonly clientId: ClientId;
      /** Matches the reply to the request; reads are not deduplicated. */
      readonly requestId: number;
      readonly key: string;
    }
  | {
      readonly kind: 'write';
      readonly bucket: BucketId;
      readonly clientId: ClientId;
      /** The session sequence number: applied at most once per (clientId, seq). */
      readonly seq: number;
      /** Every seq below this is answered or given up on: 1 ≤ ackedBelow ≤ seq (sessions.ts). */
      readonly ackedBelow: number;
      readonly command: KvCommand;
    };

/**
 * Errors a replica answers with. None is sent for a write that is in the log with its outcome
 * unknown; each means "this copy was not executed", and all but STALE_SEQ and SESSION_EXPIRED
 * mean "not applied" (the same seq may be retried):
 * - `NOT_LEADER`: this node does not lead the bucket and cannot hop the request (hint attached);
 * - `BUSY`: a bounded queue is full; retry later;
 * - `UNAVAILABLE`: the request waited too long for a leader, a lease or a handover;
 * - `STALE_SEQ`: a seq below its session's floor (whether it was applied is no longer known: the
 *   client had acknowledged or given up on it, or the session's result window overflowed);
 * - `SESSION_EXPIRED`: the session was evicted; the client must open a new one. A write first sent
 *   now was not applied; one sent before may have been (the session evicted after it applied):
 *   its outcome is unknown.
 */
export type RequestErrorCode =
  'NOT_LEADER' | 'BUSY' | 'UNAVAILABLE' | 'STALE_SEQ' | 'SESSION_EXPIRED';

export type ReplyBody =
  | { readonly ok: true; readonly kind: 'read'; readonly value: Versioned | null }
  | { readonly ok: true; readonly kind: 'write'; readonly result: WriteResult }
  | { readonly ok: false; readonly code: RequestErrorCode; readonly leaderHint: NodeId | null };

/** An answer to a client. `requestId` is the read's id or the write's seq. */
export interface ClientReply {
  readonly clientId: ClientId;
  readonly kind: 'read' | 'write';
  readonly requestId: number;
  readonly body: ReplyBody;
}

/** One chunk of keys of a snapshot, in key order. */
export interface SnapshotItem {
  readonly key: string;
  readonly value: Uint8Array;
  readonly version: LogIndex;
}

/** One kept result of a session. */
export interface SessionResult {
  readonly seq: number;
  readonly result: WriteResult;
}

/** A session's state, as carried in snapshots (see sessions.ts). */
export interface SessionItem {
  readonly clientId: ClientId;
  /** Seqs below this are forgotten (answered STALE_SEQ). */
  readonly floor: number;
  /** The results of the applied seqs at or above `floor`, ascending by seq. */
  readonly results: readonly SessionResult[];
  /** The log index of the session's last write entry (drives eviction). */
  readonly touched: LogIndex;
}

/** A whole state-machine image at `base`: what backfill copies. */
export interface SnapshotImage {
  readonly base: Position;
  readonly items: readonly SnapshotItem[];
  readonly sessions: readonly SessionItem[];
  /** Sessions with an id at or below this were evicted (see sessions.ts). */
  readonly sessionFloor: number;
}

/**
 * When a leader built a message: its boot and its tick count then. A tick count alone means
 * nothing across a restart (the count starts again at 0), so a grant is only trusted when it echoes
 * a stamp of the leader's current boot.
 */
export interface LeaseStamp {
  readonly boot: number;
  readonly tick: number;
}

/**
 * Leader → member: entries after (prevEpoch, prevIndex), the leader's commit index, and the lease
 * stamp. Also the heartbeat (no entries). Carries the government so a member that has not yet seen
 * the edict learns it from its leader.
 */
export interface AppendMessage {
  readonly type: 'append';
  readonly bucket: BucketId;
  readonly epoch: Epoch;
  readonly government: Government;
  readonly prevIndex: LogIndex;
  readonly prevEpoch: Epoch;
  readonly entries: readonly LogEntry[];
  readonly commit: LogIndex;
  readonly stamp: LeaseStamp;
}

/**
 * Member → leader. `ok`: the member's log matches the leader's through `match`, durably (the ack is
 * sent only after the member's persist). Not ok: `rejected` was the prevIndex that did not match and
 * `hint` is where the leader should try next. `grant` echoes the stamp when a follower promises the
 * leader a lease; null when it does not.
 */
export interface AppendAckMessage {
  readonly type: 'append-ack';
  readonly bucket: BucketId;
  readonly epoch: Epoch;
  readonly ok: boolean;
  readonly match: LogIndex;
  readonly rejected: LogIndex;
  readonly hint: LogIndex;
  /** True when the member's log is empty (nothing since its base 0): it needs a backfill. */
  readonly empty: boolean;
  /** True while the member is installing a snapshot: the leader ignores the rest. */
  readonly backfilling: boolean;
  readonly grant: LeaseStamp | null;
}

/** Leader → member: part of a snapshot image. The last chunk carries the sessions. */
export interface SnapshotChunkMessage {
  readonly type: 'snapshot-chunk';
  readonly bucket: BucketId;
  readonly epoch: Epoch;
  /** Distinguishes successive snapshots sent in one epoch. */
  readonly snapshot: number;
  readonly base: Position;
  /** Index of `items[0]` in the image's item list. */
  readonly offset: number;
  readonly items: readonly SnapshotItem[];
  readonly sessions: readonly SessionItem[];
  readonly sessionFloor: number;
  readonly done: boolean;
}

/** Member → leader: the next item offset it expects; `installed` once the image is in place. */
export interface SnapshotAckMessage {
  readonly type: 'snapshot-ack';
  readonly bucket: BucketId;
  readonly epoch: Epoch;
  readonly snapshot: number;
  readonly next: number;
  readonly installed: boolean;
}

/** The reply to a message from an older epoch: "your government is gone; mine is `epoch`". */
export interface StaleMessage {
  readonly type: 'stale';
  readonly bucket: BucketId;
  readonly epoch: Epoch;
}

/** An old leader that learnt of a newer government releases the leases of `epoch` early. */
export interface LeaseReleaseMessage {
  readonly type: 'lease-release';
  readonly bucket: BucketId;
  readonly epoch: Epoch;
}

/** A client request hopped from a non-leader (or an old leader's backlog) to the leader. */
export interface ForwardMessage {
  readonly type: 'forward';
  readonly bucket: BucketId;
  readonly epoch: Epoch;
  readonly request: ClientRequest;
  /** How many times it has been hopped; bounded by `hopsMax`. */
  readonly hops: number;
}

export type BucketMessage =
  | AppendMessage
  | AppendAckMessage
  | SnapshotChunkMessage
  | SnapshotAckMessage
  | StaleMessage
  | LeaseReleaseMessage
  | ForwardMessage;

/** A message to send to a peer. */
export interface Outbound {
  readonly to: NodeId;
  readonly message: BucketMessage;
}

/**
 * Reports for the conductor (through the metadata log), all idempotent:
 * - `activated`: the leader of `epoch` brought every follower to its whole log and serves;
 * - `caught-up`: a learner holds every entry the leader had committed;
 * - `drained`: a paused leader has nothing in flight (a handover may proceed);
 * - `dropped`: a member excluded by the edict of `epoch` deleted its data.
 */
export type ReplicaEvent =
  | { readonly kind: 'activated'; readonly bucket: BucketId; readonly epoch: Epoch }
  | {
      readonly kind: 'caught-up';
      readonly bucket: BucketId;
      readonly epoch: Epoch;
      readonly node: NodeId;
    }
  | { readonly kind: 'drained'; readonly bucket: BucketId; readonly epoch: Epoch }
  | { readonly kind: 'dropped'; readonly bucket: BucketId; readonly epoch: Epoch };

/** An entry applied to the state machine, with its result (null for a government entry). */
export interface AppliedEntry {
  readonly entry: LogEntry;
  /** The write's result, or its session error; null for a government entry. */
  readonly result: WriteResult | 'STALE_SEQ' | 'SESSION_EXPIRED' | null;
  /** False when the session table recognised a duplicate and nothing changed. */
  readonly fresh: boolean;
}

/** The durable part of a replica besides its log: the epoch it is fenced at and its government. */
export interface ReplicaMeta {
  readonly epoch: Epoch;
  readonly government: Government | null;
}

/** One durable write, applied by the store in order. See store.ts for the contract. */
export type PersistOp =
  | { readonly op: 'meta'; readonly meta: ReplicaMeta }
  | { readonly op: 'truncate'; readonly after: LogIndex }
  | { readonly op: 'append'; readonly entries: readonly LogEntry[] }
  | { readonly op: 'commit'; readonly index: LogIndex }
  | { readonly op: 'snapshot'; readonly image: SnapshotImage }
  | { readonly op: 'drop' };

/**
 * The work a replica hands its driver, to be done in this order: persist (and sync) `persist`, then
 * send `messages`, then deliver `replies` and `events`; then call `advance(ready)`. Nothing in
 * `messages` or `replies` may leave the node before `persist` is durable: acknowledgements promise
 * durability. `applied` lists what the state machine applied since the last Ready, for observers.
 */
export interface Ready {
  readonly persist: readonly PersistOp[];
  readonly messages: readonly Outbound[];
  readonly replies: readonly ClientReply[];
  readonly events: readonly ReplicaEvent[];
  readonly applied: readonly AppliedEntry[];
  /** The log's last index when the Ready was cut: durable once `persist` is. */
  readonly lastIndex: LogIndex;
}
