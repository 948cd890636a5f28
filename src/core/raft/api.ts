/**
 * The types of the Raft core's public calls: what a node is built from, what each request returns,
 * and the status it reports. Operational errors are results with stable codes (STYLE.md).
 */
import type { LogIndex, NodeId, Term } from '../lib/ids.js';
import type { Prng } from '../lib/prng.js';
import type { ConfigChangeError } from './config-change.js';
import type { ReadIndexRefusal } from './leader.js';
import type { ConfigState, PersistentState, Role } from './types.js';

/** The answer to a request that only a leader can serve, made on a node that is not one. */
export interface NotLeader {
  readonly ok: false;
  readonly code: 'NOT_LEADER';
  /** The leader this node last heard from in its current term, if any: retry there. */
  readonly leaderHint: NodeId | null;
}

/** Where a proposal landed; it is committed once a Ready hands back the entry at `index`. */
export interface Proposed {
  readonly ok: true;
  readonly index: LogIndex;
  readonly term: Term;
}

/**
 * `PROPOSAL_DROPPED`: the leader is handing over, is being removed, or its uncommitted backlog is
 * full; retry later. `TOO_LARGE`: the entry exceeds `maxEntryBytes`.
 */
export type ProposeResult =
  Proposed | NotLeader | { readonly ok: false; readonly code: 'PROPOSAL_DROPPED' | 'TOO_LARGE' };

/**
 * `NOT_READY`: the leader has not committed an entry of its term yet (retry shortly);
 * `CHANGE_PENDING`: another config change is not committed yet.
 */
export type ConfigChangeResult =
  | Proposed
  | NotLeader
  | {
      readonly ok: false;
      readonly code: 'NOT_READY' | 'CHANGE_PENDING' | 'PROPOSAL_DROPPED' | ConfigChangeError;
    };

/** Accepted: a `ReadState` with this context will follow (unless leadership is lost first). */
export type ReadIndexResult =
  { readonly ok: true } | NotLeader | { readonly ok: false; readonly code: ReadIndexRefusal };

export type TransferResult =
  { readonly ok: true } | NotLeader | { readonly ok: false; readonly code: 'NOT_A_VOTER' };

/** Why a message had no effect; never an error of the caller, just a fact for metrics and tests. */
export type StepResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: 'WRONG_RECIPIENT' | 'STALE_TERM' | 'IGNORED' };

/** What a node is built from. */
export interface RaftInit {
  readonly id: NodeId;
  /** What the store recovered (or `bootstrapState(...)` for a founding member). */
  readonly state: PersistentState;
  /** This node's own stream (`prng.fork()`); it draws the randomised election timeouts. */
  readonly prng: Prng;
  /** The index the application's state already reflects, when it keeps its own durable state. */
  readonly applied?: LogIndex;
}

/** A node's state for status pages, tests and checkers. */
export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly vote: NodeId | null;
  readonly leader: NodeId | null;
  readonly commit: LogIndex;
  readonly applied: LogIndex;
  readonly firstIndex: LogIndex;
  readonly lastIndex: LogIndex;
  readonly config: ConfigState;
}
