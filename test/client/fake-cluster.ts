// A fake cluster for the client tests: N real transport servers on 127.0.0.1 serving the client
// protocol, sharing one in-memory store (with session dedup), each "leading" the buckets a shared
// routing table gives it and answering WRONG_LEADER (with the leader and the map version) for the
// others. Tests move leadership, bump the map version, stop nodes, inject lost and duplicated
// answers, and expire sessions in the store (which allocates their ids). It is
// a stand-in for the node server, not a model of replication: the store is one copy.
import { bucketOf } from '../../src/core/directory/routing.js';
import { EdictError } from '../../src/errors.js';
import type { IncomingRequest, RequestContext } from '../../src/net/handlers.js';
import { silentLogger } from '../../src/net/options.js';
import { defaultServerOptions, Server } from '../../src/net/server.js';
import { createClientProtocolHandler } from '../../src/server/client-protocol.js';
import {
  staleMap,
  wrongLeader,
  type ClusterStatus,
  type KvCallContext,
  type KvService,
  type RoutingTable,
  type Versioned,
  type WriteConditions,
} from '../../src/server/kv-service.js';
import { MemoryKv } from '../server/memory-kv.js';
import type { Cleanup } from '../net/helpers.js';

/**
 * A fault applied to the next write(s) a node serves, after the store applied it: the answer comes
 * late, or never (the connection closes, or the node stops), or the request is served a second time
 * as a duplicated copy would be and only the second answer is sent. `before` runs first (for
 * instance to expire the session once the write is applied).
 */
export type AnswerFault = (
  | { kind: 'delay'; ms: number }
  | { kind: 'close' }
  | { kind: 'crash' } // stop the node and close the connection: the answer is never sent
  | { kind: 'duplicate' }
) & { before?: () => void };

export class FakeNode {
  server: Server | null = null;
  address = '';
  /** Requests answered by this node, by type. */
  readonly served = new Map<string, number>();
  /** Requests this node refused with WRONG_LEADER or STALE_MAP. */
  redirected = 0;
  /** Faults for the next writes, first first. */
  readonly faults: AnswerFault[] = [];
  /** Set by a 'crash' fault: the node's stop, for the test to await. */
  stopped: Promise<void> | null = null;

  constructor(
    readonly id: number,
    private readonly cluster: FakeCluster,
  ) {}

  count(type: string): number {
    return this.served.get(type) ?? 0;
  }

