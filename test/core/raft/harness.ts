// A tiny in-test network for driving several Raft cores by hand. Each node follows the Ready order
// (persist to its MemoryRaftStore and sync, then send, then apply); messages wait in one queue until
// the test delivers them, so a test decides exactly what arrives, when, and what is lost.
import { logIndex, nodeId, type NodeId } from '../../../src/core/lib/ids.js';
import { Prng } from '../../../src/core/lib/prng.js';
import {
  MemoryRaftStore,
  Raft,
  bootstrapState,
  defaultRaftOptions,
  emptyState,
  type Entry,
  type Message,
  type RaftOptions,
  type ReadState,
} from '../../../src/core/raft/index.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const bytes = (text: string): Uint8Array => encoder.encode(text);
export const text = (data: Uint8Array): string => decoder.decode(data);
export const ids = (...ns: number[]): NodeId[] => ns.map(nodeId);

/** One node: its core, its durable store, and what it applied. */
export class TestNode {
  raft: Raft;
  readonly applied: Entry[] = [];
  readonly readStates: ReadState[] = [];
  up = true;

  constructor(
    readonly id: NodeId,
    readonly store: MemoryRaftStore,
    private readonly prng: Prng,
    private readonly options: RaftOptions,
  ) {
    this.raft = this.boot();
  }

  boot(): Raft {
    return new Raft(
      { id: this.id, state: this.store.load(), prng: this.prng.fork() },
      this.options,
    );
  }

  /** The payloads of applied normal entries, as text (the no-ops are skipped). */
  appliedTexts(): string[] {
    return this.applied
      .filter((e) => e.type === 'normal' && e.data.length > 0)
      .map((e) => text(e.data));
  }
}

/** Decides whether a message is lost; return true to drop it. */
export type DropRule = (m: Message) => boolean;

/** Changes a message in flight (e.g. to model the loss of part of a batch). */
export type RewriteRule = (m: Message) => Message;

export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages sent and not yet delivered, in send order. */
  queue: Message[] = [];
  /** Every message ever sent, for assertions. */
  readonly sent: Message[] = [];
  /** Called with every message delivered (golden scripts print them). */
  onDeliver: ((m: Message) => void) | null = null;
  private drops: DropRule[] = [];
  private rewrites: RewriteRule[] = [];
  private readonly prng: Prng;

  constructor(
    voters: readonly number[],
    learners: readonly number[] = [],
    readonly options: RaftOptions = defaultRaftOptions,
    seed = 1,
  ) {
    this.prng = new Prng(seed);
    for (const id of [...voters, ...learners]) {
      const store = new MemoryRaftStore();
      store.write({ ...bootstrapState(ids(...voters), ids(...learners)) });
      this.nodes.set(nodeId(id), new TestNode(nodeId(id), store, this.prng.fork(), options));
    }
  }

  /** Adds a node that has never run (it joins once a leader adds it to the configuration). */
  addEmpty(id: number): TestNode {
    const store = new MemoryRaftStore();
    store.write({ ...emptyState() });
    const node = new TestNode(nodeId(id), store, this.prng.fork(), this.options);
    this.nodes.set(nodeId(id), node);
    return node;
  }

  node(id: number): TestNode {
    const node = this.nodes.get(nodeId(id));
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  raft(id: number): Raft {
    return this.node(id).raft;
  }

  sorted(): TestNode[] {
    return [...this.nodes.values()].sort((a, b) => a.id - b.id);
  }

  /** Runs every node's Ready loop until no node has work. */
  process(): void {
    for (let progress = true; progress;) {
      progress = false;
      for (const node of this.sorted()) {
        if (!node.up) continue;
        const ready = node.raft.ready();
        if (ready === null) continue;
        progress = true;
        node.store.write(ready);
        node.store.sync();
        for (const m of ready.messages) {
          this.sent.push(m);
          this.queue.push(m);
        }
        if (ready.snapshot !== null) node.applied.length = 0;
        node.applied.push(...ready.committed);
        node.readStates.push(...ready.readStates);
        node.raft.advance(ready);
      }
    }
  }

  /** Drops messages matching `rule` until `heal()`. */
  drop(rule: DropRule): void {
    this.drops.push(rule);
  }

  /** Cuts every link between `id` and the rest. */
  isolate(id: number): void {
    this.drop((m) => m.from === id || m.to === id);
  }

  /** Rewrites messages with `rule` until `heal()`. */
  rewrite(rule: RewriteRule): void {
    this.rewrites.push(rule);
  }

  heal(): void {
    this.drops = [];
    this.rewrites = [];
  }

  /** Delivers queued messages (and those they cause) until the network is quiet. */
  stabilize(maxRounds = 100): void {
    for (let round = 0; round < maxRounds; round++) {
      this.process();
      if (this.queue.length === 0) return;
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) this.deliver(m);
    }
    throw new Error('the cluster did not stabilize');
  }

  /** Delivers one message now, unless dropped or its target is down. */
  deliver(m: Message): void {
    const target = this.nodes.get(m.to);
    if (target === undefined || !target.up || this.drops.some((rule) => rule(m))) return;
    const delivered = this.rewrites.reduce((msg, rule) => rule(msg), m);
    this.onDeliver?.(delivered);
    target.raft.step(delivered);
  }

  /** Ticks the given nodes (default: every live node) `n` times, stabilizing after each tick. */
  tick(n = 1, only: readonly number[] | null = null): void {
    for (let i = 0; i < n; i++) {
      for (const node of this.sorted()) {
        if (node.up && (only === null || only.includes(node.id))) node.raft.tick();
      }
      this.stabilize();
    }
  }

  /** Makes `id` time out and campaign (ticking only it), then lets the election finish. */
  campaign(id: number): void {
    const raft = this.raft(id);
    for (let i = 0; i < 2 * this.options.electionTicks; i++) {
      raft.tick();
      if (raft.status().role !== 'follower') break;
    }
    this.stabilize();
  }

  /** Campaigns `id` until it leads (a refused pre-vote may first move it to a newer term). */
  elect(id: number, attempts = 5): void {
    for (let i = 0; i < attempts && this.raft(id).status().role !== 'leader'; i++)
      this.campaign(id);
  }

  /** The live leader with the highest term, if any. */
  leader(): TestNode | null {
    let best: TestNode | null = null;
    for (const node of this.sorted()) {
      const s = node.raft.status();
      if (node.up && s.role === 'leader' && (best === null || s.term > best.raft.status().term)) {
        best = node;
      }
    }
    return best;
  }

  /** Proposes `data` on the current leader and lets it commit. */
  propose(data: string): void {
    const leader = this.leader();
    if (leader === null) throw new Error('no leader');
    const result = leader.raft.propose(bytes(data));
    if (!result.ok) throw new Error(`proposal refused: ${result.code}`);
    this.stabilize();
  }

  crash(id: number): void {
    this.node(id).up = false;
  }

  restart(id: number): void {
    const node = this.node(id);
    node.up = true;
    node.applied.length = 0;
    node.raft = node.boot();
  }
}

/** Options with overrides. */
export function withOptions(overrides: Partial<RaftOptions>): RaftOptions {
  return { ...defaultRaftOptions, ...overrides };
}

export { logIndex, nodeId };
