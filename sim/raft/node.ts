/**
 * One simulated metadata-log node: the Raft core on a SimHost, its store on the host's SimDisk, and
 * the key-value state machine of the `raft` scenario on top.
 *
 * The driver follows the Ready order strictly: write the Ready to the store, wait for the simulated
 * fsync (a disk completion scheduled on the host, lost if the host crashes first), and only then
 * send its messages, apply its committed entries, answer its reads, and `advance`. One Ready is in
 * flight at a time; ticks and messages keep reaching the core meanwhile.
 *
 * Clients talk to nodes over a separate network (see scenarios/raft.ts). A write or CAS is proposed
 * on the node that receives it; that node answers when the entry at the proposal's index applies:
 * with the output if it is the client's command, with `fail` if another entry took its place (the
 * command was certainly not applied: it was proposed once, at that index only). A read asks for a
 * ReadIndex and is answered from the applied state once the read's index is applied.
 */
import type { LogIndex, NodeId } from '../../src/core/lib/ids.js';
import { nodeId } from '../../src/core/lib/ids.js';
import type { Prng } from '../../src/core/lib/prng.js';
import {
  Raft,
  bootstrapState,
  type ConfigState,
  type Entry,
  type Message,
  type RaftOptions,
  type RaftStatus,
  type Ready,
} from '../../src/core/raft/index.js';
import type { KvInput, KvOutput } from '../history.js';
import type { SimHost } from '../host.js';
import type { SimNetwork } from '../network.js';
import type { RaftChecker } from './checker.js';
import { SimDiskRaftStore } from './disk-store.js';
import { KvStateMachine, decodeCommand, encodeCommand, type KvCommand } from './kv.js';

/** What clients and nodes exchange. */
export type ClientWire =
  | { readonly t: 'req'; readonly reqId: number; readonly key: string; readonly input: KvInput }
  | { readonly t: 'res'; readonly reqId: number; readonly output: KvOutput }
  | { readonly t: 'fail'; readonly reqId: number; readonly leaderHint: NodeId | null };

export interface NodeEnv {
  readonly host: SimHost;
  readonly raftNet: SimNetwork<Message>;
  readonly clientNet: SimNetwork<ClientWire>;
  readonly options: RaftOptions;
  /** This boot's own stream: election timeouts and fsync latencies. */
  readonly prng: Prng;
  readonly checker: RaftChecker;
  /** The initial configuration, for a founding member; null for a node that joins later. */
  readonly founding: ConfigState | null;
  /** Compact once this many entries were applied since the last snapshot. */
  readonly compactEvery: number;
  /** Called when a liveness probe entry is applied. */
  readonly onProbe: (entry: Entry) => void;
  /** Called after every event the node handles, with its state (for targeted faults). */
  readonly onStatus: (status: RaftStatus) => void;
}

interface PendingRead {
  readonly client: number;
  readonly reqId: number;
  readonly key: string;
  index: LogIndex | null;
}

export class SimRaftNode {
  readonly id: NodeId;
  readonly raft: Raft;
  private readonly store: SimDiskRaftStore;
  private readonly kv = new KvStateMachine();
  private busy = false;
  /** Proposals made here, by log index, with the client waiting for each. */
  private readonly proposals = new Map<LogIndex, { client: number; reqId: number }>();
  private readonly reads = new Map<string, PendingRead>();
  private readCounter = 0;
  private snapshotIndex = 0;

  constructor(private readonly env: NodeEnv) {
    this.id = nodeId(env.host.id);
    this.store = new SimDiskRaftStore(env.host.disk);
    let state = this.store.load();
    const fresh =
      state.hardState.term === 0 && state.entries.length === 0 && state.snapshot === null;
    if (fresh && env.founding !== null) {
      this.store.write(bootstrapState(env.founding.voters, env.founding.learners));
      this.store.sync();
      state = this.store.load();
    }
    this.raft = new Raft({ id: this.id, state, prng: env.prng.fork() }, env.options);
    this.snapshotIndex = state.snapshot?.meta.index ?? 0;
    if (state.snapshot !== null) this.kv.restore(state.snapshot.data);
    env.checker.onRestore(this.id, state.snapshot?.meta.index ?? (0 as LogIndex));
    env.raftNet.attach(this.id, (_from, m) => {
      this.raft.step(m);
      this.afterEvent();
    });
    env.clientNet.attach(this.id, (from, m) => this.onClient(from, m));
    env.host.startTicking(() => {
      this.raft.tick();
      this.afterEvent();
    });
    this.afterEvent();
  }

  /** Detaches the node (its process died). */
  halt(): void {
    this.env.raftNet.detach(this.id);
    this.env.clientNet.detach(this.id);
  }

