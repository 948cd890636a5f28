/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), the checksum of every log record and of
 * every value a pointer refers to. Slicing-by-8: eight 256-entry tables let the loop consume eight
 * bytes per step, several times faster in V8 than the byte-at-a-time form, which matters because
 * every byte written to the log is checksummed once on the way in and once on the way back.
 *
 * Check value: crc32c("123456789") = 0xe3069283 (RFC 3720, appendix B.4 has more vectors).
 */

const POLYNOMIAL = 0x82f63b78;

/** TABLES[k][b]: the CRC of byte b followed by k zero bytes (as signed 32-bit words). */
const TABLES: readonly Int32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Int32Array(256));
  const t0 = tables[0] as Int32Array;
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let k = 0; k < 8; k++) c = c & 1 ? POLYNOMIAL ^ (c >>> 1) : c >>> 1;
    t0[b] = c;
  }
  for (let b = 0; b < 256; b++) {
    let c = t0[b] as number;
    for (let k = 1; k < 8; k++) {
      c = (t0[c & 0xff] as number) ^ (c >>> 8);
      (tables[k] as Int32Array)[b] = c;
    }
  }
  return tables;
})();

const [T0, T1, T2, T3, T4, T5, T6, T7] = TABLES as [
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
];

/** The word loop reads bytes through an Int32Array view, which is little-endian on every target. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * The CRC-32C of `bytes`, continuing from `previous` (the result over the bytes before them; 0 to
 * start), so `crc32c(b, crc32c(a)) === crc32c(a ‖ b)`.
 */
export function crc32c(bytes: Uint8Array, previous = 0): number {
  let crc = ~previous;
  const n = bytes.length;
  let i = 0;
  // Bytes up to the first 4-aligned address one at a time, then 8 bytes per step, then the tail.
  const head = LITTLE_ENDIAN ? Math.min((4 - (bytes.byteOffset & 3)) & 3, n) : n;
  for (; i < head; i++) crc = (T0[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  const pairs = (n - i) >>> 3;
  if (pairs > 0) {
    const words = new Int32Array(bytes.buffer, bytes.byteOffset + i, pairs * 2);
    for (let j = 0; j < words.length; j += 2) {
      const one = crc ^ (words[j] as number);
      const two = words[j + 1] as number;
      crc =
        (T7[one & 0xff] as number) ^
        (T6[(one >>> 8) & 0xff] as number) ^
        (T5[(one >>> 16) & 0xff] as number) ^
        (T4[one >>> 24] as number) ^
        (T3[two & 0xff] as number) ^
        (T2[(two >>> 8) & 0xff] as number) ^
        (T1[(two >>> 16) & 0xff] as number) ^
        (T0[two >>> 24] as number);
    }
    i += pairs * 8;
  }
  for (; i < n; i++) crc = (T0[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return ~crc >>> 0;
}

/**
 * The reference form: one bit at a time, straight from the definition. Slow; the tests check the
 * table-driven {@link crc32c} against it.
 */
export function crc32cBitwise(bytes: Uint8Array, previous = 0): number {
  let crc = ~previous >>> 0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? POLYNOMIAL ^ (crc >>> 1) : crc >>> 1;
  }
  return ~crc >>> 0;
}

/** a·b modulo the CRC polynomial, bit-reflected (zlib's multmodp). */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLYNOMIAL : b >>> 1;
  }
  return p >>> 0;
}

/** X2N[k] = x^(2^k) modulo the polynomial. */
const X2N: readonly number[] = (() => {
  const table: number[] = [];
  let p = 0x40000000; // x^1
  for (let k = 0; k < 32; k++) {
    table.push(p);
    p = multModP(p, p);
  }
  return table;
})();

/**
 * The CRC-32C of `a ‖ b` from the CRC of `a`, the CRC of `b` and the length of `b`, in O(log n)
 * (zlib's crc32_combine, for this polynomial). Lets a value be checksummed once and that checksum
 * both stored in its pointer and folded into its record's checksum.
 */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  let p = 0x80000000; // x^0
  let n = lengthB;
  let k = 3; // bytes: x^(8n) = x^(2^3 · n)
  while (n > 0) {
    if (n % 2 === 1) p = multModP(X2N[k % 32] as number, p);
    n = Math.floor(n / 2);
    k += 1;
  }
  return (multModP(p, crcA) ^ crcB) >>> 0;
}
