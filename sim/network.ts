/**
 * A simulated network between numbered endpoints (nodes and clients).
 *
 * Semantics (tested in test/sim/network.test.ts):
 * - Each message gets a latency drawn from its link's distribution: uniform in [minMs, maxMs], and
 *   with `tailProbability` a slow outlier up to `tailMaxMs`. Different latencies reorder messages.
 * - A message is dropped with `dropProbability`, and delivered twice with `duplicateProbability`.
 * - `partition(groups)` cuts every link between endpoints of different groups; endpoints in no
 *   group are not affected. `clog(from, to)` cuts one direction only. A cut drops a message both when
 *   it is sent and when it would arrive (a message in flight when the cut happens is lost).
 * - A message to an endpoint with no attached handler (a crashed node) is dropped on arrival.
 * Messages are delivered by reference: senders must not mutate a message after sending it.
 */
import { assert } from '../src/core/lib/assert.js';
import type { Prng } from '../src/core/lib/prng.js';
import type { Simulator } from './simulator.js';

export interface LatencyDistribution {
  readonly minMs: number;
  readonly maxMs: number;
  readonly tailProbability: number;
  readonly tailMaxMs: number;
}

export interface SimNetworkOptions {
  readonly latency: LatencyDistribution;
  readonly dropProbability: number;
  readonly duplicateProbability: number;
}

export const defaultSimNetworkOptions: SimNetworkOptions = {
  latency: { minMs: 1, maxMs: 5, tailProbability: 0.01, tailMaxMs: 50 },
  dropProbability: 0,
  duplicateProbability: 0,
};

export interface SimNetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
}

export type Deliver<M> = (from: number, message: M) => void;

export class SimNetwork<M> {
  private readonly handlers = new Map<number, Deliver<M>>();
  private readonly group = new Map<number, number>();
  private readonly clogged = new Set<string>();
  private readonly linkLatency = new Map<string, LatencyDistribution>();
  latency: LatencyDistribution;
  dropProbability: number;
  duplicateProbability: number;
  readonly stats: SimNetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0 };

  constructor(
    private readonly sim: Simulator,
    private readonly prng: Prng,
    readonly options: SimNetworkOptions = defaultSimNetworkOptions,
  ) {
    this.latency = options.latency;
    this.dropProbability = options.dropProbability;
    this.duplicateProbability = options.duplicateProbability;
  }

  /** Routes messages for `endpoint` to `deliver` from now on. */
  attach(endpoint: number, deliver: Deliver<M>): void {
    this.handlers.set(endpoint, deliver);
  }

  /** Stops delivering to `endpoint`; messages in flight to it are dropped on arrival. */
  detach(endpoint: number): void {
    this.handlers.delete(endpoint);
  }

  /** Sends `message`; `label` names it in the trace. */
  send(from: number, to: number, message: M, label: string): void {
    this.stats.sent += 1;
    if (this.cut(from, to) || this.prng.chance(this.dropProbability)) {
      this.stats.dropped += 1;
      return;
    }
    this.deliverLater(from, to, message, label);
    if (this.prng.chance(this.duplicateProbability)) {
      this.stats.duplicated += 1;
      this.deliverLater(from, to, message, label);
    }
  }

  /** Whether messages from `from` to `to` are currently cut. */
  cut(from: number, to: number): boolean {
    if (this.clogged.has(`${from}>${to}`)) return true;
    const a = this.group.get(from);
    const b = this.group.get(to);
    return a !== undefined && b !== undefined && a !== b;
  }

  /** Splits the listed endpoints into groups that cannot reach each other. Replaces any partition. */
  partition(groups: readonly (readonly number[])[]): void {
    this.group.clear();
    groups.forEach((members, index) => {
      for (const endpoint of members) {
        assert(!this.group.has(endpoint), `endpoint ${endpoint} is in two partition groups`);
        this.group.set(endpoint, index);
      }
    });
  }

  /** Cuts the direction `from` → `to` only. */
  clog(from: number, to: number): void {
    this.clogged.add(`${from}>${to}`);
  }

  unclog(from: number, to: number): void {
    this.clogged.delete(`${from}>${to}`);
  }

  /** Sets the latency of one direction of one link; `null` restores the network-wide one. */
  setLinkLatency(from: number, to: number, latency: LatencyDistribution | null): void {
    if (latency === null) this.linkLatency.delete(`${from}>${to}`);
    else this.linkLatency.set(`${from}>${to}`, latency);
  }

  /** Removes every partition, clog, link latency and loss, restoring the configured options. */
  heal(): void {
    this.group.clear();
    this.clogged.clear();
    this.linkLatency.clear();
    this.latency = this.options.latency;
    this.dropProbability = this.options.dropProbability;
    this.duplicateProbability = this.options.duplicateProbability;
  }

  private deliverLater(from: number, to: number, message: M, label: string): void {
    const delay = this.drawLatency(this.linkLatency.get(`${from}>${to}`) ?? this.latency);
    this.sim.schedule(delay, `net ${from}>${to} ${label}`, () => {
      const handler = this.handlers.get(to);
      if (handler === undefined || this.cut(from, to)) {
        this.stats.dropped += 1;
        return;
      }
      this.stats.delivered += 1;
      handler(from, message);
    });
  }

  private drawLatency(d: LatencyDistribution): number {
    if (d.tailProbability > 0 && this.prng.chance(d.tailProbability)) {
      return this.prng.range(d.maxMs, Math.max(d.maxMs, d.tailMaxMs));
    }
    return this.prng.range(d.minMs, d.maxMs);
  }
}
