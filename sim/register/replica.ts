/**
 * The `register` scenario's system under test: a small single-leader replicated key-value register.
 * Node 1 is always the leader; the others are followers. It exists to exercise the simulator and the
 * checker end to end before the real protocols arrive, so it is deliberately simple:
 *
 * - The leader numbers each write or CAS, appends it to its disk, fsyncs, and only then sends it to
 *   the followers (persist before send). Followers append, fsync and acknowledge their durable length.
 * - An entry commits when the leader and every follower have it durably; the leader then applies it
 *   (evaluating a CAS at that moment) and answers the client. The commit index reaches followers on
 *   the next append or heartbeat, and they apply up to it.
 * - Reads are served by the leader from its applied state. After a restart the leader serves no read
 *   until everything it recovered from disk is committed again, since some of it was acknowledged.
 * - Requests carry (client, reqId); a duplicate is answered from the log instead of applied twice.
 *
 * Planted bug `stale-read`: reads are sent to any node, and followers answer from their (lagging)
 * applied state.
 */
import { assert } from '../../src/core/lib/assert.js';
import type { KvInput, KvOutput, KvValue } from '../history.js';
import type { SimHost } from '../host.js';
import type { SimNetwork } from '../network.js';

export const LEADER = 1;

export interface LogEntry {
  readonly key: string;
  readonly input: KvInput;
  readonly client: number;
  readonly reqId: number;
}

export type RegisterMessage =
  | { readonly t: 'req'; readonly reqId: number; readonly key: string; readonly input: KvInput }
  | { readonly t: 'res'; readonly reqId: number; readonly output: KvOutput }
  | { readonly t: 'err'; readonly reqId: number; readonly code: 'NOT_READY' }
  | {
      readonly t: 'append';
      readonly from: number; // index of the first entry
      readonly entries: readonly LogEntry[];
      readonly commit: number;
    }
  | { readonly t: 'ack'; readonly length: number };

/** The one file of a replica's disk: one JSON line per log entry. */
const LOG_FILE = 'log';
/** Entries sent in one append message. */
const APPEND_BATCH_MAX = 16;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface ReplicaEnv {
  readonly host: SimHost;
  readonly network: SimNetwork<RegisterMessage>;
  readonly followers: readonly number[];
  readonly staleReadBug: boolean;
  /** Simulated fsync latency, drawn per sync. */
  readonly fsyncMs: () => number;
}

export class Replica {
  /** The log as this process knows it; entries [0, durable) are on disk for sure. */
  readonly log: LogEntry[] = [];
  private durable = 0;
  private syncing = false;
  commit = 0;
  private applied = 0;
  private readonly state = new Map<string, KvValue>();
  /** Leader only: each follower's durable length as last acknowledged. */
  private readonly match = new Map<number, number>();
  /** Leader only: where each request sits in the log, for duplicates. */
  private readonly requests = new Map<string, number>();
  private readonly results = new Map<number, KvOutput>();
  /** Leader only: reads wait until the log recovered at boot is committed again. */
  private readonly recovered: number;

  constructor(private readonly env: ReplicaEnv) {
    this.recovered = this.recover();
    this.durable = this.log.length;
    for (const f of env.followers) this.match.set(f, 0);
    this.log.forEach((e, i) => this.requests.set(`${e.client}/${e.reqId}`, i + 1));
    env.network.attach(env.host.id, (from, m) => this.onMessage(from, m));
    env.host.startTicking(() => this.onTick());
  }

  get isLeader(): boolean {
    return this.env.host.id === LEADER;
  }

  /** Rebuilds the log from disk: one JSON line per entry; a torn last line is cut off. */
  private recover(): number {
    const bytes = this.env.host.disk.read(LOG_FILE);
    if (bytes === null) return 0;
    const text = decoder.decode(bytes);
    const end = text.lastIndexOf('\n') + 1;
    if (end < text.length)
      this.env.host.disk.truncate(LOG_FILE, encoder.encode(text.slice(0, end)).length);
    for (const line of text.slice(0, end).split('\n')) {
      if (line !== '') this.log.push(JSON.parse(line) as LogEntry);
    }
    return this.log.length;
  }

  private onMessage(from: number, m: RegisterMessage): void {
    switch (m.t) {
      case 'req':
        return this.onRequest(from, m.reqId, m.key, m.input);
      case 'append':
        return this.onAppend(m.from, m.entries, m.commit);
      case 'ack':
        return this.onAck(from, m.length);
      case 'res':
      case 'err':
        return;
    }
  }

