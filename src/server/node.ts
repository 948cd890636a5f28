/**
 * The node process (DESIGN.md 4.7): the deterministic node core (src/core/node) driven by real
 * time, real disks and real sockets.
 *
 * - Storage: `<data>/node.json` (identity and a durable boot counter), `<data>/raft` (the metadata
 *   log, LMDB), `<data>/buckets` (every bucket replica's log, one group-committed segment log).
 * - Transport: one TCP port (`listen`) for clients (the client protocol) and for peers (one-way
 *   `node` messages carrying a NodeMessage); the HTTP API on its own port (`http`).
 * - Time: the core ticks every `tickMs` (10 ms).
 *
 * The driver keeps the core's Ready order: write the Ready's metadata-log and bucket records, make
 * them durable (one fdatasync per store), then send its messages and answer its requests, then
 * `advance`. Everything runs on the event loop, one Ready at a time; a Ready batches whatever
 * arrived while the previous one was being written (group commit).
 *
 * Shutdown (`stop`, SIGTERM): the node tells the metadata leader it is leaving, which declares it
 * dead at once so its buckets get new leaders without waiting for the failure detector; it waits
 * (bounded) until it leads no bucket, then closes its ports and stores. A restart recovers from
 * disk and registers again with a new incarnation, through the `--join` addresses and the members
 * its recovered directory lists.
 */
import { mkdirSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Registry, Gauge, collectDefaultMetrics } from 'prom-client';
import type { StoredBucket } from '../core/bucket/store.js';
import { nodeId, type NodeId } from '../core/lib/ids.js';
import { FRAME_BYTES_MAX } from '../core/lib/limits.js';
import { Prng } from '../core/lib/prng.js';
import {
  NodeCore,
  defaultNodeOptions,
  needsPersist,
  type KvReply,
  type KvRequest,
  type NodeMessage,
  type NodeOptions,
  type NodeReady,
} from '../core/node/index.js';
import { bootstrapState } from '../core/raft/index.js';
import { EdictError } from '../errors.js';
import { Server, defaultServerOptions } from '../net/server.js';
import { Peer, defaultPeerOptions } from '../net/peer.js';
import type { Logger } from '../net/options.js';
import type { IncomingRequest, RequestContext } from '../net/handlers.js';
import { openBucketLog, type NodeBucketLog } from '../storage/bucket-log.js';
import { openNodeMeta } from '../storage/node-meta.js';
import { LmdbRaftStore } from '../storage/raft-store.js';
import { createClientProtocolHandler, isClientRequestType } from './client-protocol.js';
import { createHttpApi } from './http-api.js';
import { NodeKvService } from './node-kv-service.js';
import { validateNodeMessage } from './node-messages.js';

/**
 * Connections to other nodes. Their outbound queue holds one maximal frame besides the ordinary
 * 4 MiB: with the default bound a frame larger than 4 MiB (an append or chunk with one large
 * value) is accepted only into an empty queue, and while it drains every other message to that
 * peer — heartbeats, acknowledgements, Raft — would be refused and dropped.
 */
const NODE_PEER_OPTIONS = {
  ...defaultPeerOptions,
  outboundBytesMax: defaultPeerOptions.outboundBytesMax + FRAME_BYTES_MAX,
};

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface NodeServerConfig {
  readonly id: number;
  /** The client and peer protocol port. */
  readonly listen: HostPort;
  /** The HTTP API's port; null for none. */
  readonly http: HostPort | null;
  /** The address peers and clients use to reach `listen` (default: `listen`). */
  readonly advertise?: string;
  readonly data: string;
  /** Addresses of members to join through; empty for the first node, which bootstraps. */
  readonly join: readonly string[];
  readonly zone: string;
  readonly rack: string;
  readonly weight: number;
  /** Buckets and replicas of a new cluster (used by the first node only). */
  readonly bucketCount: number;
  readonly replicas: number;
  readonly logger: Logger;
  readonly tickMs?: number;
  readonly options?: NodeOptions;
}

