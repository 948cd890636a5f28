// The size estimates of wire-size.ts are upper bounds of the real encoding: the replica cuts its
// batches and chunks by them and the node splits its per-peer bundles by them, so an estimate
// below the real size could still build a frame over the limit. Method: random bucket messages
// (fast-check; keys of any UTF-16 code units, values of any size up to 64 KiB, every optional
// field), each encoded by the real codec (src/net/codec.ts) and compared with its estimate; and a
// node message carrying one maximal entry (a 16 MiB value, a 4 KiB key) wrapped in the node
// envelope must fit FRAME_BYTES_MAX.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  clientId,
  type BucketMessage,
  type Government,
  type LogEntry,
  type SessionItem,
  type SnapshotItem,
} from '../../../src/core/bucket/index.js';
import { BUCKET_FRAME_BYTES_MAX, bucketMessageBytes } from '../../../src/core/bucket/wire-size.js';
import { bucketId, epoch, logIndex, nodeId } from '../../../src/core/lib/ids.js';
import { FRAME_BYTES_MAX, KEY_BYTES_MAX, VALUE_BYTES_MAX } from '../../../src/core/lib/limits.js';
import { defaultCodecOptions, encodeFrameOf } from '../../../src/net/codec.js';

/** Bytes of the frame payload that carries `body` as a one-way message. */
function encodedBytes(body: unknown): number {
  const frame = encodeFrameOf({ kind: 'message', type: 'node', body }, defaultCodecOptions);
  return frame.length - 4;
}

const big = fc.integer({ min: 0, max: 2 ** 53 - 1 });
const id = fc.integer({ min: 1, max: 2 ** 31 });
const key = fc.oneof(fc.string({ unit: 'binary', maxLength: 64 }), fc.string({ maxLength: 64 }));
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.integer({ min: 0, max: 64 * 1024 }).map((n) => new Uint8Array(n)),
);

const government: fc.Arbitrary<Government> = fc.record({
  bucket: id.map(bucketId),
  epoch: big.map(epoch),
  leader: fc.option(id.map(nodeId)),
  followers: fc.array(id.map(nodeId), { maxLength: 5 }),
  learners: fc.array(id.map(nodeId), { maxLength: 5 }),
});

const position = fc.record({ epoch: big.map(epoch), index: big.map(logIndex) });

const command = fc.oneof(
  fc.record(
    {
      op: fc.constant('put' as const),
      key,
      value: bytes,
      ifVersion: big,
      ifExists: fc.boolean(),
    },
    { requiredKeys: ['op', 'key', 'value'] },
  ),
  fc.record(
    { op: fc.constant('delete' as const), key, ifVersion: big, ifExists: fc.boolean() },
    { requiredKeys: ['op', 'key'] },
  ),
  fc.record({ op: fc.constant('cas' as const), key, expected: fc.option(bytes), value: bytes }),
);

const entry: fc.Arbitrary<LogEntry> = fc.record({
  epoch: big.map(epoch),
  index: big.map(logIndex),
  payload: fc.oneof(
    fc.record({
      kind: fc.constant('write' as const),
      clientId: id.map(clientId),
      seq: big,
      ackedBelow: big,
      command,
    }),
    fc.record({ kind: fc.constant('government' as const), government }),
  ),
});

const result = fc.oneof(
  fc.record({ op: fc.constant('put' as const), ok: fc.boolean(), at: position }),
  fc.record({
    op: fc.constant('delete' as const),
    ok: fc.boolean(),
    existed: fc.boolean(),
    at: position,
  }),
);

const session: fc.Arbitrary<SessionItem> = fc.record({
  clientId: id.map(clientId),
  floor: big,
  results: fc.array(fc.record({ seq: big, result }), { maxLength: 20 }),
  touched: big.map(logIndex),
});

const item: fc.Arbitrary<SnapshotItem> = fc.record({
  key,
  value: bytes,
  version: big.map(logIndex),
});

const routing = { bucket: id.map(bucketId), epoch: big.map(epoch) };