  async start(port = 0): Promise<void> {
    const handler = createClientProtocolHandler({ service: new NodeService(this.cluster, this) });
    const server = new Server(
      {
        logger: silentLogger,
        onRequest: async (request: IncomingRequest, context: RequestContext) => {
          const serve = async (): Promise<unknown> => {
            let result: unknown;
            try {
              result = await handler(request, context);
            } catch (error) {
              const code = error instanceof EdictError ? error.code : '';
              if (code === 'WRONG_LEADER' || code === 'STALE_MAP') this.redirected += 1;
              throw error;
            }
            this.served.set(request.type, this.count(request.type) + 1);
            return result;
          };
          const result = await serve();
          if (request.type === 'kv.put' || request.type === 'kv.delete') {
            return this.maybeFault(context, result, serve);
          }
          return result;
        },
      },
      {
        localId: `n${this.id}`,
        options: { ...defaultServerOptions, port, closeTimeoutMs: 300 },
      },
    );
    const address = await server.start();
    this.server = server;
    this.address = `127.0.0.1:${address.port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    await server?.stop();
  }

  private async maybeFault(
    context: RequestContext,
    result: unknown,
    serve: () => Promise<unknown>,
  ): Promise<unknown> {
    const fault = this.faults.shift();
    if (fault === undefined) return result;
    fault.before?.();
    if (fault.kind === 'crash') this.stopped = this.stop();
    if (fault.kind === 'close' || fault.kind === 'crash') {
      context.connection.close();
      return result;
    }
    if (fault.kind === 'duplicate') return serve();
    await new Promise((resolve) => setTimeout(resolve, fault.ms));
    return result;
  }
}

/** One node's view of the cluster: it serves the keys whose bucket it leads. */
class NodeService implements KvService {
  constructor(
    private readonly cluster: FakeCluster,
    private readonly node: FakeNode,
  ) {}

  private route(key: Uint8Array, context: KvCallContext | undefined): void {
    const table = this.cluster.table;
    const bucket = bucketOf(key, table.buckets.length);
    const leader = table.buckets[bucket]?.leader ?? null;
    if (leader !== this.node.id) throw wrongLeader(bucket, leader, table.mapVersion);
    const seen = context?.mapVersion;
    if (this.cluster.strictMaps && seen !== undefined && seen < table.mapVersion) {
      throw staleMap(seen, table.mapVersion);
    }
  }

  async get(key: Uint8Array, context?: KvCallContext): Promise<Versioned | null> {
    this.route(key, context);
    return this.cluster.store.get(key);
  }

  async put(
    key: Uint8Array,
    value: Uint8Array,
    conditions: WriteConditions,
    context?: KvCallContext,
  ): Promise<{ version: number }> {
    this.route(key, context);
    return this.cluster.store.put(key, value, conditions, context);
  }

  async delete(
    key: Uint8Array,
    conditions: WriteConditions,
    context?: KvCallContext,
  ): Promise<{ version: number } | null> {
    this.route(key, context);
    return this.cluster.store.delete(key, conditions, context);
  }

  async openSession(): Promise<{ clientId: number }> {
    const delayMs = this.cluster.sessionOpenDelayMs;
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    return this.cluster.store.openSession();
  }

  async status(): Promise<ClusterStatus> {
    return {
      health: 'green',
      mapVersion: this.cluster.table.mapVersion,
      nodes: [],
      buckets: this.cluster.table.buckets.length,
      transitions: 0,
    };
  }

  async map(): Promise<RoutingTable> {
    return this.cluster.table;
  }

  async drain(): Promise<void> {
    throw new EdictError('BAD_REQUEST', 'not in the fake');
  }
}

export class FakeCluster {
  readonly store = new MemoryKv();
  readonly nodes: FakeNode[] = [];
  table: RoutingTable = { mapVersion: 1, nodes: [], buckets: [] };
  /** When set, a request routed by an older map is refused with STALE_MAP. */
  strictMaps = false;
  /** How long `session.open` takes, in milliseconds (as a metadata-log round trip would). */
  sessionOpenDelayMs = 0;

  /** Starts `nodeCount` nodes; bucket b is led by node (b mod nodeCount) + 1. */
  static async start(cleanup: Cleanup, nodeCount = 3, bucketCount = 16): Promise<FakeCluster> {
    const cluster = new FakeCluster();
    for (let id = 1; id <= nodeCount; id += 1) {
      const node = new FakeNode(id, cluster);
      cluster.nodes.push(node);
      await node.start();
      cleanup.add(() => node.stop());
    }
    const leaders = Array.from({ length: bucketCount }, (_, b) => (b % nodeCount) + 1);
    cluster.install(1, leaders);
    return cluster;
  }

  node(id: number): FakeNode {
    return this.nodes[id - 1] as FakeNode;
  }

  /** The node id leading each bucket now. */
  leaders(): Array<number | null> {
    return this.table.buckets.map((entry) => entry.leader);
  }

  /** Installs a new table with these leaders and map version. */
  install(mapVersion: number, leaders: ReadonlyArray<number | null>): void {
    this.table = {
      mapVersion,
      nodes: this.nodes.map((node) => ({ id: node.id, address: node.address })),
      buckets: leaders.map((leader, bucket) => ({
        bucket,
        epoch: mapVersion,
        leader,
        followers: [],
        learners: [],
      })),
    };
  }

  /** Moves every bucket led by `from` to `to`, bumping the map version. */
  moveLeadership(from: number, to: number): void {
    const leaders = this.leaders().map((leader) => (leader === from ? to : leader));
    this.install(this.table.mapVersion + 1, leaders);
  }

  /** The node that leads `key`'s bucket now. */
  leaderOf(key: string): FakeNode {
    const bucket = bucketOf(new TextEncoder().encode(key), this.table.buckets.length);
    return this.node(this.table.buckets[bucket]?.leader as number);
  }

  /** Answers served by all nodes, for one type. */
  served(type: string): number {
    return this.nodes.reduce((sum, node) => sum + node.count(type), 0);
  }

  redirected(): number {
    return this.nodes.reduce((sum, node) => sum + node.redirected, 0);
  }
}
