// A single NodeCore driven in memory: it bootstraps itself, appoints itself leader of every
// bucket, serves reads and writes, allocates session ids, and answers every request exactly once
// (bad input at once, a flood with QUEUE_FULL, the rest before their deadline).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBucketStore } from '../../../src/core/bucket/store.js';
import { persistBytes } from '../../../src/core/bucket/wire-size.js';
import { bucketOf } from '../../../src/core/directory/routing.js';
import { nodeId } from '../../../src/core/lib/ids.js';
import { Prng } from '../../../src/core/lib/prng.js';
import {
  NodeCore,
  defaultNodeOptions,
  type KvReply,
  type KvRequest,
  type NodeOptions,
  type NodeReady,
} from '../../../src/core/node/index.js';
import { MemoryRaftStore, bootstrapState } from '../../../src/core/raft/index.js';

const encoder = new TextEncoder();
const key = (s: string): Uint8Array => encoder.encode(s);

class OneNode {
  readonly core: NodeCore;
  readonly raft = new MemoryRaftStore();
  readonly buckets = new Map<number, MemoryBucketStore>();
  readonly replies = new Map<number, KvReply[]>();
  private handle = 0;

  constructor(options: NodeOptions = defaultNodeOptions) {
    this.raft.write(bootstrapState([nodeId(1)]));
    this.core = new NodeCore({
      id: nodeId(1),
      profile: { address: 'mem:1', zone: 'z', rack: 'r', weight: 1, storageId: 's1' },
      incarnation: 1_000_000,
      raft: this.raft.load(),
      buckets: new Map(),
      founding: { bucketCount: 8, replicas: 1 },
      prng: new Prng(7),
      options,
    });
  }

  submit(request: KvRequest): number {
    this.handle += 1;
    this.core.submit(this.handle, request);
    return this.handle;
  }

  /** Carries out every Ready, one at a time, showing each to `observe` first. */
  pump(observe: (ready: NodeReady) => void = () => {}): void {
    for (let ready = this.core.ready(); ready !== null; ready = this.core.ready()) {
      observe(ready);
      if (ready.raft !== null) this.raft.write(ready.raft);
      for (const { bucket, ready: r } of ready.buckets) {
        let store = this.buckets.get(bucket);
        if (store === undefined) this.buckets.set(bucket, (store = new MemoryBucketStore()));
        store.persist(r.persist);
        store.sync();
      }
      if (ready.compact !== null) this.raft.compact(ready.compact);
      for (const { handle, reply } of ready.replies) {
        this.replies.set(handle, [...(this.replies.get(handle) ?? []), reply]);
      }
      assert.deepEqual(
        ready.messages.filter((m) => m.to !== 'seeds'),
        [],
        'a lone node sends nothing to peers',
      );
      this.core.advance(ready);
    }
  }

  ticks(n: number): void {
    for (let i = 0; i < n; i++) {
      this.core.tick();
      this.pump();
    }
  }

  answer(handle: number): KvReply {
    const replies = this.replies.get(handle) ?? [];
    assert.equal(replies.length, 1, `request ${handle} answered ${replies.length} times`);
    return replies[0] as KvReply;
  }
}

