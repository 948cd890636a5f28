// Client load for the cluster tests: a few writers (each its own client, so its own session),
// each owning a set of keys and writing each key in its own sequential loop, values numbered per
// key. It records every attempt and every acknowledgement, so a test can ask when writes to a key
// resumed after a fault, and whether any acknowledged write was lost.
import assert from 'node:assert/strict';
import { connect, type EdictClient } from '../../src/client/index.js';
import { bound, sleep } from './harness.js';

interface KeyLog {
  readonly key: string;
  readonly writer: number;
  /** Sequence numbers attempted, in order. */
  attempted: number;
  /** The highest sequence number acknowledged (0: none). */
  acked: number;
  /** Sequence numbers whose write failed (outcome unknown to us). */
  readonly failed: Set<number>;
  /** Completion times (Date.now()) of acknowledged writes. */
  readonly ackTimes: number[];
}

export interface LoadOptions {
  readonly writers: number;
  readonly keysPerWriter: number;
  /** Pause between two writes of one key. */
  readonly pauseMs: number;
  readonly prefix: string;
}

export class Load {
  readonly keys: KeyLog[] = [];
  readonly errors: Array<{ key: string; seq: number; at: number; error: unknown }> = [];
  private clients: EdictClient[] = [];
  private loops: Promise<void>[] = [];
  private stopping = false;

  constructor(
    private readonly endpoints: string[],
    readonly options: LoadOptions,
  ) {}

  /** Connects the writers and starts writing. */
  async start(): Promise<void> {
    const { writers, keysPerWriter, prefix } = this.options;
    this.clients = await Promise.all(
      Array.from({ length: writers }, () => connect({ endpoints: this.endpoints })),
    );
    for (let w = 0; w < writers; w++) {
      for (let k = 0; k < keysPerWriter; k++) {
        const log: KeyLog = {
          key: `${prefix}:w${w}:k${k}`,
          writer: w,
          attempted: 0,
          acked: 0,
          failed: new Set(),
          ackTimes: [],
        };
        this.keys.push(log);
        this.loops.push(this.loop(this.clients[w] as EdictClient, log));
      }
    }
  }

  private async loop(client: EdictClient, log: KeyLog): Promise<void> {
    while (!this.stopping) {
      const seq = ++log.attempted;
      try {
        await client.put(log.key, `${log.writer}:${seq}`);
        log.acked = seq;
        log.ackTimes.push(Date.now());
      } catch (error) {
        log.failed.add(seq);
        this.errors.push({ key: log.key, seq, at: Date.now(), error });
      }
      await sleep(this.options.pauseMs);
    }
  }

  /** Waits until every key has at least `n` more acknowledged writes than now (bounded). */
  async progress(n: number, timeoutMs: number): Promise<void> {
    const target = this.keys.map((k) => k.ackTimes.length + n);
    const deadline = Date.now() + timeoutMs;
    while (this.keys.some((k, i) => k.ackTimes.length < (target[i] as number))) {
      if (Date.now() > deadline) {
        const slow = this.keys.filter((k, i) => k.ackTimes.length < (target[i] as number));
        throw new Error(
          `no progress within ${timeoutMs} ms on ${slow.map((k) => k.key).join(' ')}`,
        );
      }
      await sleep(20);
    }
  }

  /** For every key, ms from `since` to its first acknowledgement after it (Infinity: none). */
  resumeTimes(since: number): Map<string, number> {
    return new Map(
      this.keys.map((k) => {
        const first = k.ackTimes.find((t) => t >= since);
        return [k.key, first === undefined ? Infinity : first - since];
      }),
    );
  }

  /** Stops writing, waits (bounded) for the writes in flight, closes the writers. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.race([Promise.all(this.loops), bound(15_000)]);
    await Promise.all(this.clients.map((c) => c.close()));
  }

  /** Total acknowledged writes. */
  get acked(): number {
    return this.keys.reduce((sum, k) => sum + k.ackTimes.length, 0);
  }

  /**
   * Reads every key through a fresh client: each must hold its writer's last acknowledged value,
   * or a later one of the same writer whose write failed (its outcome was unknown).
   */
  async verify(endpoints: string[]): Promise<void> {
    const reader = await connect({ endpoints });
    try {
      const problems: string[] = [];
      for (const k of this.keys) {
        const entry = await reader.get(k.key);
        const text = entry?.text() ?? null;
        const match = text === null ? null : /^(\d+):(\d+)$/.exec(text);
        const writer = match === null ? -1 : Number(match[1]);
        const seq = match === null ? 0 : Number(match[2]);
        if (k.acked > 0 && (writer !== k.writer || seq < k.acked)) {
          problems.push(`${k.key}: holds ${text}, last acknowledged ${k.writer}:${k.acked}`);
        } else if (seq > k.acked && !k.failed.has(seq)) {
          problems.push(`${k.key}: holds ${text}, never written`);
        }
      }
      assert.deepEqual(problems, [], 'acknowledged writes lost');
    } finally {
      await reader.close();
    }
  }

  /** The errors, summarized, for an assertion message. */
  describeErrors(): string {
    return this.errors
      .slice(0, 10)
      .map((e) => {
        const { code, details } = e.error as { code?: string; details?: unknown };
        const more = details === undefined ? '' : ` ${JSON.stringify(details)}`;
        return `${e.key}#${e.seq} at ${e.at}: ${code ?? ''} ${String(e.error)}${more}`;
      })
      .join('\n');
  }
}
