/**
 * The cluster's public shapes that both ends of the client protocol and the HTTP API share: the
 * routing table and the status report. They live outside `server/` and `client/` so that neither
 * depends on the other.
 */

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
