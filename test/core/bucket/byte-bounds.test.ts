// Byte bounds of what a bucket leader sends: append batches (`appendBytesMax`), the pipeline
// (`pipelineBytesMax`) and snapshot chunks (`snapshotChunkBytesMax`), each at least one entry or
// key whatever its size, so that a maximal value still goes alone. Method: the scripted cluster of
// harness.ts with small budgets and values of a few dozen KiB; every message on the wire is
// measured with the same estimate (wire-size.ts) the replica cuts by, and every write must still
// commit and every key reach the learner intact. The options' validation is table-driven.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  clientId,
  defaultReplicaOptions,
  validateReplicaOptions,
  type AppendMessage,
  type ReplicaOptions,
  type SnapshotChunkMessage,
  type SnapshotImage,
} from '../../../src/core/bucket/index.js';
import { SnapshotSender } from '../../../src/core/bucket/backfill.js';
import {
  entryBytes,
  sessionsBytes,
  snapshotItemBytes,
} from '../../../src/core/bucket/wire-size.js';
import { epoch, logIndex } from '../../../src/core/lib/ids.js';
import { VALUE_BYTES_MAX } from '../../../src/core/lib/limits.js';
import { BUCKET, Cluster, gov, type Wire } from './harness.js';

const KiB = 1024;

/** A value of `bytes` bytes, distinct per `tag`. */
function value(tag: number, bytes: number): Uint8Array {
  return new Uint8Array(bytes).fill(tag % 256);
}

/** Queues writes at the leader without cutting a Ready, so that they leave in one batch. */
function proposeAll(c: Cluster, at: number, client: number, sizes: readonly number[]): void {
  sizes.forEach((bytes, i) => {
    c.replica(at).request({
      kind: 'write',
      bucket: BUCKET,
      clientId: clientId(client),
      seq: i + 1,
      ackedBelow: 1,
      command: { op: 'put', key: `k${i}`, value: value(i, bytes) },
    });
  });
  c.flush(at);
}

function appendsOn(wire: readonly Wire[], to: number): AppendMessage[] {
  return wire
    .filter((w) => w.to === to && w.message.type === 'append')
    .map((w) => w.message as AppendMessage);
}

function batchBytes(m: AppendMessage): number {
  return m.entries.reduce((sum, e) => sum + entryBytes(e), 0);
}

describe('append batches', () => {
  const options: ReplicaOptions = {
    ...defaultReplicaOptions,
    appendBytesMax: 100 * KiB,
    pipelineBytesMax: 400 * KiB,
  };

  test('an append carries at most appendBytesMax of entries; a larger entry goes alone', () => {
    // A pipeline wide enough for every entry: only the batch bound cuts.
    const c = new Cluster([1, 2, 3], { ...options, pipelineBytesMax: 4 * 1024 * KiB });
    c.start(gov(1, 1, [2, 3]));
    c.wire = [];
    const sizes = [30, 30, 30, 30, 250, 30, 30, 10, 10].map((k) => k * KiB);
    proposeAll(c, 1, 100, sizes);
    const appends = appendsOn(c.wire, 2).filter((m) => m.entries.length > 0);
    assert.ok(appends.length >= 4, `${appends.length} appends`);
    for (const m of appends) {
      if (m.entries.length > 1) assert.ok(batchBytes(m) <= options.appendBytesMax);
    }
    const alone = appends.find((m) => batchBytes(m) > options.appendBytesMax);
    assert.equal(alone?.entries.length, 1, 'the 250 KiB entry travels alone');
    assert.equal(
      appends.reduce((n, m) => n + m.entries.length, 0),
      sizes.length,
      'every entry sent once, in order',
    );
    c.tick(5);
    for (let seq = 1; seq <= sizes.length; seq++) {
      assert.equal(c.repliesTo(100, seq)[0]?.body.ok, true, `write ${seq} answered`);
    }
    assert.deepEqual(c.replica(3).peek('k4')?.value, value(4, 250 * KiB));
  });

  test('at most pipelineBytesMax in flight to a member; the rest goes as acks come back', () => {
    const c = new Cluster([1, 2, 3], options);
    c.start(gov(1, 1, [2, 3]));
    c.wire = [];
    const sizes = Array.from({ length: 20 }, () => 60 * KiB);
    proposeAll(c, 1, 100, sizes);
    const inFlight = appendsOn(c.wire, 2).reduce((sum, m) => sum + batchBytes(m), 0);
    assert.ok(inFlight > 0 && inFlight <= options.pipelineBytesMax, `${inFlight} bytes`);
    assert.ok(inFlight < sizes.length * 60 * KiB, 'not everything at once');
    c.tickUntil(() => c.repliesTo(100, sizes.length).length > 0, 50);
    for (let seq = 1; seq <= sizes.length; seq++) {
      assert.equal(c.repliesTo(100, seq)[0]?.body.ok, true, `write ${seq} answered`);
    }
  });

  test('a value larger than every budget still replicates, alone', () => {
    const tiny = { ...options, appendBytesMax: 1 * KiB, pipelineBytesMax: 1 * KiB };
    const c = new Cluster([1, 2], tiny);
    c.start(gov(1, 1, [2]));
    c.wire = [];
    proposeAll(c, 1, 100, [200 * KiB, 200 * KiB]);
    const first = appendsOn(c.wire, 2).filter((m) => m.entries.length > 0);
    assert.deepEqual(
      first.map((m) => m.entries.length),
      [1],
      'one entry in flight',
    );
    c.tickUntil(() => c.repliesTo(100, 2).length > 0, 50);
    assert.equal(c.repliesTo(100, 1)[0]?.body.ok, true);
    assert.equal(c.repliesTo(100, 2)[0]?.body.ok, true);
  });
});