  private onRequest(client: number, reqId: number, key: string, input: KvInput): void {
    if (input.f === 'read') {
      const stale = this.env.staleReadBug && !this.isLeader;
      if (!this.isLeader && !stale) return;
      if (this.isLeader && this.commit < this.recovered) {
        return this.send(client, { t: 'err', reqId, code: 'NOT_READY' });
      }
      const value = this.state.get(key) ?? null;
      return this.send(client, { t: 'res', reqId, output: { f: 'read', value } });
    }
    if (!this.isLeader) return;
    const at = this.requests.get(`${client}/${reqId}`);
    if (at !== undefined) {
      const result = this.results.get(at);
      if (result !== undefined) this.send(client, { t: 'res', reqId, output: result });
      return; // a duplicate of a request in the log: answered when it commits
    }
    this.log.push({ key, input, client, reqId });
    this.requests.set(`${client}/${reqId}`, this.log.length);
    this.env.host.disk.append(LOG_FILE, encoder.encode(JSON.stringify(this.log.at(-1)) + '\n'));
    this.maybeSync();
  }

  /** Group commit: one fsync covers everything appended before it started. */
  private maybeSync(): void {
    if (this.syncing || this.durable === this.log.length) return;
    this.syncing = true;
    const target = this.log.length;
    this.env.host.schedule(this.env.fsyncMs(), 'fsync', () => {
      this.env.host.disk.fsync(LOG_FILE);
      this.syncing = false;
      this.durable = target;
      if (this.isLeader) {
        this.replicate();
        this.advanceCommit();
      } else {
        this.send(LEADER, { t: 'ack', length: this.durable });
      }
      this.maybeSync();
    });
  }

  private onAppend(from: number, entries: readonly LogEntry[], commit: number): void {
    // Accept only what extends the log in order; anything else is answered with our length.
    if (from <= this.log.length + 1 && from + entries.length > this.log.length + 1) {
      for (let i = this.log.length + 1 - from; i < entries.length; i++) {
        const entry = entries[i] as LogEntry;
        this.log.push(entry);
        this.env.host.disk.append(LOG_FILE, encoder.encode(JSON.stringify(entry) + '\n'));
      }
      this.maybeSync();
    } else {
      this.send(LEADER, { t: 'ack', length: this.durable });
    }
    this.commit = Math.max(this.commit, Math.min(commit, this.durable));
    this.apply();
  }

  private onAck(from: number, length: number): void {
    if (!this.isLeader) return;
    this.match.set(from, Math.max(this.match.get(from) ?? 0, Math.min(length, this.durable)));
    this.advanceCommit();
  }

  private advanceCommit(): void {
    let commit = this.durable;
    for (const f of this.env.followers) commit = Math.min(commit, this.match.get(f) ?? 0);
    if (commit > this.commit) {
      assert(commit <= this.durable, 'the leader commits only what it has on disk');
      this.commit = commit;
      this.apply();
    }
  }

  private apply(): void {
    while (this.applied < this.commit) {
      const entry = this.log[this.applied] as LogEntry;
      this.applied += 1;
      const output = this.applyEntry(entry);
      if (this.isLeader) {
        this.results.set(this.applied, output);
        this.send(entry.client, { t: 'res', reqId: entry.reqId, output });
      }
    }
  }

  private applyEntry(entry: LogEntry): KvOutput {
    const current = this.state.get(entry.key) ?? null;
    switch (entry.input.f) {
      case 'write':
        this.state.set(entry.key, entry.input.value);
        return { f: 'write' };
      case 'cas': {
        const ok = current === entry.input.expected;
        if (ok) this.state.set(entry.key, entry.input.value);
        return { f: 'cas', ok };
      }
      case 'read':
        assert(false, 'reads are never logged');
    }
  }

  /** Heartbeat: resend what each follower lacks, and the commit index. */
  private onTick(): void {
    if (this.isLeader) this.replicate();
  }

  private replicate(): void {
    for (const f of this.env.followers) {
      const from = (this.match.get(f) ?? 0) + 1;
      const entries = this.log.slice(from - 1, Math.min(this.durable, from - 1 + APPEND_BATCH_MAX));
      this.send(f, { t: 'append', from, entries, commit: this.commit });
    }
  }

  private send(to: number, m: RegisterMessage): void {
    this.env.network.send(this.env.host.id, to, m, m.t);
  }

  /** The applied value of `key` (for end-of-run checks). */
  valueOf(key: string): KvValue {
    return this.state.get(key) ?? null;
  }
}
