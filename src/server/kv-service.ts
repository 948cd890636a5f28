/**
 * What the node's front ends (HTTP API, client protocol) ask of the cluster. The node server
 * implements it by routing each key to its bucket's leader; tests implement it in memory. Every
 * method either resolves or rejects with an error carrying a stable `code` (see `ServiceErrorCode`).
 */
import type { ClusterStatus, RoutingTable } from '../cluster-types.js';
import { EdictError } from '../errors.js';

export type { ClusterStatus, NodeStatus, RoutingEntry, RoutingTable } from '../cluster-types.js';

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

/**
 * A client session's stamp on a write, for exactly-once retries (DESIGN.md 1 and 4.5). A client
 * opens a session ({@link KvService.openSession}), numbers its writes 1, 2, 3, ... and sends a
 * retried write with the same `seq`; the service applies each (clientId, seq) at most once and
 * answers a repeat with the first result (value or error).
 *
 * Sessions live in each bucket's session table, which is bounded: a bucket that does not know
 * `clientId` and finds it at or below its eviction floor answers `SESSION_EXPIRED` (not applied;
 * the client opens a new session); a `seq` below the session's `ackedBelow` floor at the bucket is
 * answered `STALE_SEQ` (outcome unknown).
 */
export interface ClientSession {
  /** The id {@link KvService.openSession} allocated: a positive safe integer. */
  readonly clientId: number;
  /** Positive, unique per write of this session; a retry reuses it. */
  readonly seq: number;
  /**
   * Every seq of this session below this one has been answered to the client (or given up on), so
   * the service may forget their results and must not apply them if they arrive late. From 1 to
   * `seq`; a session's floor only moves up.
   */
  readonly ackedBelow: number;
}

/** What a front end knows about a request beyond its key and value. */
export interface KvCallContext {
  /** The client's session stamp; writes only. Without one, a retried write may apply twice. */
  readonly session?: ClientSession;
  /**
   * The version of the routing table the client routed by. A service that finds it older than its
   * own may answer `STALE_MAP` or `WRONG_LEADER` with `details.mapVersion`.
   */
  readonly mapVersion?: number;
}

/**
 * The cluster as the front ends see it. Routing is the service's job: when this node does not lead
 * the key's bucket and cannot forward the request, it rejects with {@link wrongLeader} (the client
 * then refreshes its routing table and retries there).
 */
export interface KvService {
  get(key: Uint8Array, context?: KvCallContext): Promise<Versioned | null>;
  put(
    key: Uint8Array,
    value: Uint8Array,
    conditions: WriteConditions,
    context?: KvCallContext,
  ): Promise<{ version: number }>;
  delete(
    key: Uint8Array,
    conditions: WriteConditions,
    context?: KvCallContext,
  ): Promise<{ version: number } | null>;
  /**
   * Opens a client session: allocates a cluster-unique client id (through the metadata log on a
   * node), a positive safe integer, larger than every id allocated before it. Nothing is stored per
   * session until its first write reaches a bucket. Retrying after an unknown outcome is safe: at
   * worst an id is allocated and never used.
   */
  openSession(): Promise<{ clientId: number }>;
  status(): Promise<ClusterStatus>;
  map(): Promise<RoutingTable>;
  /** Asks the conductor to move every bucket off `node`; resolves once the request is recorded. */
  drain(node: number): Promise<void>;
}

/**
 * The error a service raises for a key whose bucket this node does not lead: `leaderHint` is the
 * leader's node id when known (else null), `mapVersion` the version of this node's routing table.
 */
export function wrongLeader(
  bucket: number,
  leaderHint: number | null,
  mapVersion: number,
): EdictError {
  return new EdictError('WRONG_LEADER', `this node does not lead bucket ${bucket}`, {
    bucket,
    leaderHint,
    mapVersion,
  });
}

/** The error a service raises when the request was routed by a routing table older than its own. */
export function staleMap(clientMapVersion: number, mapVersion: number): EdictError {
  return new EdictError(
    'STALE_MAP',
    `routed by map version ${clientMapVersion}; the current one is ${mapVersion}`,
    { mapVersion },
  );
}

/**
 * A KvService rejects with an `EdictError` (src/errors.ts): `CONDITION_FAILED` when a write's
 * condition did not hold, `UNAVAILABLE` when no leader can be reached now (retry later), `TIMEOUT`
 * when the outcome is unknown, `KEY_TOO_LARGE`/`VALUE_TOO_LARGE`/`BAD_REQUEST` for bad input,
 * `UNKNOWN_NODE` for a drain of a node that is not a member, `WRONG_LEADER` ({@link wrongLeader})
 * when this node does not lead the key's bucket, `STALE_MAP` ({@link staleMap}) when the request
 * was routed by an older routing table and this node will not serve it, `SESSION_EXPIRED` when the
 * write's session is unknown to its bucket (not applied; the client opens a new session),
 * `STALE_SEQ` when the write's seq is below its session's floor at the bucket (outcome unknown).
 */
export type { ErrorCode as ServiceErrorCode } from '../errors.js';