describe('node core, one node', () => {
  test('bootstraps, leads every bucket, and serves writes, reads and sessions', () => {
    const n = new OneNode();
    n.ticks(200);
    const d = n.core.view.state();
    assert.equal(d.bucketCount, 8);
    assert.ok(
      d.buckets.every((g) => g.leader === nodeId(1)),
      JSON.stringify(d.buckets),
    );
    const session = n.submit({ op: 'open-session' });
    n.ticks(5);
    const opened = n.answer(session);
    assert.ok(opened.ok && opened.op === 'open-session' && opened.clientId === 1);
    const stamp = { clientId: 1, seq: 1, ackedBelow: 1 };
    const put = n.submit({
      op: 'put',
      key: key('a'),
      value: key('x'),
      conditions: {},
      session: stamp,
    });
    n.ticks(5);
    const written = n.answer(put);
    assert.ok(written.ok && written.op === 'put' && written.version !== null);
    // The same (clientId, seq) again: answered with the first result, not applied twice.
    const again = n.submit({
      op: 'put',
      key: key('a'),
      value: key('x'),
      conditions: {},
      session: stamp,
    });
    n.ticks(5);
    assert.deepEqual(n.answer(again), written);
    const get = n.submit({ op: 'get', key: key('a') });
    n.ticks(5);
    const read = n.answer(get);
    assert.ok(read.ok && read.op === 'get');
    assert.deepEqual([...(read.value ?? [])], [...key('x')]);
    assert.equal(read.version, written.version);
    // A sessionless write (HTTP) uses the node's own session.
    const plain = n.submit({
      op: 'put',
      key: key('b'),
      value: key('y'),
      conditions: {},
      session: null,
    });
    n.ticks(10);
    assert.equal(n.answer(plain).ok, true);
  });

  test('bad input is refused at once with BAD_REQUEST', () => {
    const n = new OneNode();
    n.ticks(200);
    const empty = n.submit({ op: 'get', key: new Uint8Array(0) });
    const huge = n.submit({ op: 'get', key: new Uint8Array(5000) });
    const badStamp = n.submit({
      op: 'put',
      key: key('k'),
      value: key('v'),
      conditions: {},
      session: { clientId: 1, seq: 2, ackedBelow: 3 },
    });
    n.pump();
    for (const h of [empty, huge, badStamp]) {
      const reply = n.answer(h);
      assert.ok(!reply.ok && reply.code === 'BAD_REQUEST', JSON.stringify(reply));
    }
  });

  test('before bootstrap a request is UNAVAILABLE; beyond the pending limit QUEUE_FULL', () => {
    const n = new OneNode({ ...defaultNodeOptions, pendingRequestsMax: 3 });
    const early = n.submit({ op: 'get', key: key('a') });
    n.pump();
    const reply = n.answer(early);
    assert.ok(!reply.ok && reply.code === 'UNAVAILABLE');
    n.ticks(200);
    const gets = [1, 2, 3, 4].map((i) => n.submit({ op: 'get', key: key(`k${i}`) }));
    n.pump();
    const full = n.answer(gets[3] as number);
    assert.ok(!full.ok && full.code === 'QUEUE_FULL', JSON.stringify(full));
    n.ticks(5);
    for (const h of gets.slice(0, 3)) assert.equal(n.answer(h).ok, true);
  });

  test('writes past pendingWriteBytesMax are QUEUE_FULL until earlier ones are answered', () => {
    const n = new OneNode({ ...defaultNodeOptions, pendingWriteBytesMax: 16 * 1024 * 1024 });
    n.ticks(200);
    const value = new Uint8Array(5 * 1024 * 1024);
    const puts = [1, 2, 3, 4].map((i) =>
      n.submit({ op: 'put', key: key(`big${i}`), value, conditions: {}, session: null }),
    );
    const small = n.submit({ op: 'get', key: key('big1') });
    n.pump();
    const refused = n.answer(puts[3] as number);
    assert.ok(!refused.ok && refused.code === 'QUEUE_FULL', JSON.stringify(refused));
    n.ticks(5);
    for (const h of puts.slice(0, 3)) assert.equal(n.answer(h).ok, true);
    assert.equal(n.answer(small).ok, true, 'reads are not counted');
    const again = n.submit({ op: 'put', key: key('big4'), value, conditions: {}, session: null });
    n.ticks(5);
    assert.equal(n.answer(again).ok, true, 'answered writes free their bytes');
  });

  test('a Ready carries at most readyPersistBytesMax of bucket writes (and one bucket at least)', () => {
    const budget = 2 * 1024 * 1024;
    const n = new OneNode({ ...defaultNodeOptions, readyPersistBytesMax: budget });
    n.ticks(200);
    const value = new Uint8Array(1024 * 1024);
    const keys = Array.from({ length: 64 }, (_, i) => `wide${i}`);
    const byBucket = new Map<number, string>();
    for (const k of keys) byBucket.set(bucketOf(key(k), 8), k);
    assert.ok(byBucket.size >= 5, `keys in ${byBucket.size} buckets`);
    const puts = [...byBucket.values()].map((k) =>
      n.submit({ op: 'put', key: key(k), value, conditions: {}, session: null }),
    );
    // One Ready at a time, as a driver does: none stages much more than the budget.
    const sizes: number[] = [];
    const drain = (): void =>
      n.pump((ready) => {
        const each = ready.buckets.map((b) => persistBytes(b.ready.persist));
        const bytes = each.reduce((a, b) => a + b, 0);
        assert.ok(bytes < budget + Math.max(0, ...each), `a Ready of ${bytes} bytes`);
        if (bytes > 512 * 1024) sizes.push(bytes);
      });
    for (let i = 0; i < 50 && puts.some((h) => !n.replies.has(h)); i++) {
      drain();
      n.core.tick();
    }
    drain();
    assert.ok(sizes.length >= 3, `the writes went in ${sizes.length} Readies: ${sizes.join(', ')}`);
    for (const h of puts) assert.equal(n.answer(h).ok, true);
  });

  test('a drain of a node that does not exist is UNKNOWN_NODE', () => {
    const n = new OneNode();
    n.ticks(200);
    const h = n.submit({ op: 'drain', node: nodeId(9) });
    n.pump();
    const reply = n.answer(h);
    assert.ok(!reply.ok && reply.code === 'UNKNOWN_NODE', JSON.stringify(reply));
  });
});
