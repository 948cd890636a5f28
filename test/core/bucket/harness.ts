// A hand-driven cluster of bucket replicas for scripted tests: messages wait in a FIFO "wire" until
// the test delivers (or drops) them, every Ready is carried out at once (persist + sync, then send),
// and crashes go through MemoryBucketStore's crash model. Nothing here is random unless a test
// passes draws to `crash`.
import assert from 'node:assert/strict';
import {
  BucketReplica,
  MemoryBucketStore,
  bucketBugs,
  clientId,
  defaultReplicaOptions,
  type BucketMessage,
  type ClientReply,
  type ClientRequest,
  type CrashDraws,
  type Government,
  type KvCommand,
  type ReplicaEvent,
  type ReplicaOptions,
  type AppliedEntry,
  type BucketBug,
} from '../../../src/core/bucket/index.js';
import { bucketId, epoch, nodeId, type NodeId } from '../../../src/core/lib/ids.js';

export const BUCKET = bucketId(7);
export const n = (id: number): NodeId => nodeId(id);
export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array | null | undefined): string | null =>
  b === null || b === undefined ? null : new TextDecoder().decode(b);

export function gov(
  e: number,
  leader: number | null,
  followers: number[],
  learners: number[] = [],
): Government {
  return {
    bucket: BUCKET,
    epoch: epoch(e),
    leader: leader === null ? null : n(leader),
    followers: followers.map(n),
    learners: learners.map(n),
  };
}

export interface Wire {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly message: BucketMessage;
}

interface Node {
  replica: BucketReplica | null;
  readonly store: MemoryBucketStore;
}

export class Cluster {
  readonly nodes = new Map<number, Node>();
  wire: Wire[] = [];
  readonly replies: ClientReply[] = [];
  readonly events: { node: number; event: ReplicaEvent }[] = [];
  readonly applied: { node: number; applied: AppliedEntry }[] = [];
  /** Links that drop everything: "from>to". */
  readonly cut = new Set<string>();
  // Read ids start far from write seqs, so `repliesTo` never mixes them up.
  private nextRequest = 1_000_000;
  private boots = 0;

  constructor(
    ids: number[],
    readonly options: ReplicaOptions = defaultReplicaOptions,
  ) {
    for (const id of ids) {
      const store = new MemoryBucketStore();
      this.nodes.set(id, { replica: null, store });
      this.boot(id);
    }
  }

  static withBugs(
    ids: number[],
    bugs: BucketBug[],
    options: Partial<ReplicaOptions> = {},
  ): Cluster {
    for (const b of bugs) assert.ok(bucketBugs.includes(b));
    return new Cluster(ids, { ...defaultReplicaOptions, ...options, bugs: new Set(bugs) });
  }

  replica(id: number): BucketReplica {
    const r = this.nodes.get(id)?.replica;
    assert.ok(r !== null && r !== undefined, `node ${id} is down`);
    return r;
  }

  store(id: number): MemoryBucketStore {
    return (this.nodes.get(id) as Node).store;
  }

  private boot(id: number): void {
    const node = this.nodes.get(id) as Node;
    node.replica = new BucketReplica({
      id: n(id),
      bucket: BUCKET,
      boot: this.boots++,
      stored: node.store.load(),
      options: this.options,
    });
    this.flush(id);
  }

  /** Carries out every Ready of node `id` until it has none. */
  flush(id: number): void {
    const replica = this.nodes.get(id)?.replica;
    if (replica === null || replica === undefined) return;
    for (let ready = replica.ready(); ready !== null; ready = replica.ready()) {
      const store = this.store(id);
      store.persist(ready.persist);
      store.sync();
      for (const m of ready.messages) this.wire.push({ from: n(id), to: m.to, message: m.message });
      this.replies.push(...ready.replies);
      for (const event of ready.events) this.events.push({ node: id, event });
      for (const applied of ready.applied) this.applied.push({ node: id, applied });
      replica.advance(ready);
    }
  }

  edict(g: Government, to: number[] = [...this.nodes.keys()]): void {
    for (const id of to) {
      const r = this.nodes.get(id)?.replica;
      if (r === null || r === undefined) continue;
      r.onGovernment(g);
      this.flush(id);
    }
  }

  /** Delivers messages in FIFO order until the wire is empty (or `max` deliveries). */
  deliver(max = 10_000, keep: (w: Wire) => boolean = () => true): number {
    let count = 0;
    while (this.wire.length > 0 && count < max) {
      const w = this.wire.shift() as Wire;
      count += 1;
      if (this.cut.has(`${w.from}>${w.to}`) || !keep(w)) continue;
      const r = this.nodes.get(w.to)?.replica;
      if (r === null || r === undefined) continue;
      r.step(w.from, w.message);
      this.flush(w.to);
    }
    return count;
  }

  /** Ticks every live node (or `ids`) `times` times, delivering messages after each round. */
  tick(times = 1, ids: number[] = [...this.nodes.keys()]): void {
    for (let t = 0; t < times; t++) {
      for (const id of ids) {
        const r = this.nodes.get(id)?.replica;
        if (r === null || r === undefined) continue;
        r.tick();
        this.flush(id);
      }
      this.deliver();
    }
  }

  /** Ticks until `done()` holds, at most `max` rounds; returns the rounds taken. */
  tickUntil(done: () => boolean, max = 200, ids?: number[]): number {
    for (let t = 0; t < max; t++) {
      if (done()) return t;
      this.tick(1, ids);
    }
    assert.ok(done(), `condition not reached in ${max} ticks`);
    return max;
  }

  isolate(id: number): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  crash(id: number, draws: CrashDraws = { chance: () => false, int: () => 0 }): void {
    const node = this.nodes.get(id) as Node;
    node.replica = null;
    node.store.crash(draws);
  }

  restart(id: number): void {
    this.boot(id);
  }

  /** A write of session `client`; `ackedBelow` defaults to 1 (the client acknowledged nothing). */
  write(at: number, client: number, seq: number, command: KvCommand, ackedBelow = 1): void {
    const request: ClientRequest = {
      kind: 'write',
      bucket: BUCKET,
      clientId: clientId(client),
      seq,
      ackedBelow,
      command,
    };
    this.replica(at).request(request);
    this.flush(at);
  }

  put(at: number, client: number, seq: number, key: string, value: string): void {
    this.write(at, client, seq, { op: 'put', key, value: enc(value) });
  }

  read(at: number, client: number, key: string): number {
    const requestId = this.nextRequest++;
    this.replica(at).request({
      kind: 'read',
      bucket: BUCKET,
      clientId: clientId(client),
      requestId,
      key,
    });
    this.flush(at);
    return requestId;
  }

  /** Replies to `client` for `requestId` (a read's id or a write's seq). */
  repliesTo(client: number, requestId: number): ClientReply[] {
    return this.replies.filter((r) => r.clientId === client && r.requestId === requestId);
  }

  eventsOf(kind: ReplicaEvent['kind']): { node: number; event: ReplicaEvent }[] {
    return this.events.filter((e) => e.event.kind === kind);
  }

  /** Boots a government and ticks until its leader activates. */
  start(g: Government): void {
    this.edict(g);
    const leader = g.leader as number;
    this.tickUntil(() => this.replica(leader).status().activated, 200);
  }
}