/** The peer-protocol message type that carries NodeMessages. */
export const NODE_MESSAGE_TYPE = 'node';
const CLUSTER_ID = 'edict';
/** Addresses remembered from peers' messages. */
const LEARNED_MAX = 4096;
/** Longest wait for leaderships to move away on shutdown. */
const HANDOFF_MS = 3000;

export function parseHostPort(text: string): HostPort {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text.trim());
  const port = match === null ? Number.NaN : Number(match[2]);
  if (match === null || !(port >= 0 && port <= 65535)) {
    throw new EdictError('BAD_REQUEST', `'${text}' is not host:port`);
  }
  return { host: (match[1] as string).replace(/^\[|\]$/g, ''), port };
}

/**
 * A port that cannot be bound is the operator's to fix, not a fault of the node: UNAVAILABLE,
 * naming the address and the flag that chose it (other errors pass through).
 */
function listenFailure(error: unknown, at: HostPort | null, flag: string): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (at === null || typeof code !== 'string') return error;
  const address = `${at.host}:${at.port}`;
  const why: Record<string, string> = {
    EADDRINUSE: 'is in use',
    EACCES: 'is not permitted',
    EADDRNOTAVAIL: 'is not an address of this machine',
  };
  const text = why[code];
  if (text === undefined) return error;
  return new EdictError('UNAVAILABLE', `cannot listen on ${address} (${flag}): it ${text}`);
}

export class NodeServer {
  readonly id: NodeId;
  readonly service: NodeKvService;
  readonly registry = new Registry();
  /** Built once the port is bound (its address is part of the node's profile). */
  private core!: NodeCore;
  private booted = false;
  private readonly raftStore: LmdbRaftStore;
  private readonly buckets: NodeBucketLog;
  private readonly server: Server;
  private http: HttpServer | null = null;
  private readonly peers = new Map<string, Peer>();
  private ticker: NodeJS.Timeout | null = null;
  private pumping = false;
  private pumpScheduled = false;
  /** The Ready being carried out, if any; close() waits for it before closing the stores. */
  private persisting: Promise<void> | null = null;
  private nextHandle = 1;
  private readonly waiting = new Map<number, (reply: KvReply) => void>();
  private stopped = false;
  private listenAddress: AddressInfo | null = null;
  private httpAddress: AddressInfo | null = null;

  private readonly boot: number;
  private readonly storageId: string;
  private readonly stored: Map<number, StoredBucket>;

  private constructor(private readonly config: NodeServerConfig) {
    this.id = nodeId(config.id);
    const logger = config.logger;
    mkdirSync(config.data, { recursive: true });
    const meta = openNodeMeta(config.data, { nodeId: config.id, clusterId: CLUSTER_ID });
    const boot = meta.bumpBoot();
    this.storageId = meta.identity.storageId;
    this.raftStore = new LmdbRaftStore({ path: path.join(config.data, 'raft') });
    const state = this.raftStore.load();
    const fresh =
      state.hardState.term === 0 && state.entries.length === 0 && state.snapshot === null;
    const founding = fresh && config.join.length === 0;
    if (founding) {
      this.raftStore.write(bootstrapState([this.id]));
      this.raftStore.sync();
    }
    this.buckets = openBucketLog(path.join(config.data, 'buckets'));
    const stored = new Map<number, StoredBucket>();
    for (const bucket of this.buckets.buckets())
      stored.set(bucket, this.buckets.store(bucket).load());
    this.boot = boot;
    this.stored = stored;
    this.service = new NodeKvService(
      () => this.core,
      (request) => this.submit(request),
    );
    const clientHandler = createClientProtocolHandler({ service: this.service });
    this.server = new Server(
      {
        logger,
        onRequest: (request, context) => {
          if (isClientRequestType(request.type)) return clientHandler(request, context);
          return Promise.reject(new EdictError('BAD_REQUEST', `unknown request '${request.type}'`));
        },
        onMessage: (message, context) => this.onPeerMessage(message, context),
      },
      {
        localId: `node-${config.id}`,
        options: { ...defaultServerOptions, host: config.listen.host, port: config.listen.port },
      },
    );
    this.setUpMetrics();
    logger.info({ id: config.id, boot, founding }, 'node opened its storage');
  }

