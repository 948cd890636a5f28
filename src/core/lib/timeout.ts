/**
 * Tick-counting timeouts (after TigerBeetle's `Timeout`). The core has no clock: its driver calls
 * `tick()` at a fixed rate, and each timeout counts ticks. The same code runs under the simulator's
 * virtual clock and under the server's real one.
 *
 * Usage: `t.tick(); if (t.fired()) { t.reset(); ... }`.
 */
import { assert } from './assert.js';
import type { Prng } from './prng.js';

export class Timeout {
  /** Ticks counted since the last start or reset. */
  ticks = 0;
  /** Whether the timeout is counting. A stopped timeout never fires. */
  ticking = false;
  /** Consecutive backoffs since the last start; drives exponential backoff. */
  attempts = 0;
  /** The ticks after which the timeout fires; changes with jitter and backoff. */
  after: number;

  constructor(
    /** For logs and traces. */
    readonly name: string,
    /** The base number of ticks after which the timeout fires. */
    readonly afterBase: number,
  ) {
    assert(Number.isSafeInteger(afterBase), `${name}: after must be an integer`);
    assert(afterBase > 0, `${name}: after must be positive`);
    this.after = afterBase;
  }

  /** Starts counting from zero with the base duration. */
  start(): void {
    this.ticks = 0;
    this.attempts = 0;
    this.after = this.afterBase;
    this.ticking = true;
  }

  /** Stops counting; `fired()` is false until the next start. */
  stop(): void {
    this.ticks = 0;
    this.attempts = 0;
    this.ticking = false;
  }

  /** Counts from zero again, keeping the current duration. The timeout must be ticking. */
  reset(): void {
    assert(this.ticking, `${this.name}: reset() of a stopped timeout`);
    this.ticks = 0;
  }

  /** Advances by one tick. */
  tick(): void {
    if (this.ticking) this.ticks += 1;
  }

  /** Whether the timeout is ticking and has reached its duration. */
  fired(): boolean {
    return this.ticking && this.ticks >= this.after;
  }

  /**
   * Restarts with a duration drawn uniformly from [base, 2·base) — Raft's randomised election
   * timeout — so that nodes started together rarely fire together.
   */
  startRandomized(prng: Prng): void {
    this.ticks = 0;
    this.attempts = 0;
    this.after = this.afterBase + prng.int(this.afterBase);
    this.ticking = true;
  }

  /**
   * Makes a ticking timeout fire within `ticks` ticks from now (at least one), unless it would
   * fire sooner anyway. Counting goes on: `ticks` and the attempts are kept.
   */
  fireWithin(ticks: number): void {
    assert(this.ticking, `${this.name}: fireWithin() of a stopped timeout`);
    assert(Number.isSafeInteger(ticks) && ticks >= 1, `${this.name}: fireWithin(${ticks})`);
    this.after = Math.min(this.after, this.ticks + ticks);
  }

  /**
   * Restarts with exponential backoff and full jitter: the duration is drawn from
   * [base, base·2^attempts], capped at `maxTicks`.
   */
  backoff(prng: Prng, maxTicks: number): void {
    assert(maxTicks >= this.afterBase, `${this.name}: backoff cap below base`);
    assert(this.ticking, `${this.name}: backoff() of a stopped timeout`);
    this.attempts = Math.min(this.attempts + 1, 30);
    const ceiling = Math.min(maxTicks, this.afterBase * 2 ** this.attempts);
    this.after = this.afterBase + prng.int(ceiling - this.afterBase + 1);
    this.ticks = 0;
  }
}