  /** Proposes a liveness probe; returns whether this node accepted it (it leads). */
  proposeProbe(n: number): boolean {
    const command: KvCommand = { client: 0, reqId: n, key: `probe-${n}`, input: { f: 'probe' } };
    const result = this.raft.propose(encodeCommand(command));
    this.afterEvent();
    return result.ok;
  }

  /** Lets the node act on a change made from outside (an admin call on its core). */
  kick(): void {
    this.afterEvent();
  }

  private afterEvent(): void {
    const status = this.raft.status();
    if (status.role === 'leader') this.env.checker.onLeader(this.id, status.term, this.raft);
    this.pump();
    this.env.onStatus(status);
  }

  private onClient(client: number, m: ClientWire): void {
    if (m.t !== 'req') return;
    if (m.input.f === 'read') {
      const context = `${this.id}/${this.env.host.incarnation}/${++this.readCounter}`;
      const result = this.raft.readIndex(context);
      if (!result.ok) {
        const hint = result.code === 'NOT_LEADER' ? result.leaderHint : null;
        this.reply(client, { t: 'fail', reqId: m.reqId, leaderHint: hint });
      } else {
        this.reads.set(context, { client, reqId: m.reqId, key: m.key, index: null });
      }
    } else {
      const command: KvCommand = { client, reqId: m.reqId, key: m.key, input: m.input };
      const result = this.raft.propose(encodeCommand(command));
      if (result.ok) this.proposals.set(result.index, { client, reqId: m.reqId });
      else {
        const hint = result.code === 'NOT_LEADER' ? result.leaderHint : null;
        this.reply(client, { t: 'fail', reqId: m.reqId, leaderHint: hint });
      }
    }
    this.afterEvent();
  }

  private reply(client: number, m: ClientWire): void {
    this.env.clientNet.send(this.id, client, m, m.t);
  }

  /** Takes Readies while there is no fsync in flight. */
  private pump(): void {
    while (!this.busy) {
      const ready = this.raft.ready();
      if (ready === null) return;
      if (ready.entries.length === 0 && ready.hardState === null && ready.snapshot === null) {
        this.finish(ready);
        continue;
      }
      this.busy = true;
      this.store.write(ready);
      this.env.host.schedule(this.env.prng.range(1, 3), 'fsync', () => {
        this.store.sync();
        this.finish(ready);
        this.busy = false;
        this.maybeCompact();
        this.afterEvent();
      });
    }
  }

  /** Everything after persistence: send, apply, answer, advance. */
  private finish(ready: Ready): void {
    for (const m of ready.messages) this.env.raftNet.send(this.id, m.to, m, m.type);
    if (ready.snapshot !== null) {
      const { index } = ready.snapshot.meta;
      this.kv.restore(ready.snapshot.data);
      this.snapshotIndex = index;
      this.env.checker.onRestore(this.id, index);
      // Proposals inside the snapshot: their outcome is unknown here; their clients time out.
      for (const at of [...this.proposals.keys()]) if (at <= index) this.proposals.delete(at);
    }
    for (const entry of ready.committed) this.apply(entry);
    for (const rs of ready.readStates) {
      const read = this.reads.get(rs.context);
      if (read !== undefined) read.index = rs.index;
    }
    this.raft.advance(ready);
    this.serveReads();
  }

  private apply(entry: Entry): void {
    this.env.checker.onApply(this.id, entry, this.raft.status().term);
    const waiting = this.proposals.get(entry.index);
    this.proposals.delete(entry.index);
    if (entry.type !== 'normal' || entry.data.length === 0) {
      if (waiting !== undefined)
        this.reply(waiting.client, { t: 'fail', reqId: waiting.reqId, leaderHint: null });
      return;
    }
    const command = decodeCommand(entry.data);
    const output = this.kv.apply(command);
    if (command.input.f === 'probe') this.env.onProbe(entry);
    if (waiting === undefined) return;
    if (waiting.client === command.client && waiting.reqId === command.reqId && output !== null) {
      this.reply(waiting.client, { t: 'res', reqId: waiting.reqId, output });
    } else {
      this.reply(waiting.client, { t: 'fail', reqId: waiting.reqId, leaderHint: null });
    }
  }

  private serveReads(): void {
    const applied = this.raft.status().applied;
    for (const [context, read] of this.reads) {
      if (read.index === null || read.index > applied) continue;
      this.reads.delete(context);
      const output: KvOutput = { f: 'read', value: this.kv.read(read.key) };
      this.reply(read.client, { t: 'res', reqId: read.reqId, output });
    }
  }

  private maybeCompact(): void {
    const applied = this.raft.status().applied;
    if (applied - this.snapshotIndex < this.env.compactEvery) return;
    const snapshot = this.raft.compact(applied, this.kv.snapshot());
    if (snapshot === null) return;
    this.store.compact(snapshot);
    this.snapshotIndex = applied;
  }
}