  /** Opens storage, listens, and starts ticking. */
  static async start(config: NodeServerConfig): Promise<NodeServer> {
    const node = new NodeServer(config);
    try {
      node.listenAddress = await node.server.start().catch((error: unknown) => {
        throw listenFailure(error, config.listen, '--listen');
      });
      node.bootCore();
      if (config.http !== null) {
        const http = createServer(
          createHttpApi({ service: node.service, registry: node.registry }),
        );
        await new Promise<void>((resolve, reject) => {
          http.once('error', (error) => reject(listenFailure(error, config.http, '--http')));
          http.listen({ host: config.http?.host, port: config.http?.port }, () => {
            http.off('error', reject);
            resolve();
          });
        });
        node.http = http;
        node.httpAddress = http.address() as AddressInfo;
      }
    } catch (error) {
      await node.close();
      throw error;
    }
    const tickMs = config.tickMs ?? 10;
    node.ticker = setInterval(() => {
      node.core.tick();
      node.schedulePump();
    }, tickMs);
    node.pump();
    return node;
  }

  private bootCore(): void {
    const seed = BigInt(this.boot) * 1_000_003n + BigInt(this.config.id);
    this.core = new NodeCore({
      id: this.id,
      profile: {
        address: this.advertised,
        zone: this.config.zone,
        rack: this.config.rack,
        weight: this.config.weight,
        storageId: this.storageId,
      },
      incarnation: this.boot * 1_000_000,
      raft: this.raftStore.load(),
      buckets: this.stored,
      // Every node can bootstrap the directory if it ever leads a log that lacks it; only the
      // first node's log starts without a leader to join.
      founding: { bucketCount: this.config.bucketCount, replicas: this.config.replicas },
      prng: new Prng(seed),
      options: this.config.options ?? defaultNodeOptions,
    });
    this.booted = true;
  }

  get address(): AddressInfo {
    return this.listenAddress as AddressInfo;
  }

  get httpAddressInfo(): AddressInfo | null {
    return this.httpAddress;
  }

  get nodeCore(): NodeCore {
    return this.core;
  }

  /** Hands leaderships off (bounded by HANDOFF_MS), then stops. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    const deadline = Date.now() + HANDOFF_MS;
    this.core.leave();
    this.pump();
    while (Date.now() < deadline && this.leadsAnything()) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await this.close();
  }

  /** Stops at once, as a crash would (tests use it to model a kill). */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
    for (const resolve of this.waiting.values()) {
      resolve({
        ok: false,
        code: 'UNAVAILABLE',
        message: 'the node is stopping',
        leaderHint: null,
      });
    }
    this.waiting.clear();
    const http = this.http;
    if (http !== null) {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
    await Promise.all([...this.peers.values()].map((p) => p.stop()));
    await this.server.stop();
    await this.persisting;
    this.buckets.close();
    await this.raftStore.close();
  }

  private leadsAnything(): boolean {
    const count = this.core.view.state().bucketCount;
    for (let b = 0; b < count; b++) if (this.core.replicaOf(b)?.role === 'leader') return true;
    return false;
  }

  private submit(request: KvRequest): Promise<KvReply> {
    if (this.stopped || !this.booted) {
      return Promise.resolve({
        ok: false,
        code: 'UNAVAILABLE',
        message: 'the node is stopping',
        leaderHint: null,
      });
    }
    const handle = this.nextHandle++;
    return new Promise<KvReply>((resolve) => {
      this.waiting.set(handle, resolve);
      this.core.submit(handle, request);
      this.schedulePump();
    });
  }

  private onPeerMessage(message: IncomingRequest, context: RequestContext): void {
    if (message.type !== NODE_MESSAGE_TYPE || this.stopped || !this.booted) return;
    const parsed = validateNodeMessage(message.body);
    if (!parsed.ok) {
      this.config.logger.warn({ peer: context.peerId, why: parsed.detail }, 'bad node message');
      return;
    }
    const { from, address, message: m } = parsed.value;
    if (this.learned.size < LEARNED_MAX || this.learned.has(from)) this.learned.set(from, address);
    this.core.step(from, m);
    this.schedulePump();
  }

