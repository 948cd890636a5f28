// Payload codecs of the log's records round-trip, report where each value starts, and reject
// malformed payloads; the one-pass checksum of an Apply payload equals the plain one and yields the
// CRC of each long value.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crc32c } from '../../src/core/lib/crc32c.js';
import { RecordType } from '../../src/storage/record.js';
import {
  applyChecksums,
  decodeWalRecord,
  encodeApply,
  encodeBucketGeneration,
  encodeInstallEnd,
  encodeRows,
  encodeSegmentHeader,
  SegmentKind,
  type Op,
} from '../../src/storage/wal-records.js';

const arbOp: fc.Arbitrary<Op> = fc.oneof(
  fc
    .record({
      key: fc.uint8Array({ minLength: 1, maxLength: 20 }),
      value: fc.uint8Array({ maxLength: 300 }),
    })
    .map(({ key, value }) => ({
      kind: 'put' as const,
      key: Buffer.from(key),
      value: Buffer.from(value),
    })),
  fc
    .uint8Array({ minLength: 1, maxLength: 20 })
    .map((key) => ({ kind: 'delete' as const, key: Buffer.from(key) })),
);
const u32 = fc.nat({ max: 0xffffffff });
const u53 = fc.nat({ max: Number.MAX_SAFE_INTEGER });

describe('log record payloads', () => {
  test('Apply round-trips, with value offsets', () => {
    fc.assert(
      fc.property(
        u32,
        u32,
        u53,
        fc.array(arbOp, { maxLength: 6 }),
        (bucket, generation, index, ops) => {
          const payload = encodeApply(bucket, generation, index, ops);
          const decoded = decodeWalRecord(RecordType.Apply, payload);
          assert.equal(decoded.type, RecordType.Apply);
          if (decoded.type !== RecordType.Apply) return;
          assert.deepEqual(
            [decoded.bucket, decoded.generation, decoded.index],
            [bucket, generation, index],
          );
          assert.equal(decoded.ops.length, ops.length);
          decoded.ops.forEach((op, i) => {
            const want = ops[i] as Op;
            assert.equal(op.kind, want.kind);
            assert.ok(Buffer.from(op.key).equals(want.key));
            if (op.kind === 'put' && want.kind === 'put') {
              assert.ok(Buffer.from(op.value).equals(want.value));
              assert.ok(
                payload
                  .subarray(op.valueOffset, op.valueOffset + op.value.length)
                  .equals(want.value),
              );
            }
          });
        },
      ),
    );
  });

  test('the one-pass Apply checksum equals the plain one', () => {
    fc.assert(
      fc.property(fc.array(arbOp, { maxLength: 6 }), fc.nat(300), (ops, separate) => {
        const payload = encodeApply(1, 1, 1, ops);
        const { crc, valueCrcs } = applyChecksums(payload, ops, separate);
        assert.equal(crc, crc32c(payload));
        ops.forEach((op, i) => {
          const expected =
            op.kind === 'put' && op.value.length >= separate ? crc32c(op.value) : undefined;
          assert.equal(valueCrcs[i], expected);
        });
      }),
    );
  });

  test('rows, bucket records and segment headers round-trip', () => {
    const rows = [
      { key: Buffer.from('a'), version: 7, value: Buffer.from('x') },
      { key: Buffer.from('b'), version: 2 ** 40, value: Buffer.alloc(0) },
    ];
    for (const type of [RecordType.InstallRows, RecordType.Relocate]) {
      const decoded = decodeWalRecord(type, encodeRows(3, 4, rows));
      assert.ok(decoded.type === type && 'rows' in decoded);
      assert.deepEqual(
        decoded.rows.map((r) => [
          Buffer.from(r.key).toString(),
          r.version,
          Buffer.from(r.value).toString(),
        ]),
        [
          ['a', 7, 'x'],
          ['b', 2 ** 40, ''],
        ],
      );
    }
    for (const type of [RecordType.InstallBegin, RecordType.InstallAbort, RecordType.Drop]) {
      assert.deepEqual(decodeWalRecord(type, encodeBucketGeneration(5, 6)), {
        type,
        bucket: 5,
        generation: 6,
      });
    }
    assert.deepEqual(decodeWalRecord(RecordType.InstallEnd, encodeInstallEnd(5, 6, 2 ** 50)), {
      type: RecordType.InstallEnd,
      bucket: 5,
      generation: 6,
      version: 2 ** 50,
    });
    assert.deepEqual(
      decodeWalRecord(RecordType.SegmentHeader, encodeSegmentHeader(9, SegmentKind.Compacted)),
      {
        type: RecordType.SegmentHeader,
        segment: 9,
        kind: SegmentKind.Compacted,
      },
    );
  });

  test('malformed payloads are refused', () => {
    const good = encodeApply(1, 1, 1, [
      { kind: 'put', key: Buffer.from('k'), value: Buffer.from('v') },
    ]);
    assert.throws(() => decodeWalRecord(RecordType.Apply, good.subarray(0, good.length - 1)));
    assert.throws(() => decodeWalRecord(RecordType.Apply, Buffer.concat([good, Buffer.from([0])])));
    assert.throws(() => decodeWalRecord(RecordType.Drop, Buffer.alloc(7)));
    assert.throws(() => decodeWalRecord(RecordType.SegmentHeader, Buffer.alloc(9)));
    assert.throws(() => decodeWalRecord(99, Buffer.alloc(0)));
  });
});
