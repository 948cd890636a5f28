/**
 * One simulated Edict node for the `cluster` scenario: the real NodeCore (src/core/node) on a
 * SimHost, its metadata log on the host's SimDisk (SimDiskRaftStore: unsynced writes are lost in a
 * crash), its buckets in MemoryBucketStores with the same crash model.
 *
 * The driver keeps the Ready order of the real server: write everything the Ready persists, wait
 * for the simulated fsync, then send its messages and answer its clients, then `advance`. One Ready
 * is in flight at a time; ticks and messages keep reaching the core meanwhile.
 */
import { MemoryBucketStore, type StoredBucket } from '../../src/core/bucket/index.js';
import type { NodeId } from '../../src/core/lib/ids.js';
import type { Prng } from '../../src/core/lib/prng.js';
import {
  NodeCore,
  needsPersist,
  type NodeOptions,
  type NodeReady,
} from '../../src/core/node/index.js';
import type { KvReply, KvRequest, NodeMessage } from '../../src/core/node/messages.js';
import { bootstrapState } from '../../src/core/raft/index.js';
import type { SimHost } from '../host.js';
import type { SimNetwork } from '../network.js';
import { SimDiskRaftStore } from '../raft/disk-store.js';

/** What clients and nodes say to each other. */
export type ClientWire =
  | { readonly t: 'req'; readonly reqId: number; readonly request: KvRequest }
  | { readonly t: 'res'; readonly reqId: number; readonly reply: KvReply };

/** Sees every Ready (before it is carried out) and every durable one, for the checkers. */
export interface ClusterObserver {
  onReady(node: SimClusterNode, ready: NodeReady): void;
  onDurable(node: SimClusterNode, ready: NodeReady): void;
}

export interface SimClusterNodeEnv {
  readonly network: SimNetwork<NodeMessage>;
  readonly clients: SimNetwork<ClientWire>;
  readonly options: NodeOptions;
  /** Where a node that knows no member sends its join. */
  readonly seeds: readonly NodeId[];
  /** The founding configuration, for founding nodes; null for nodes that join. */
  readonly founding: {
    readonly voters: readonly NodeId[];
    readonly bucketCount: number;
    readonly replicas: number;
  } | null;
  readonly zone: string;
  readonly fsyncMs: () => number;
  readonly crashPrng: Prng;
  readonly prng: Prng;
  readonly observer: ClusterObserver;
}

export class SimClusterNode {
  core: NodeCore | null = null;
  private readonly raftStore: SimDiskRaftStore;
  private readonly bucketStores = new Map<number, MemoryBucketStore>();
  private busy = false;
  private nextHandle = 1;
  private readonly handles = new Map<number, { client: number; reqId: number }>();

  constructor(
    readonly id: NodeId,
    readonly host: SimHost,
    private readonly env: SimClusterNodeEnv,
  ) {
    this.raftStore = new SimDiskRaftStore(host.disk);
  }

  /** SimHost `boot`: a new process, rebuilt from its disk only. */
  boot(): void {
    const env = this.env;
    let state = this.raftStore.load();
    const fresh =
      state.hardState.term === 0 && state.entries.length === 0 && state.snapshot === null;
    if (fresh && env.founding !== null) {
      this.raftStore.write(bootstrapState(env.founding.voters));
      this.raftStore.sync();
      state = this.raftStore.load();
    }
    const buckets = new Map<number, StoredBucket>();
    for (const [bucket, store] of this.bucketStores) buckets.set(bucket, store.load());
    this.busy = false;
    this.handles.clear();
    this.core = new NodeCore({
      id: this.id,
      profile: {
        address: `sim-${this.id}`,
        zone: env.zone,
        rack: `r${this.id}`,
        weight: 1,
        // A simulated disk is never replaced: one storage id per node.
        storageId: `sim-disk-${this.id}`,
      },
      incarnation: (this.host.incarnation + 1) * 1_000_000,
      raft: state,
      buckets,
      founding:
        env.founding === null
          ? null
          : { bucketCount: env.founding.bucketCount, replicas: env.founding.replicas },
      prng: env.prng.fork(),
      options: env.options,
    });
    env.network.attach(this.id, (from, m) => {
      this.core?.step(from as NodeId, m);
      this.pump();
    });
    env.clients.attach(this.id, (from, m) => {
      if (m.t !== 'req' || this.core === null) return;
      const handle = this.nextHandle++;
      this.handles.set(handle, { client: from, reqId: m.reqId });
      this.core.submit(handle, m.request);
      this.pump();
    });
    this.host.startTicking(() => {
      this.core?.tick();
      this.pump();
    });
    this.pump();
  }

  /** A connection to `peer` was refused (its process is gone, its host answers). */
  peerRefused(peer: NodeId): void {
    if (this.core === null || !this.host.up) return;
    this.core.peerRefused(peer);
    this.pump();
  }

  /** SimHost `halt`: the process died; unsynced bucket writes are lost. */
  halt(): void {
    this.env.network.detach(this.id);
    this.env.clients.detach(this.id);
    this.core = null;
    this.busy = false;
    for (const store of this.bucketStores.values()) store.crash(this.env.crashPrng);
  }

  private store(bucket: number): MemoryBucketStore {
    let store = this.bucketStores.get(bucket);
    if (store === undefined) {
      store = new MemoryBucketStore();
      this.bucketStores.set(bucket, store);
    }
    return store;
  }

  private pump(): void {
    const core = this.core;
    while (core !== null && this.core === core && !this.busy) {
      const ready = core.ready();
      if (ready === null) return;
      this.env.observer.onReady(this, ready);
      if (!needsPersist(ready)) {
        // Lazy commit indexes: staged, durable with the next sync (or lost in a crash).
        for (const { bucket, ready: r } of ready.buckets) {
          if (r.persist.length > 0) this.store(bucket).persist(r.persist);
        }
        this.finish(core, ready);
        continue;
      }
      if (ready.raft !== null) this.raftStore.write(ready.raft);
      for (const { bucket, ready: r } of ready.buckets) {
        if (r.persist.length > 0) this.store(bucket).persist(r.persist);
      }
      this.busy = true;
      this.host.schedule(this.env.fsyncMs(), 'fsync', () => {
        if (this.core !== core) return;
        this.raftStore.sync();
        for (const { bucket } of ready.buckets) this.bucketStores.get(bucket)?.sync();
        if (ready.compact !== null) this.raftStore.compact(ready.compact);
        this.env.observer.onDurable(this, ready);
        this.busy = false;
        this.finish(core, ready);
        this.pump();
      });
    }
  }

  private finish(core: NodeCore, ready: NodeReady): void {
    const net = this.env.network;
    for (const { to, message } of ready.messages) {
      const label = message.t === 'raft' ? `raft ${message.m.type}` : message.t;
      if (to === 'seeds') {
        for (const seed of this.env.seeds)
          if (seed !== this.id) net.send(this.id, seed, message, label);
      } else if (to !== this.id) {
        net.send(this.id, to, message, label);
      }
    }
    for (const { handle, reply } of ready.replies) {
      const h = this.handles.get(handle);
      if (h === undefined) continue;
      this.handles.delete(handle);
      this.env.clients.send(this.id, h.client, { t: 'res', reqId: h.reqId, reply }, 'res');
    }
    core.advance(ready);
  }
}