  /**
   * Nothing listens at `address`: the node there is gone (a crashed process's port refuses
   * connections at once). Evidence for the failure detector, which still needs the node silent for
   * two heartbeat intervals; a host that is down or cut off refuses nothing and is found by the
   * timeout alone.
   */
  private onPeerRefused(address: string): void {
    if (this.stopped || !this.booted) return;
    for (const n of this.core.view.state().nodes) {
      if (n.id !== this.id && n.address === address && n.state !== 'removed') {
        this.core.peerRefused(n.id);
      }
    }
    this.schedulePump();
  }

  /**
   * Pumps once the event loop has handled every I/O event that is ready: everything that arrived
   * meanwhile goes into one Ready, written with one fdatasync (group commit).
   */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /**
   * Carries out Readies until there is none: write, make durable (the fdatasyncs run off the event
   * loop, which meanwhile keeps feeding the core — the next Ready batches all of it), send and
   * answer, advance. One Ready at a time.
   */
  private pump(): void {
    if (this.pumping || this.stopped || !this.booted) return;
    this.pumping = true;
    this.persisting = this.pumpLoop()
      .catch((error: unknown) => {
        // A storage failure cannot be retried (a failed fdatasync loses writes): stop the node.
        this.config.logger.error({ error }, 'storage failed; the node stops');
        void this.close();
      })
      .finally(() => {
        this.pumping = false;
        this.persisting = null;
      });
  }

