/**
 * The driver of one bucket replica on a SimHost: what the node process's runtime will do with a
 * real clock, disk and network, here on the simulator's.
 *
 * It carries out each Ready in the order the core requires: stage `persist` in the store, wait for
 * the simulated fsync (the store syncs when it completes), then send the messages, replies and
 * events, then `advance`. One Ready at a time; inputs that arrive meanwhile accumulate in the core
 * and go out together in the next Ready (group commit). A crash drops the pending fsync (SimHost
 * drops a dead incarnation's events) and loses whatever the store had not synced.
 */
import type { Prng } from '../../src/core/lib/prng.js';
import {
  BucketReplica,
  type BucketId,
  type BucketMessage,
  type ClientReply,
  type ClientRequest,
  type Epoch,
  type Government,
  type MemoryBucketStore,
  type NodeId,
  type Ready,
  type ReplicaEvent,
  type ReplicaOptions,
} from '../../src/core/bucket/index.js';
import type { SimHost } from '../host.js';
import type { SimNetwork } from '../network.js';

/** Everything that travels on the bucket scenario's network. */
export type BucketSimMessage =
  | { readonly t: 'peer'; readonly m: BucketMessage }
  | { readonly t: 'request'; readonly request: ClientRequest }
  | { readonly t: 'reply'; readonly reply: ClientReply }
  | { readonly t: 'edict'; readonly government: Government }
  | { readonly t: 'pause'; readonly epoch: Epoch }
  | { readonly t: 'event'; readonly event: ReplicaEvent };

/** Who watches every Ready (the checkers): when it is cut, and once its persist is durable. */
export interface ReadyObserver {
  onReady(node: NodeId, replica: BucketReplica, ready: Ready): void;
  onDurable(node: NodeId, ready: Ready): void;
}

export interface SimBucketNodeEnv {
  readonly bucket: BucketId;
  readonly network: SimNetwork<BucketSimMessage>;
  readonly options: ReplicaOptions;
  /** The conductor's endpoint, where events are reported. */
  readonly conductor: number;
  /** Simulated fsync latency, drawn per sync. */
  readonly fsyncMs: () => number;
  /** Draws for the store's crash model. */
  readonly crashPrng: Prng;
  readonly observer: ReadyObserver;
}

export class SimBucketNode {
  replica: BucketReplica | null = null;
  private busy = false;

  constructor(
    readonly id: NodeId,
    readonly host: SimHost,
    readonly store: MemoryBucketStore,
    private readonly env: SimBucketNodeEnv,
  ) {}

  /** SimHost `boot`: a new process, built from the store only. */
  boot(): void {
    this.busy = false;
    this.replica = new BucketReplica({
      id: this.id,
      bucket: this.env.bucket,
      boot: this.host.incarnation,
      stored: this.store.load(),
      options: this.env.options,
    });
    this.env.network.attach(this.id, (from, m) => this.onMessage(from, m));
    this.host.startTicking(() => {
      this.replica?.tick();
      this.pump();
    });
    this.pump();
  }

  /** SimHost `halt`: the process died. */
  halt(): void {
    this.env.network.detach(this.id);
    this.replica = null;
    this.busy = false;
    this.store.crash(this.env.crashPrng);
  }

  private onMessage(from: number, message: BucketSimMessage): void {
    const replica = this.replica;
    if (replica === null) return;
    switch (message.t) {
      case 'peer':
        replica.step(from as NodeId, message.m);
        break;
      case 'request':
        replica.request(message.request);
        break;
      case 'edict':
        replica.onGovernment(message.government);
        break;
      case 'pause':
        replica.pause(message.epoch);
        break;
      case 'reply':
      case 'event':
        return;
    }
    this.pump();
  }

  /** Takes the next Ready, if none is being carried out. */
  private pump(): void {
    const replica = this.replica;
    if (replica === null || this.busy) return;
    const ready = replica.ready();
    if (ready === null) return;
    this.busy = true;
    this.env.observer.onReady(this.id, replica, ready);
    if (ready.persist.length === 0) return this.finish(replica, ready);
    this.store.persist(ready.persist);
    this.host.schedule(this.env.fsyncMs(), 'fsync', () => {
      this.store.sync();
      this.finish(replica, ready);
    });
  }

  private finish(replica: BucketReplica, ready: Ready): void {
    if (this.replica !== replica) return;
    this.env.observer.onDurable(this.id, ready);
    const net = this.env.network;
    for (const { to, message } of ready.messages) {
      net.send(this.id, to, { t: 'peer', m: message }, message.type);
    }
    for (const reply of ready.replies) {
      net.send(this.id, reply.clientId, { t: 'reply', reply }, `reply ${reply.kind}`);
    }
    for (const event of ready.events) {
      net.send(this.id, this.env.conductor, { t: 'event', event }, event.kind);
    }
    replica.advance(ready);
    this.busy = false;
    this.pump();
  }
}