const message: fc.Arbitrary<BucketMessage> = fc.oneof(
  fc.record({
    type: fc.constant('append' as const),
    ...routing,
    government,
    prevIndex: big.map(logIndex),
    prevEpoch: big.map(epoch),
    entries: fc.array(entry, { maxLength: 8 }),
    commit: big.map(logIndex),
    stamp: fc.record({ boot: big, tick: big }),
  }),
  fc.record({
    type: fc.constant('append-ack' as const),
    ...routing,
    ok: fc.boolean(),
    match: big.map(logIndex),
    rejected: big.map(logIndex),
    hint: big.map(logIndex),
    empty: fc.boolean(),
    backfilling: fc.boolean(),
    grant: fc.option(fc.record({ boot: big, tick: big })),
  }),
  fc.record({
    type: fc.constant('snapshot-chunk' as const),
    ...routing,
    snapshot: big,
    base: position,
    offset: big,
    items: fc.array(item, { maxLength: 8 }),
    sessions: fc.array(session, { maxLength: 4 }),
    sessionFloor: big,
    done: fc.boolean(),
  }),
  fc.record({
    type: fc.constant('snapshot-ack' as const),
    ...routing,
    snapshot: big,
    next: big,
    installed: fc.boolean(),
  }),
  fc.record({ type: fc.constant('stale' as const), ...routing }),
  fc.record({ type: fc.constant('lease-release' as const), ...routing }),
  fc.record({
    type: fc.constant('forward' as const),
    ...routing,
    hops: fc.integer({ min: 0, max: 10 }),
    request: fc.oneof(
      fc.record({
        kind: fc.constant('read' as const),
        bucket: id.map(bucketId),
        clientId: id.map(clientId),
        requestId: big,
        key,
      }),
      fc.record({
        kind: fc.constant('write' as const),
        bucket: id.map(bucketId),
        clientId: id.map(clientId),
        seq: big,
        ackedBelow: big,
        command,
      }),
    ),
  }),
);

test('every estimate is at least the encoded size', () => {
  fc.assert(
    fc.property(message, (m) => {
      const encoded = encodedBytes(m);
      assert.ok(bucketMessageBytes(m) >= encoded, `${m.type}: ${encoded} bytes encoded`);
    }),
    { numRuns: 500 },
  );
});

test('a node message with one maximal entry fits a frame', () => {
  const g: Government = {
    bucket: bucketId(65_535),
    epoch: epoch(2 ** 53 - 1),
    leader: nodeId(2 ** 31),
    followers: [nodeId(2 ** 31 - 1), nodeId(2 ** 31 - 2)],
    learners: [nodeId(2 ** 31 - 3)],
  };
  const append: BucketMessage = {
    type: 'append',
    bucket: g.bucket,
    epoch: g.epoch,
    government: g,
    prevIndex: logIndex(2 ** 53 - 2),
    prevEpoch: g.epoch,
    entries: [
      {
        epoch: g.epoch,
        index: logIndex(2 ** 53 - 1),
        payload: {
          kind: 'write',
          clientId: clientId(2 ** 53 - 1),
          seq: 2 ** 53 - 1,
          ackedBelow: 2 ** 53 - 1,
          command: {
            op: 'put',
            // Keys reach the core as one character per byte (keyString in src/core/node).
            key: '\u00ff'.repeat(KEY_BYTES_MAX),
            value: new Uint8Array(VALUE_BYTES_MAX),
            ifVersion: 2 ** 53 - 1,
            ifExists: true,
          },
        },
      },
    ],
    commit: logIndex(2 ** 53 - 1),
    stamp: { boot: 2 ** 53 - 1, tick: 2 ** 53 - 1 },
  };
  const estimate = bucketMessageBytes(append);
  assert.ok(estimate <= BUCKET_FRAME_BYTES_MAX, `estimate ${estimate}`);
  const body = {
    from: 2 ** 31,
    address: 'h'.repeat(256),
    message: { t: 'bucket', ms: [append] },
  };
  const encoded = encodedBytes(body);
  assert.ok(encoded <= FRAME_BYTES_MAX, `${encoded} bytes encoded`);
  assert.ok(encoded - bucketMessageBytes(append) <= FRAME_BYTES_MAX - BUCKET_FRAME_BYTES_MAX);
});