  private async pumpLoop(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const ready = this.core.ready();
      if (ready === null) return;
      if (needsPersist(ready)) await this.persist(ready);
      else this.stageLazy(ready);
      if (this.stopped) return;
      this.deliver(ready);
      this.core.advance(ready);
      this.logMembership();
    }
  }

  /** Node state and incarnation as last logged, by id, and the map version they were read at. */
  private readonly loggedNodes = new Map<NodeId, string>();
  private loggedMapVersion = -1;

  /** Logs, at info, every change of a node's state or incarnation this node's directory applied. */
  private logMembership(): void {
    const view = this.core.view;
    if (view.mapVersion === this.loggedMapVersion) return;
    this.loggedMapVersion = view.mapVersion;
    for (const n of view.state().nodes) {
      const now = `${n.state}/${n.incarnation}`;
      if (this.loggedNodes.get(n.id) === now) continue;
      this.loggedNodes.set(n.id, now);
      this.config.logger.info(
        { id: n.id, state: n.state, incarnation: n.incarnation, address: n.address },
        `node ${n.id} is ${n.state}`,
      );
    }
  }

  /** Stages what needs no sync before the Ready's messages (commit indexes; see needsPersist). */
  private stageLazy(ready: NodeReady): void {
    for (const { bucket, ready: r } of ready.buckets) {
      if (r.persist.length > 0) this.buckets.store(bucket).persist(r.persist);
    }
  }

  private async persist(ready: NodeReady): Promise<void> {
    const raft = ready.raft;
    const raftDurable =
      raft !== null &&
      (raft.entries.length > 0 || raft.hardState !== null || raft.snapshot !== null);
    if (raftDurable) this.raftStore.write(raft);
    let buckets = false;
    for (const { bucket, ready: r } of ready.buckets) {
      if (r.persist.length === 0) continue;
      this.buckets.store(bucket).persist(r.persist);
      buckets = true;
    }
    await Promise.all([
      raftDurable ? this.raftStore.syncAsync() : null,
      buckets ? this.buckets.syncAsync() : null,
    ]);
    if (ready.compact !== null) this.raftStore.compact(ready.compact);
  }

  private deliver(ready: NodeReady): void {
    for (const { to, message } of ready.messages) {
      if (to === 'seeds') {
        for (const address of this.seeds()) this.sendTo(address, message);
      } else if (to !== this.id) {
        const address = this.core.view.node(to)?.address ?? this.learned.get(to);
        const sent = address !== undefined && this.sendTo(address, message);
        // A request hopped into a link that is down was not sent: answered now, not in 5 s.
        if (!sent && message.t === 'hop') this.core.hopUndelivered(to, message.ref);
      }
    }
    for (const { handle, reply } of ready.replies) {
      const resolve = this.waiting.get(handle);
      this.waiting.delete(handle);
      resolve?.(reply);
    }
  }

  /**
   * Where to look for the cluster when this node knows no leader: the `--join` addresses, and every
   * other member its directory lists. A restarted node recovers that directory from disk, so the
   * first node of a cluster, restarted with its original command line (no `--join`), still finds
   * the others.
   */
  private seeds(): Set<string> {
    const seeds = new Set(this.config.join);
    const self = this.advertised;
    for (const n of this.core.view.state().nodes) {
      if (n.id !== this.id && n.state !== 'removed' && n.address !== self) seeds.add(n.address);
    }
    return seeds;
  }

  /** Addresses of nodes not in this node's directory yet (a joiner's view), from their messages. */
  private readonly learned = new Map<NodeId, string>();

  private get advertised(): string {
    return this.config.advertise ?? `${this.config.listen.host}:${this.address.port}`;
  }

  /** Sends `message` to the node at `address`; false when it could not be handed to a link. */
  private sendTo(address: string, message: NodeMessage): boolean {
    let peer = this.peers.get(address);
    if (peer === undefined) {
      const { host, port } = parseHostPort(address);
      peer = new Peer(
        {
          logger: this.config.logger,
          onStateChange: (state, reason) => {
            if (state === 'backoff' && reason?.details?.cause === 'ECONNREFUSED') {
              this.onPeerRefused(address);
            }
          },
        },
        { localId: `node-${this.config.id}`, options: { ...NODE_PEER_OPTIONS, host, port } },
      );
      this.peers.set(address, peer);
      peer.start();
    }
    const connection = peer.connection;
    if (connection === null) return false; // lost; the protocols above retransmit
    try {
      connection.send(NODE_MESSAGE_TYPE, { from: this.id, address: this.advertised, message });
      return true;
    } catch (error) {
      // QUEUE_FULL or closing: dropped like a lost packet; the protocols above resend.
      if (
        error instanceof EdictError &&
        (error.code === 'QUEUE_FULL' || error.code === 'UNAVAILABLE')
      ) {
        return false;
      }
      // Anything else (FRAME_TOO_LARGE, BAD_REQUEST) fails again on every resend, so whatever the
      // message carries would never arrive: a bug of its sender, said loudly, never dropped quietly.
      this.config.logger.error(
        { error, to: address, type: message.t },
        'a node message cannot be sent: it would fail on every resend',
      );
      return false;
    }
  }

  private setUpMetrics(): void {
    const registry = this.registry;
    collectDefaultMetrics({ register: registry });
    const core = (): NodeCore => this.core;
    new Gauge({
      name: 'edict_pending_requests',
      help: 'Requests waiting for an answer on this node',
      registers: [registry],
      collect() {
        this.set(core().pendingRequests);
      },
    });
    new Gauge({
      name: 'edict_map_version',
      help: 'Version of the routing map this node applied',
      registers: [registry],
      collect() {
        this.set(core().mapVersion);
      },
    });
    new Gauge({
      name: 'edict_metadata_commit_index',
      help: 'Commit index of the metadata log on this node',
      registers: [registry],
      collect() {
        this.set(core().raftStatus().commit);
      },
    });
    new Gauge({
      name: 'edict_metadata_leader',
      help: 'The metadata leader this node knows of (0 when none)',
      registers: [registry],
      collect() {
        this.set(core().raftStatus().leader ?? 0);
      },
    });
    new Gauge({
      name: 'edict_bucket_replicas',
      help: 'Bucket replicas on this node, by role',
      labelNames: ['role'],
      registers: [registry],
      collect() {
        const counts = { leader: 0, follower: 0, learner: 0 };
        const c = core();
        const n = c.view.state().bucketCount;
        for (let b = 0; b < n; b++) {
          const role = c.replicaOf(b)?.role;
          if (role === 'leader' || role === 'follower' || role === 'learner') counts[role] += 1;
        }
        for (const [role, v] of Object.entries(counts)) this.set({ role }, v);
      },
    });
  }
}