describe('resends', () => {
  test('a large entry in flight is resent less often than a small one', () => {
    const options: ReplicaOptions = {
      ...defaultReplicaOptions,
      appendBytesMax: 50 * KiB,
      pipelineBytesMax: 100 * KiB,
    };
    const resends = (bytes: number): number => {
      const c = new Cluster([1, 2], options);
      c.start(gov(1, 1, [2]));
      c.wire = [];
      proposeAll(c, 1, 100, [bytes]);
      let sent = 0;
      // The member never answers: count the copies the leader sends in 60 ticks.
      for (let t = 0; t < 60; t++) {
        sent += appendsOn(c.wire, 2).filter((m) => m.entries.length > 0).length;
        c.wire = [];
        c.replica(1).tick();
        c.flush(1);
      }
      return sent;
    };
    const small = resends(1 * KiB);
    const large = resends(250 * KiB); // two full pipelines in flight: every third resend
    assert.ok(small >= 9, `${small} copies of a small entry`);
    assert.ok(large * 2 < small, `${large} copies of a large entry, ${small} of a small one`);
  });
});

describe('snapshot chunks', () => {
  test('a chunk carries at most snapshotChunkBytesMax of keys; a larger key goes alone', () => {
    const options: ReplicaOptions = {
      ...defaultReplicaOptions,
      snapshotChunkItemsMax: 64,
      snapshotChunkBytesMax: 100 * KiB,
    };
    const c = new Cluster([1, 2, 3], options);
    c.start(gov(1, 1, [2]));
    const sizes = [40, 40, 40, 250, 40, 1, 1, 1].map((k) => k * KiB);
    sizes.forEach((bytes, i) =>
      c.write(1, 100, i + 1, { op: 'put', key: `k${i}`, value: value(i, bytes) }),
    );
    c.tick(3);
    c.edict(gov(2, 1, [2], [3]));
    const chunks: SnapshotChunkMessage[] = [];
    const spy = (w: Wire): boolean => {
      if (w.message.type === 'snapshot-chunk') chunks.push(w.message);
      return true;
    };
    for (let t = 0; t < 100 && c.eventsOf('caught-up').length === 0; t++) {
      c.deliver(10_000, spy);
      for (const id of [1, 2, 3]) {
        c.replica(id).tick();
        c.flush(id);
      }
    }
    assert.ok(c.eventsOf('caught-up').length > 0, 'the learner caught up');
    assert.ok(chunks.length >= 4, `${chunks.length} chunks`);
    for (const m of chunks) {
      const bytes = m.items.reduce((sum, item) => sum + snapshotItemBytes(item), 0);
      if (m.items.length > 1) assert.ok(bytes <= options.snapshotChunkBytesMax, `${bytes}`);
    }
    c.tick(3);
    sizes.forEach((bytes, i) => {
      assert.deepEqual(c.replica(3).peek(`k${i}`)?.value, value(i, bytes), `k${i}`);
    });
  });

  test('sessions that do not fit beside the last keys go in a chunk of their own', () => {
    const item = (i: number, bytes: number) => ({
      key: `k${i}`,
      value: value(i, bytes),
      version: logIndex(i + 1),
    });
    const results = Array.from({ length: 200 }, (_, i) => ({
      seq: i + 1,
      result: {
        op: 'put' as const,
        ok: true,
        at: { epoch: epoch(1), index: logIndex(i + 1) },
      },
    }));
    const image: SnapshotImage = {
      base: { epoch: epoch(1), index: logIndex(10) },
      items: [item(0, 30 * KiB), item(1, 30 * KiB), item(2, 30 * KiB)],
      sessions: [{ clientId: clientId(5), floor: 1, results, touched: logIndex(9) }],
      sessionFloor: 0,
    };
    const limits = { itemsMax: 64, bytesMax: 100 * KiB };
    assert.ok(sessionsBytes(image.sessions) > 10 * KiB, 'the sessions need room');
    const sender = new SnapshotSender(BUCKET, epoch(1), 1, image, limits, 0);
    const first = sender.chunk(0);
    assert.equal(first.items.length, 3, 'every key fits the first chunk');
    assert.equal(first.done, false, 'but not with the sessions');
    assert.deepEqual(first.sessions, []);
    const ack = { type: 'snapshot-ack', bucket: BUCKET, epoch: epoch(1), snapshot: 1 } as const;
    assert.equal(sender.onAck({ ...ack, next: 3, installed: false }), true);
    const last = sender.chunk(1);
    assert.equal(last.offset, 3);
    assert.deepEqual(last.items, []);
    assert.equal(last.done, true);
    assert.equal(last.sessions.length, 1);
  });

  test('small sessions ride on the last chunk of keys', () => {
    const image: SnapshotImage = {
      base: { epoch: epoch(1), index: logIndex(2) },
      items: [{ key: 'a', value: value(1, 10), version: logIndex(1) }],
      sessions: [{ clientId: clientId(5), floor: 1, results: [], touched: logIndex(1) }],
      sessionFloor: 0,
    };
    const sender = new SnapshotSender(BUCKET, epoch(1), 1, image, { itemsMax: 1, bytesMax: 1 }, 0);
    const only = sender.chunk(0);
    assert.equal(only.items.length, 1, 'one key even over the byte budget');
    assert.equal(only.done, false, 'the sessions follow alone');
  });
});

