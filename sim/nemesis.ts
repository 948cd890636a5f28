/**
 * The nemesis: a fault schedule drawn from the seed. Every `meanIntervalMs` or so it injects one fault
 * of an enabled kind, and most faults end by themselves after a random duration, so faults overlap.
 * `healAll()` ends every fault at once, for the liveness phase that follows a safety phase.
 *
 * Kinds: `partition` (random groups of hosts), `clog` (one direction of one link), `drop` and
 * `duplicate` (message loss and duplication rates), `delay` (wide latency: heavy reordering),
 * `crash` (a host dies and restarts later; never more than `maxCrashed` down at once), `skew` (a
 * host's clock rate drifts, within the hosts' bound).
 */
import { assert } from '../src/core/lib/assert.js';
import type { Prng } from '../src/core/lib/prng.js';
import type { SimHost } from './host.js';
import type { SimNetwork } from './network.js';

/** The part of a SimNetwork the nemesis acts on, whatever its message type. */
export type FaultableNetwork = Pick<
  SimNetwork<never>,
  | 'partition'
  | 'clog'
  | 'unclog'
  | 'heal'
  | 'options'
  | 'latency'
  | 'dropProbability'
  | 'duplicateProbability'
>;
import type { Simulator } from './simulator.js';

export const faultKinds = [
  'partition',
  'clog',
  'drop',
  'duplicate',
  'delay',
  'crash',
  'skew',
] as const;
export type FaultKind = (typeof faultKinds)[number];

export interface NemesisOptions {
  readonly faults: readonly FaultKind[];
  /** Mean virtual time between two injected faults. */
  readonly meanIntervalMs: number;
  /** Longest a transient fault lasts before it heals by itself. */
  readonly maxFaultMs: number;
  /** Hosts that may be down at once (keep a majority up where the protocol needs one). */
  readonly maxCrashed: number;
}

export const defaultNemesisOptions: NemesisOptions = {
  faults: faultKinds,
  meanIntervalMs: 200,
  maxFaultMs: 600,
  maxCrashed: 1,
};

export class Nemesis {
  /** Faults injected so far. */
  faults = 0;
  private active = false;
  private partitionGeneration = 0;

  constructor(
    private readonly sim: Simulator,
    private readonly prng: Prng,
    private readonly network: FaultableNetwork,
    private readonly hosts: readonly SimHost[],
    readonly options: NemesisOptions = defaultNemesisOptions,
  ) {
    assert(options.faults.length > 0 || options.meanIntervalMs > 0, 'nemesis options');
    assert(options.maxCrashed < Math.max(1, hosts.length), 'nemesis may not crash every host');
  }

  /** Injects faults from now until `untilMs` of virtual time. */
  start(untilMs: number): void {
    if (this.options.faults.length === 0) return;
    this.active = true;
    const next = (): void => {
      if (!this.active || this.sim.now >= untilMs) return;
      this.inject(this.prng.pick(this.options.faults));
      this.sim.schedule(this.interval(), 'nemesis', next);
    };
    this.sim.schedule(this.interval(), 'nemesis', next);
  }

  /** Stops injecting and ends every fault: heals the network, restarts hosts, resets clocks. */
  healAll(): void {
    this.active = false;
    this.partitionGeneration += 1;
    this.network.heal();
    for (const host of this.hosts) {
      host.setDrift(0);
      if (!host.up) host.restart();
    }
    this.sim.trace('nemesis heal-all');
  }

  private interval(): number {
    return 1 + this.prng.int(2 * this.options.meanIntervalMs);
  }

  private duration(): number {
    return 1 + this.prng.int(this.options.maxFaultMs);
  }

  /** Runs `undo` after a random duration, unless healAll() came first. */
  private later(label: string, undo: () => void): void {
    this.sim.schedule(this.duration(), `nemesis end ${label}`, () => {
      if (this.active) undo();
    });
  }

  private inject(kind: FaultKind): void {
    this.faults += 1;
    this.sim.trace(`nemesis ${kind}`);
    switch (kind) {
      case 'partition':
        return this.partition();
      case 'clog': {
        const [a, b] = this.prng.shuffle([...this.hosts]);
        if (a === undefined || b === undefined) return;
        this.network.clog(a.id, b.id);
        return this.later('clog', () => this.network.unclog(a.id, b.id));
      }
      case 'drop':
        this.network.dropProbability = 0.05 + 0.25 * this.prng.float();
        return this.later('drop', () => {
          this.network.dropProbability = this.network.options.dropProbability;
        });
      case 'duplicate':
        this.network.duplicateProbability = 0.05 + 0.25 * this.prng.float();
        return this.later('duplicate', () => {
          this.network.duplicateProbability = this.network.options.duplicateProbability;
        });
      case 'delay': {
        const base = this.network.options.latency;
        this.network.latency = { ...base, maxMs: base.maxMs * (2 + this.prng.int(20)) };
        return this.later('delay', () => {
          this.network.latency = this.network.options.latency;
        });
      }
      case 'crash':
        return this.crash();
      case 'skew': {
        const host = this.prng.pick(this.hosts);
        const bound = host.options.maxDrift;
        host.setDrift((2 * this.prng.float() - 1) * bound);
        return this.later('skew', () => host.setDrift(0));
      }
    }
  }

  private partition(): void {
    const ids = this.prng.shuffle(this.hosts.map((h) => h.id));
    const groupCount = 2 + this.prng.int(Math.max(1, Math.min(2, ids.length - 1)));
    const groups: number[][] = Array.from({ length: groupCount }, () => []);
    ids.forEach((id, i) => {
      // The first hosts seed each group, so no group is empty; the rest land at random.
      (groups[i < groupCount ? i : this.prng.int(groupCount)] as number[]).push(id);
    });
    this.network.partition(groups);
    const generation = ++this.partitionGeneration;
    this.later('partition', () => {
      if (generation === this.partitionGeneration) this.network.partition([]);
    });
  }

  private crash(): void {
    const down = this.hosts.filter((h) => !h.up).length;
    const up = this.hosts.filter((h) => h.up);
    if (down >= this.options.maxCrashed || up.length === 0) return;
    const host = this.prng.pick(up);
    host.crash();
    this.later('crash', () => {
      if (!host.up) host.restart();
    });
  }
}
