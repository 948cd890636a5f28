/**
 * A latency histogram with logarithmic buckets, in the manner of HdrHistogram: fixed memory (about
 * 1,700 counters) whatever the number of samples, a relative error under 1/64 (1.6 %), and
 * mergeable by adding counts, so that the load generator's worker processes can each keep one and
 * the parent can add them up.
 *
 * Values are microseconds, rounded to integers. Values below 128 µs have a bucket each; above, each
 * power of two is split into 64 buckets. Values above about 68 s land in the last bucket.
 */

const SUB_BITS = 6;
const SUB = 1 << SUB_BITS; // 64 buckets per power of two
const LINEAR = 2 * SUB; // 0..127 µs exactly
const MAX_EXPONENT = 20; // 128 << 19 µs ≈ 67 s
export const BUCKETS = LINEAR + MAX_EXPONENT * SUB;

/** The bucket of a value in µs. */
export function bucketOf(us: number): number {
  const v = Math.min(2 ** 31 - 1, Math.max(0, Math.round(us)));
  if (v < LINEAR) return v;
  const exponent = Math.floor(Math.log2(v)) - SUB_BITS; // v >> exponent is in [64, 128)
  const index = LINEAR + (exponent - 1) * SUB + ((v >>> exponent) - SUB);
  return Math.min(BUCKETS - 1, index);
}

/** The smallest and largest value (µs) that fall in bucket `index`. */
export function boundsOf(index: number): [number, number] {
  if (index < LINEAR) return [index, index];
  const exponent = Math.floor((index - LINEAR) / SUB) + 1;
  const sub = ((index - LINEAR) % SUB) + SUB;
  return [sub * 2 ** exponent, (sub + 1) * 2 ** exponent - 1];
}

export class Histogram {
  readonly counts = new Float64Array(BUCKETS);
  count = 0;
  sumUs = 0;
  maxUs = 0;

  record(us: number): void {
    this.counts[bucketOf(us)] += 1;
    this.count += 1;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
  }

  /** Adds another histogram's samples to this one. */
  merge(other: Histogram | SerializedHistogram): void {
    const pairs = other instanceof Histogram ? other.serialize().buckets : other.buckets;
    for (const [index, n] of pairs) this.counts[index] = (this.counts[index] ?? 0) + n;
    this.count += other.count;
    this.sumUs += other.sumUs;
    this.maxUs = Math.max(this.maxUs, other.maxUs);
  }

  /**
   * The value (µs) at percentile `p` (0–100): the middle of the bucket holding the sample of rank
   * ceil(p/100 · count), capped by the largest value seen. NaN when empty.
   */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i += 1) {
      seen += this.counts[i] as number;
      if (seen >= rank) {
        const [low, high] = boundsOf(i);
        return Math.min(this.maxUs, (low + high) / 2);
      }
    }
    return this.maxUs;
  }

  meanUs(): number {
    return this.count === 0 ? NaN : this.sumUs / this.count;
  }

  /** A compact form for IPC: the non-empty buckets as [index, count] pairs. */
  serialize(): SerializedHistogram {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < BUCKETS; i += 1) {
      const n = this.counts[i] as number;
      if (n > 0) buckets.push([i, n]);
    }
    return { buckets, count: this.count, sumUs: this.sumUs, maxUs: this.maxUs };
  }

  static from(serialized: SerializedHistogram): Histogram {
    const h = new Histogram();
    h.merge(serialized);
    return h;
  }
}

export interface SerializedHistogram {
  readonly buckets: ReadonlyArray<readonly [number, number]>;
  readonly count: number;
  readonly sumUs: number;
  readonly maxUs: number;
}
