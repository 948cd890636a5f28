/**
 * What the node's front ends (HTTP API, client protocol) ask of the cluster. The node server
 * implements it by routing each key to its bucket's leader; tests implement it in memory. Every
 * method either resolves or rejects with an error carrying a stable `code` (see `ServiceErrorCode`).
 */

/** A stored value and the version that wrote it. Versions of one key only grow. */
export interface Versioned {
  readonly value: Uint8Array;
  readonly version: number;
}

/** Conditions of a write: a compare-and-set on the version, or create-only. */
export interface WriteConditions {
  /** Apply only if the key's current version is this one. */
  readonly ifVersion?: number;
  /** Apply only if the key exists (`true`) or does not exist (`false`). */
  readonly ifExists?: boolean;
}

export interface NodeStatus {
  readonly id: number;
  readonly address: string;
  readonly zone: string;
  readonly state: string;
  readonly leaders: number;
  readonly replicas: number;
}

export interface ClusterStatus {
  /** green: every bucket at full strength; yellow: some below their replica count; red: some without a leader. */
  readonly health: 'green' | 'yellow' | 'red';
  readonly mapVersion: number;
  readonly nodes: readonly NodeStatus[];
  readonly buckets: number;
  readonly transitions: number;
}

export interface RoutingEntry {
  readonly bucket: number;
  readonly epoch: number;
  readonly leader: number | null;
  readonly followers: readonly number[];
  readonly learners: readonly number[];
}

export interface RoutingTable {
  readonly mapVersion: number;
  readonly nodes: readonly { readonly id: number; readonly address: string }[];
  readonly buckets: readonly RoutingEntry[];
}

export interface KvService {
  get(key: Uint8Array): Promise<Versioned | null>;
  put(
    key: Uint8Array,
    value: Uint8Array,
    conditions: WriteConditions,
  ): Promise<{ version: number }>;
  delete(key: Uint8Array, conditions: WriteConditions): Promise<{ version: number } | null>;
  status(): Promise<ClusterStatus>;
  map(): Promise<RoutingTable>;
  /** Asks the conductor to move every bucket off `node`; resolves once the request is recorded. */
  drain(node: number): Promise<void>;
}

/**
 * A KvService rejects with an `EdictError` (src/errors.ts): `CONDITION_FAILED` when a write's
 * condition did not hold, `UNAVAILABLE` when no leader can be reached now (retry later), `TIMEOUT`
 * when the outcome is unknown, `KEY_TOO_LARGE`/`VALUE_TOO_LARGE`/`BAD_REQUEST` for bad input,
 * `UNKNOWN_NODE` for a drain of a node that is not a member.
 */
export type { ErrorCode as ServiceErrorCode } from '../errors.js';
