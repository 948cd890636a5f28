/**
 * A simulated node process: it owns a disk, can crash and restart, and runs its timers and I/O
 * completions through the simulator.
 *
 * A crash ends the process's incarnation: every event it had scheduled is dropped when it comes due,
 * its disk loses what was not fsynced (see SimDisk.crash), and `halt` detaches it from the network.
 * A restart begins a new incarnation and calls `boot`, which must rebuild the node from its disk only.
 *
 * Clock drift: the host's clock runs at `rate` (1 ± drift, |drift| ≤ maxDrift). Timers scheduled
 * with `scheduleLocal` and the periodic tick measure local time, so a fast clock ticks more often.
 * Protocols that rely on leases assume exactly this bound.
 */
import { assert } from '../src/core/lib/assert.js';
import type { SimDisk } from './disk.js';
import type { Simulator } from './simulator.js';

export interface SimHostHooks {
  /** Starts (or restarts) the node from its disk. */
  readonly boot: (host: SimHost) => void;
  /** Called when the process dies: detach it from the network, forget its memory. */
  readonly halt: (host: SimHost) => void;
}

export interface SimHostOptions {
  /** Local milliseconds between ticks. */
  readonly tickMs: number;
  /** The largest clock-rate error allowed, e.g. 0.05 for ±5%. */
  readonly maxDrift: number;
}

export const defaultSimHostOptions: SimHostOptions = { tickMs: 10, maxDrift: 0.05 };

export class SimHost {
  up = false;
  /** Grows at every crash; events of an older incarnation never run. */
  incarnation = 0;
  /** Local clock rate relative to simulated time. */
  rate = 1;
  crashes = 0;
  private onTick: (() => void) | null = null;

  constructor(
    private readonly sim: Simulator,
    readonly id: number,
    readonly disk: SimDisk,
    private readonly hooks: SimHostHooks,
    readonly options: SimHostOptions = defaultSimHostOptions,
  ) {}

  /** Boots the node for the first time. */
  start(): void {
    assert(!this.up, `host ${this.id} started twice`);
    this.up = true;
    this.sim.trace(`host ${this.id} start ${this.incarnation}`);
    this.hooks.boot(this);
  }

  /** Kills the process: drops its pending events, loses unsynced disk writes. */
  crash(): void {
    assert(this.up, `host ${this.id} crashed while down`);
    this.up = false;
    this.incarnation += 1;
    this.crashes += 1;
    this.onTick = null;
    this.disk.crash();
    this.sim.trace(`host ${this.id} crash`);
    this.hooks.halt(this);
  }

  /** Starts a new incarnation from the disk. */
  restart(): void {
    assert(!this.up, `host ${this.id} restarted while up`);
    this.up = true;
    this.sim.trace(`host ${this.id} restart ${this.incarnation}`);
    this.hooks.boot(this);
  }

  /** Schedules `fn` after `delayMs` of simulated time, unless the process dies first. */
  schedule(delayMs: number, label: string, fn: () => void): void {
    const incarnation = this.incarnation;
    this.sim.schedule(delayMs, `h${this.id} ${label}`, () => {
      if (this.up && this.incarnation === incarnation) fn();
    });
  }

  /** Schedules `fn` after `localMs` of this host's (drifting) clock. */
  scheduleLocal(localMs: number, label: string, fn: () => void): void {
    this.schedule(localMs / this.rate, label, fn);
  }

  /** Calls `onTick` every `tickMs` of local time until the process dies. Call once per boot. */
  startTicking(onTick: () => void): void {
    assert(this.up, `host ${this.id} ticking while down`);
    this.onTick = onTick;
    const incarnation = this.incarnation;
    const loop = (): void => {
      if (!this.up || this.incarnation !== incarnation || this.onTick === null) return;
      this.onTick();
      this.scheduleLocal(this.options.tickMs, 'tick', loop);
    };
    this.scheduleLocal(this.options.tickMs, 'tick', loop);
  }

  /** Sets the clock drift, within the bound. */
  setDrift(drift: number): void {
    assert(
      Math.abs(drift) <= this.options.maxDrift,
      `host ${this.id}: drift ${drift} out of bound`,
    );
    this.rate = 1 + drift;
  }
}
