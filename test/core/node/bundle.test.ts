// Splitting one peer's bucket messages into node messages (src/core/node/bundle.ts): every part
// stays within the target unless it is one larger message alone, the parts keep the messages in
// order, and a message that could never fit a frame is an assertion, not a frame the transport
// would refuse on every resend. Method: table-driven bundles of heartbeats, acknowledgements and
// appends of various sizes, measured with the same estimate (wire-size.ts) the split uses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientId, type BucketMessage } from '../../../src/core/bucket/index.js';
import { BUCKET_FRAME_BYTES_MAX, bucketMessageBytes } from '../../../src/core/bucket/wire-size.js';
import { epoch, logIndex } from '../../../src/core/lib/ids.js';
import { VALUE_BYTES_MAX } from '../../../src/core/lib/limits.js';
import { BUNDLE_BYTES_TARGET, splitBundle } from '../../../src/core/node/bundle.js';
import { BUCKET, gov } from '../bucket/harness.js';

function append(valueBytes: readonly number[]): BucketMessage {
  return {
    type: 'append',
    bucket: BUCKET,
    epoch: epoch(1),
    government: gov(1, 1, [2, 3]),
    prevIndex: logIndex(1),
    prevEpoch: epoch(1),
    entries: valueBytes.map((bytes, i) => ({
      epoch: epoch(1),
      index: logIndex(i + 2),
      payload: {
        kind: 'write',
        clientId: clientId(1),
        seq: i + 1,
        ackedBelow: 1,
        command: { op: 'put', key: `k${i}`, value: new Uint8Array(bytes) },
      },
    })),
    commit: logIndex(1),
    stamp: { boot: 1, tick: 1 },
  };
}

const ack: BucketMessage = {
  type: 'snapshot-ack',
  bucket: BUCKET,
  epoch: epoch(1),
  snapshot: 1,
  next: 3,
  installed: false,
};

const MiB = 1024 * 1024;

test('parts keep the order and stay within the target, or hold one larger message', () => {
  const cases: [string, BucketMessage[]][] = [
    ['empty', []],
    ['a thousand heartbeats', Array.from({ length: 1000 }, () => append([]))],
    [
      'large appends among small messages',
      [
        ack,
        append([MiB / 2]),
        append([10 * MiB]),
        ack,
        append([MiB / 2, MiB / 3]),
        append([]),
        append([VALUE_BYTES_MAX]),
      ],
    ],
  ];
  for (const [name, ms] of cases) {
    const parts = splitBundle(ms);
    assert.deepEqual(parts.flat(), ms, `${name}: the same messages in the same order`);
    for (const part of parts) {
      assert.ok(part.length > 0, `${name}: no empty part`);
      const bytes = part.reduce((sum, m) => sum + bucketMessageBytes(m), 0);
      assert.ok(part.length === 1 || bytes <= BUNDLE_BYTES_TARGET, `${name}: ${bytes} bytes`);
      assert.ok(bytes <= BUCKET_FRAME_BYTES_MAX, `${name}: a part fits a frame`);
    }
  }
  assert.equal(
    splitBundle(Array.from({ length: 1000 }, () => append([]))).length,
    1,
    'heartbeats share a frame',
  );
});

test('a message that cannot fit a frame is an assertion', () => {
  assert.throws(
    () => splitBundle([ack, append([VALUE_BYTES_MAX, VALUE_BYTES_MAX])]),
    /over the frame limit/,
  );
});
