/**
 * What nodes say to each other and what a node's front ends ask of it (docs/protocols.md, "Node
 * messages"). Plain immutable data: it crosses the simulator's network by reference and the real
 * one as msgpack. Receivers never mutate a message and validate it before use (validate.ts).
 */
import type { BucketMessage } from '../bucket/types.js';
import type { NodeRecord } from '../directory/types.js';
import type { NodeId } from '../lib/ids.js';
import type { Message as RaftMessage } from '../raft/types.js';

/** How a node describes itself when it registers: everything but its state. */
export type NodeProfile = Omit<NodeRecord, 'state' | 'id' | 'incarnation'>;

/** A report of a bucket leader to the metadata leader (see ReplicaEvent). */
export type Report =
  | { readonly kind: 'activated'; readonly bucket: number; readonly epoch: number }
  | {
      readonly kind: 'caught-up';
      readonly bucket: number;
      readonly epoch: number;
      readonly node: NodeId;
    }
  | { readonly kind: 'drained'; readonly bucket: number; readonly epoch: number };

/** A client session's stamp on a write (DESIGN.md 4.5): exactly-once per (clientId, seq). */
export interface SessionStamp {
  readonly clientId: number;
  readonly seq: number;
  /** Every seq below this one is answered or given up on; 1 ≤ ackedBelow ≤ seq. */
  readonly ackedBelow: number;
}

/** Conditions of a write; absent fields impose nothing. */
export interface WriteConditions {
  /** The key's current version must be this one. */
  readonly ifVersion?: number;
  /** The key must exist (true) or must not (false). */
  readonly ifExists?: boolean;
}

/** A request to a node from one of its front ends (client protocol, HTTP), or hopped from a peer. */
export type KvRequest =
  | { readonly op: 'get'; readonly key: Uint8Array }
  | {
      readonly op: 'put';
      readonly key: Uint8Array;
      readonly value: Uint8Array;
      readonly conditions: WriteConditions;
      /** Null: the node stamps the write with its own session (one attempt, no client retry). */
      readonly session: SessionStamp | null;
    }
  | {
      readonly op: 'delete';
      readonly key: Uint8Array;
      readonly conditions: WriteConditions;
      readonly session: SessionStamp | null;
    }
  | { readonly op: 'open-session' }
  | { readonly op: 'drain'; readonly node: NodeId };

/** Stable codes of a refused or failed request; see src/errors.ts for each contract. */
export type KvErrorCode =
  | 'WRONG_LEADER'
  | 'QUEUE_FULL'
  | 'UNAVAILABLE'
  | 'TIMEOUT'
  | 'STALE_SEQ'
  | 'SESSION_EXPIRED'
  | 'CONDITION_FAILED'
  | 'UNKNOWN_NODE'
  | 'BAD_REQUEST';

export type KvReply =
  | {
      readonly ok: true;
      readonly op: 'get';
      readonly value: Uint8Array | null;
      readonly version: number;
    }
  /** A put's version; a delete's version, or null when the key was absent. */
  | { readonly ok: true; readonly op: 'put' | 'delete'; readonly version: number | null }
  | { readonly ok: true; readonly op: 'open-session'; readonly clientId: number }
  | { readonly ok: true; readonly op: 'drain' }
  | {
      readonly ok: false;
      readonly code: KvErrorCode;
      readonly message: string;
      /** For WRONG_LEADER: the node believed to lead the key's bucket. */
      readonly leaderHint: NodeId | null;
    };

/** Everything one node sends another. */
export type NodeMessage =
  | { readonly t: 'raft'; readonly m: RaftMessage }
  /** Every bucket message of one Ready for one peer, in order, in one frame. */
  | { readonly t: 'bucket'; readonly ms: readonly BucketMessage[] }
  /** To the metadata leader every `heartbeatTicks`: "this incarnation of me is alive". */
  | { readonly t: 'heartbeat'; readonly incarnation: number }
  /** To the metadata leader (or a seed) until the directory lists this incarnation. */
  | {
      readonly t: 'join';
      readonly id: NodeId;
      readonly incarnation: number;
      readonly profile: NodeProfile;
    }
  | { readonly t: 'report'; readonly reports: readonly Report[] }
  /** To the metadata leader from a node shutting down: declare this incarnation dead now. */
  | { readonly t: 'leaving'; readonly incarnation: number }
  /** Metadata leader → bucket leader: prepare the planned handover of `epoch` (rule A4). */
  | { readonly t: 'pause'; readonly bucket: number; readonly epoch: number }
  /** A request hopped to the node that can serve it; answered by `answer` with the same ref. */
  | { readonly t: 'hop'; readonly ref: number; readonly request: KvRequest }
  | { readonly t: 'answer'; readonly ref: number; readonly reply: KvReply };

/** Where a message goes: a node, or "any seed" for a node that knows no member yet. */
export type Destination = NodeId | 'seeds';

export interface NodeOutbound {
  readonly to: Destination;
  readonly message: NodeMessage;
}
