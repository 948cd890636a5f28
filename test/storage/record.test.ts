// Record framing is what recovery trusts to tell a torn tail from corruption. These tests check the
// round trip, that any single flipped byte in a record is detected (by the header or the payload
// checksum), that a cut record is reported as cut with the right header verdict, and that the
// forward scan finds the next valid record after damage, and none inside a record's payload when
// asked to start past it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeRecord,
  findValidRecord,
  frameRecord,
  RECORD_HEADER_BYTES,
  RecordType,
} from '../../src/storage/record.js';

const types = Object.values(RecordType);

describe('record framing', () => {
  test('round-trips type, seq and payload', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...types),
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        fc.uint8Array({ maxLength: 500 }),
        (type, seq, payload) => {
          const bytes = frameRecord(type, seq, payload);
          const check = decodeRecord(bytes, 0);
          assert.equal(check.kind, 'ok');
          if (check.kind !== 'ok') return;
          assert.equal(check.record.type, type);
          assert.equal(check.record.seq, seq);
          assert.deepEqual(Buffer.from(check.record.payload), Buffer.from(payload));
          assert.equal(check.record.bytes, bytes.length);
        },
      ),
    );
  });

  test('detects every single-byte change', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (payload, where, flip) => {
          const bytes = frameRecord(RecordType.Apply, 7, payload);
          const at = where % bytes.length;
          bytes[at] = (bytes[at] as number) ^ flip;
          const check = decodeRecord(bytes, 0);
          // A changed length may also make the record look cut; either way it is not accepted.
          assert.notEqual(check.kind, 'ok');
          if (check.kind === 'bad' && at >= RECORD_HEADER_BYTES) {
            assert.equal(check.recordBytes, bytes.length, 'payload damage keeps the header usable');
          }
        },
      ),
    );
  });

  test('a cut record is reported as cut, with the header verdict', () => {
    const bytes = frameRecord(RecordType.Apply, 1, Buffer.alloc(100, 1));
    for (let cut = 0; cut < bytes.length; cut++) {
      const check = decodeRecord(bytes.subarray(0, cut), 0);
      assert.equal(check.kind, 'truncated', `cut at ${cut}`);
      if (check.kind === 'truncated') assert.equal(check.headerValid, cut >= RECORD_HEADER_BYTES);
    }
  });

  test('finds the next valid record after damage', () => {
    const a = frameRecord(RecordType.Apply, 1, Buffer.alloc(50, 1));
    const b = frameRecord(RecordType.Apply, 2, Buffer.alloc(50, 2));
    const both = Buffer.concat([a, b]);
    both[10] = (both[10] as number) ^ 0xff;
    assert.equal(decodeRecord(both, 0).kind, 'bad');
    assert.equal(findValidRecord(both, 1), a.length);
    assert.equal(findValidRecord(both, a.length + 1), -1);
  });

  test('a record inside a payload is found only by a scan that starts inside it', () => {
    const inner = frameRecord(RecordType.Apply, 5, Buffer.from('hidden'));
    const outer = frameRecord(RecordType.Apply, 4, Buffer.concat([Buffer.alloc(3), inner]));
    assert.equal(findValidRecord(outer, 1), RECORD_HEADER_BYTES + 3);
    assert.equal(findValidRecord(outer, outer.length), -1);
  });
});
