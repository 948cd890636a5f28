/**
 * The deterministic simulator's kernel: a virtual clock, one event queue and a seeded PRNG.
 *
 * Everything that happens in a simulated run — a message delivery, a timer, a disk completion, a
 * fault — is an event scheduled here. Events run one at a time in (time, scheduling order), and each
 * one is recorded in the trace fingerprint, so a run is a pure function of its seed.
 */
import { assert } from '../src/core/lib/assert.js';
import { Prng } from '../src/core/lib/prng.js';
import { EventQueue } from './event-queue.js';
import { TraceHash } from './trace.js';

export interface RunLimits {
  /** Stop before running an event later than this virtual time (ms). */
  readonly untilMs?: number;
  /** Stop after this many events in this call. */
  readonly maxSteps?: number;
  /** Stop as soon as this returns true (checked after each event). */
  readonly until?: () => boolean;
}

export class Simulator {
  /** The virtual time in milliseconds. Only the event loop advances it. */
  now = 0;
  /** Events run so far. */
  steps = 0;
  /** The root PRNG of the run. Components take their own stream with `prng.fork()`. */
  readonly prng: Prng;
  private readonly queue = new EventQueue();
  private readonly traceHash = new TraceHash();

  constructor(seed: number | bigint) {
    this.prng = new Prng(seed);
  }

  /** Schedules `run` after `delayMs` (≥ 0) of virtual time. `label` goes into the trace. */
  schedule(delayMs: number, label: string, run: () => void): void {
    assert(delayMs >= 0, `negative delay for ${label}`);
    this.queue.push(this.now + delayMs, label, run);
  }

  /** Records an entry in the trace fingerprint at the current time. */
  trace(entry: string): void {
    this.traceHash.add(`${this.now}:${entry}`);
  }

  /** The fingerprint of the trace so far, 16 hex digits. */
  traceHex(): string {
    return this.traceHash.hex();
  }

  /** Events waiting. */
  get pending(): number {
    return this.queue.size;
  }

  /** Runs the next event, if any. Returns whether one ran. */
  step(): boolean {
    const event = this.queue.pop();
    if (event === undefined) return false;
    assert(event.at >= this.now, 'time never goes backwards');
    this.now = event.at;
    this.steps += 1;
    this.traceHash.add(`${event.at}:${event.label}`);
    event.run();
    return true;
  }

  /** Runs events until a limit is reached or the queue is empty. Returns the events run. */
  run(limits: RunLimits): number {
    let ran = 0;
    for (;;) {
      if (limits.maxSteps !== undefined && ran >= limits.maxSteps) break;
      const next = this.queue.peek();
      if (next === undefined) break;
      if (limits.untilMs !== undefined && next.at > limits.untilMs) {
        this.now = Math.max(this.now, limits.untilMs);
        break;
      }
      this.step();
      ran += 1;
      if (limits.until?.() === true) break;
    }
    return ran;
  }
}