describe('validation of the byte options', () => {
  const cases: [string, Partial<ReplicaOptions>][] = [
    ['appendBytesMax must be positive', { appendBytesMax: 0 }],
    ['pipelineBytesMax must be an integer', { pipelineBytesMax: 1.5 }],
    ['snapshotChunkBytesMax must be positive', { snapshotChunkBytesMax: -1 }],
    [
      'a batch fits in the pipeline bytes',
      { appendBytesMax: 2 * 1024 * KiB, pipelineBytesMax: 1024 * KiB },
    ],
    [
      'an append batch fits a frame',
      { appendBytesMax: VALUE_BYTES_MAX + 1, pipelineBytesMax: 2 * VALUE_BYTES_MAX },
    ],
    ['a snapshot chunk fits a frame', { snapshotChunkBytesMax: VALUE_BYTES_MAX + 1 }],
    ['every session fits one chunk', { sessionResultsTotalMax: 1 << 20 }],
  ];
  for (const [message, change] of cases) {
    test(message, () => {
      assert.throws(
        () => validateReplicaOptions({ ...defaultReplicaOptions, ...change }),
        (error: Error) => error.message.includes(message),
      );
    });
  }

  test('the defaults are valid', () => {
    validateReplicaOptions(defaultReplicaOptions);
  });
});
