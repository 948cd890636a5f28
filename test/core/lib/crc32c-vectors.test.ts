// CRC-32C against its published check value and known vectors (RFC 3720, appendix B.4), its
// incremental form, and the spread of bucketOf over many keys.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crc32c } from '../../../src/core/lib/crc32c.js';
import { bucketOf } from '../../../src/core/directory/routing.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('crc32c', () => {
  test('matches the standard check value and RFC 3720 vectors', () => {
    assert.equal(crc32c(ascii('123456789')), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
    assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
    assert.equal(crc32c(new Uint8Array(0)), 0);
  });

  test('can be computed incrementally', () => {
    fc.assert(
      fc.property(fc.uint8Array(), fc.uint8Array(), (a, b) => {
        const whole = new Uint8Array([...a, ...b]);
        assert.equal(crc32c(b, crc32c(a)), crc32c(whole));
      }),
    );
  });
});

describe('bucketOf', () => {
  test('spreads keys evenly over the buckets', () => {
    const counts = new Array<number>(64).fill(0);
    for (let i = 0; i < 64_000; i++) {
      const b = bucketOf(ascii(`user:${i}`), 64);
      counts[b] = (counts[b] ?? 0) + 1;
    }
    // 1,000 expected per bucket; a standard deviation is about 31.
    assert.ok(
      Math.min(...counts) > 850 && Math.max(...counts) < 1150,
      `${Math.min(...counts)}..${Math.max(...counts)}`,
    );
  });
});
