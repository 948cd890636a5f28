// CRC-32C guards every record and value on disk, so it is pinned to the published vectors (RFC 3720
// B.4) and the table-driven form is checked against the bit-at-a-time definition on random inputs,
// including unaligned views and continuation across splits.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crc32c, crc32cBitwise, crc32cCombine } from '../../../src/core/lib/crc32c.js';

describe('crc32c', () => {
  test('matches the published check values', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
    assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
    assert.equal(crc32c(new Uint8Array(0)), 0);
  });

  test('the table-driven form agrees with the bitwise definition, at any alignment', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(7), (bytes, shift) => {
        const padded = new Uint8Array(bytes.length + shift);
        padded.set(bytes, shift);
        const view = padded.subarray(shift);
        assert.equal(crc32c(view), crc32cBitwise(bytes));
      }),
    );
  });

  test('continues across any split', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), (bytes, at) => {
        const cut = bytes.length === 0 ? 0 : at % bytes.length;
        const whole = crc32c(bytes);
        assert.equal(crc32c(bytes.subarray(cut), crc32c(bytes.subarray(0, cut))), whole);
      }),
    );
  });

  test('combines the CRCs of two parts into the CRC of the whole', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (a, b) => {
        const whole = crc32c(Buffer.concat([a, b]));
        assert.equal(crc32cCombine(crc32c(a), crc32c(b), b.length), whole);
      }),
    );
    const big = Buffer.alloc(70_000, 0x5a);
    assert.equal(
      crc32cCombine(crc32c(big.subarray(0, 3)), crc32c(big.subarray(3)), big.length - 3),
      crc32c(big),
    );
  });
});
