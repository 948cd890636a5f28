/**
 * The one source of randomness in Edict's deterministic code: a seeded PRNG, xoshiro128** (128-bit
 * state, period 2^128 - 1, 32-bit output) seeded from a 64-bit seed through SplitMix64.
 *
 * Rules (STYLE.md): the core never calls `Math.random`; every node gets its own stream through
 * {@link Prng.fork}, so adding a draw on one node does not shift the draws of another; iteration that
 * feeds a draw is over sorted ids. The same seed always yields the same sequence on every platform,
 * since the generator uses only 32-bit integer arithmetic (`Math.imul`, shifts).
 */
import { assert } from './assert.js';

const MASK64 = (1n << 64n) - 1n;

function splitmix64(state: bigint): { state: bigint; value: bigint } {
  const next = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let z = next;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return { state: next, value: z ^ (z >> 31n) };
}

/** Normalises a seed (a safe non-negative integer or a bigint) to an unsigned 64-bit bigint. */
export function seed64(seed: number | bigint): bigint {
  if (typeof seed === 'number') {
    assert(Number.isSafeInteger(seed), `seed must be a safe integer, got ${seed}`);
    return BigInt(seed) & MASK64;
  }
  return seed & MASK64;
}

/** A deterministic pseudo-random number generator. Not for cryptography. */
export class Prng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  /** The 64-bit seed this generator started from, for printing and replay. */
  readonly seed: bigint;

  constructor(seed: number | bigint) {
    this.seed = seed64(seed);
    let state = this.seed;
    const words: number[] = [];
    for (let i = 0; i < 2; i++) {
      const step = splitmix64(state);
      state = step.state;
      words.push(Number(step.value & 0xffffffffn), Number(step.value >> 32n));
    }
    [this.s0, this.s1, this.s2, this.s3] = words.map((w) => w >>> 0) as [
      number,
      number,
      number,
      number,
    ];
    // xoshiro's only forbidden state is all zeros; SplitMix64 cannot produce two zero outputs in a row.
    assert((this.s0 | this.s1 | this.s2 | this.s3) !== 0, 'xoshiro state must not be all zeros');
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A float in [0, 1) with 53 random bits. */
  float(): number {
    const high = this.nextU32() >>> 5; // 27 bits
    const low = this.nextU32() >>> 6; // 26 bits
    return (high * 67108864 + low) / 9007199254740992;
  }

  /** An integer in [0, n), without modulo bias. `n` must be in 1..2^32. */
  int(n: number): number {
    assert(Number.isSafeInteger(n), `int(n): n must be an integer, got ${n}`);
    assert(n >= 1 && n <= 0x100000000, `int(n): n must be in 1..2^32, got ${n}`);
    // Rejection sampling: drop the top partial block of the 2^32 range.
    const limit = 0x100000000 - (0x100000000 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** An integer in [min, max], both inclusive. */
  range(min: number, max: number): number {
    assert(max >= min, `range(min, max): max ${max} < min ${min}`);
    return min + this.int(max - min + 1);
  }

  /** True with probability `p` (0 ≤ p ≤ 1). */
  chance(p: number): boolean {
    assert(p >= 0 && p <= 1, `chance(p): p must be in [0, 1], got ${p}`);
    return this.float() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, 'pick() from an empty array');
    return items[this.int(items.length)] as T;
  }

  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }

  /**
   * A new, independent generator seeded from this one's next 64 bits. Forking advances this
   * generator by exactly two draws, whatever the child does afterwards.
   */
  fork(): Prng {
    const high = BigInt(this.nextU32());
    const low = BigInt(this.nextU32());
    return new Prng((high << 32n) | low);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
