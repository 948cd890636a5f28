/**
 * The client's copy of the routing table (`cluster.map`): which node leads each bucket, and where
 * each node listens. A table received from a node is validated before it is used, and a table
 * never replaces a newer one (map versions only grow), so answers that arrive out of order cannot
 * take the client back in time.
 */
import { bucketOf } from '../core/directory/routing.js';
import { EdictError } from '../errors.js';
import type { RoutingEntry, RoutingTable } from '../cluster-types.js';

/** Largest routing table accepted, in buckets; far above the default of 1,024. */
export const ROUTING_BUCKETS_MAX = 1 << 20;

export class RouteCache {
  private table: RoutingTable | null = null;
  private readonly addresses = new Map<number, string>();

  /** The version of the cached table; 0 before the first. */
  get mapVersion(): number {
    return this.table?.mapVersion ?? 0;
  }

  /** The cached table, or null before the first. */
  get current(): RoutingTable | null {
    return this.table;
  }

  /**
   * Installs `table` if it is valid and not older than the cached one. Returns whether it did; a
   * malformed table is an `INTERNAL` error (the node is broken, not the client).
   */
  maybeInstall(table: unknown): boolean {
    const valid = validateTable(table);
    if (this.table !== null && valid.mapVersion < this.table.mapVersion) return false;
    this.table = valid;
    this.addresses.clear();
    for (const node of valid.nodes) this.addresses.set(node.id, node.address);
    return true;
  }

  /**
   * Where a request for `key` should go: the address of its bucket's leader, or null when the
   * table is empty (a node then routes for us), or the bucket has no leader now.
   */
  leaderAddress(key: Uint8Array): { bucket: number; address: string | null } | null {
    const table = this.table;
    if (table === null || table.buckets.length === 0) return null;
    const bucket = bucketOf(key, table.buckets.length);
    const entry = table.buckets[bucket] as RoutingEntry;
    return { bucket, address: entry.leader === null ? null : this.addressOf(entry.leader) };
  }

  /** The address of node `id`, or null if the table does not list it. */
  addressOf(id: number): string | null {
    return this.addresses.get(id) ?? null;
  }

  /** Every node address in the table, in node id order. */
  nodeAddresses(): string[] {
    return [...this.addresses.entries()].sort((a, b) => a[0] - b[0]).map(([, address]) => address);
  }
}

/** Checks the shape of a routing table; every bucket `i` must sit at index `i`. */
export function validateTable(value: unknown): RoutingTable {
  const fail = (what: string): never => {
    throw new EdictError('INTERNAL', `malformed routing table: ${what}`);
  };
  if (typeof value !== 'object' || value === null) return fail('not a map');
  const { mapVersion, nodes, buckets } = value as Record<string, unknown>;
  if (!isCount(mapVersion)) fail('mapVersion');
  if (!Array.isArray(nodes)) return fail('nodes');
  if (!Array.isArray(buckets) || buckets.length > ROUTING_BUCKETS_MAX) return fail('buckets');
  const ids = new Set<number>();
  for (const node of nodes as unknown[]) {
    const { id, address } = (node ?? {}) as Record<string, unknown>;
    if (!isCount(id) || typeof address !== 'string' || ids.has(id)) fail('a node');
    ids.add(id as number);
  }
  (buckets as unknown[]).forEach((entry, index) => {
    const { bucket, leader } = (entry ?? {}) as Record<string, unknown>;
    if (bucket !== index) fail(`bucket ${index} is out of place`);
    if (leader !== null && !isCount(leader)) fail(`the leader of bucket ${index}`);
  });
  return value as RoutingTable;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
