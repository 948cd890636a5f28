/**
 * The `bucket` scenario's protocol checkers (DESIGN.md 5), fed every Ready of every node before the
 * driver carries it out, and the acknowledged writes the clients saw:
 *
 * 1. one leader per epoch, and no node ever goes back from an epoch it persisted (also across
 *    restarts; an epoch adopted in memory and lost in a crash before its fsync was never acted on);
 * 2. no lost acknowledged write: when the leader of epoch e activates, its log holds every write
 *    acknowledged so far that was committed in an epoch before e (a leader that activates late,
 *    already deposed, need not know writes of later epochs: it can serve none of them); at the
 *    end, every member the conductor counts as complete holds every acknowledged write;
 * 3. committed logs agree: every entry any node applies at an index is the same (epoch, payload);
 * 4. sessions: a (client, seq) is applied fresh at one index only; never after an earlier entry of
 *    its session said every seq below a larger ackedBelow was done (1 ≤ ackedBelow ≤ seq); and a
 *    duplicate is answered with the first application's result.
 * Linearizability of the client history is checked separately (sim/linearizability.ts).
 */
import type {
  AppliedEntry,
  BucketReplica,
  LogView,
  NodeId,
  Ready,
  WritePayload,
} from '../../src/core/bucket/index.js';
import type { AckedWrite } from './client.js';
import type { ReadyObserver } from './node.js';

const VIOLATIONS_MAX = 8;

interface Committed {
  readonly epoch: number;
  readonly id: string;
  readonly node: NodeId;
  /** The epoch in which it was committed: that of the first node to apply it, its leader. */
  readonly committedIn: number;
}

export class BucketChecker implements ReadyObserver {
  readonly violations: string[] = [];
  private readonly committed = new Map<number, Committed>();
  private readonly freshAt = new Map<string, number>();
  /** The largest ackedBelow of each client's committed entries, in log order. */
  private readonly ackedBelow = new Map<number, number>();
  private readonly leaders = new Map<number, NodeId>();
  /** The newest epoch each node made durable. */
  private readonly durableEpoch = new Map<NodeId, number>();
  /** Activations checked, for notes. */
  activations = 0;
  /** Committed writes by shape (pipelined: ackedBelow < seq; conditional; condition failed). */
  readonly writes = { committed: 0, pipelined: 0, conditional: 0, conditionFailed: 0 };
  /** Durable operations seen, by kind (snapshot installs, truncations, drops), for notes. */
  readonly persisted = new Map<string, number>();

  constructor(private readonly acked: readonly AckedWrite[]) {}

  private violation(text: string): void {
    if (this.violations.length < VIOLATIONS_MAX) this.violations.push(text);
  }

  onReady(node: NodeId, replica: BucketReplica, ready: Ready): void {
    this.checkEpoch(node, replica);
    for (const applied of ready.applied) this.checkApplied(node, replica.epoch, applied);
    for (const event of ready.events) {
      // A report cut in the same Ready as a newer edict describes a log since changed (perhaps
      // dropped): check only reports of the epoch the replica is still in.
      if (event.kind !== 'activated' || event.epoch !== replica.epoch) continue;
      this.activations += 1;
      this.checkHolds(node, replica.log, `when it activated epoch ${event.epoch}`, event.epoch);
    }
  }

  onDurable(node: NodeId, ready: Ready): void {
    for (const op of ready.persist) {
      this.persisted.set(op.op, (this.persisted.get(op.op) ?? 0) + 1);
      if (op.op !== 'meta') continue;
      this.durableEpoch.set(node, Math.max(this.durableEpoch.get(node) ?? 0, op.meta.epoch));
    }
  }

  private checkEpoch(node: NodeId, replica: BucketReplica): void {
    const durable = this.durableEpoch.get(node) ?? 0;
    if (replica.epoch < durable) {
      this.violation(`epochs: node ${node} went back from epoch ${durable} to ${replica.epoch}`);
    }
    if (replica.role !== 'leader') return;
    const leader = this.leaders.get(replica.epoch);
    if (leader !== undefined && leader !== node) {
      this.violation(`leaders: nodes ${leader} and ${node} both led epoch ${replica.epoch}`);
    }
    this.leaders.set(replica.epoch, node);
  }

  private checkApplied(node: NodeId, epoch: number, applied: AppliedEntry): void {
    const { entry } = applied;
    const payload = entry.payload;
    const id =
      payload.kind === 'write'
        ? `w${payload.clientId}/${payload.seq}`
        : `g${payload.government.epoch}`;
    const known = this.committed.get(entry.index);
    if (known === undefined) {
      this.committed.set(entry.index, { epoch: entry.epoch, id, node, committedIn: epoch });
      if (payload.kind === 'write') this.checkFloor(applied, payload);
    } else if (known.epoch !== entry.epoch || known.id !== id) {
      this.violation(
        `committed logs disagree at index ${entry.index}: node ${known.node} applied ` +
          `(${known.epoch}, ${known.id}), node ${node} applied (${entry.epoch}, ${id})`,
      );
    }
    if (payload.kind !== 'write') return;
    const key = `${payload.clientId}/${payload.seq}`;
    if (!applied.fresh) {
      const first = this.freshAt.get(key);
      const result = applied.result;
      if (typeof result === 'object' && result !== null && first !== undefined) {
        if (result.at.index !== first) {
          this.violation(
            `sessions: a duplicate of ${key} answered with index ${result.at.index}, ` +
              `first applied at ${first}`,
          );
        }
      }
      return;
    }
    const first = this.freshAt.get(key);
    if (first === undefined) this.freshAt.set(key, entry.index);
    else if (first !== entry.index) {
      this.violation(
        `sessions: client ${key} applied at index ${first} and again at ${entry.index}`,
      );
    }
  }

  /**
   * The first time any node applies an index (every index is first applied in log order: a node
   * applies, or installs a snapshot of, everything before it first): a fresh write must not be
   * below an ackedBelow its session already sent.
   */
  private checkFloor(applied: AppliedEntry, payload: WritePayload): void {
    const { clientId, seq, ackedBelow, command } = payload;
    this.writes.committed += 1;
    if (ackedBelow < seq) this.writes.pipelined += 1;
    if (command.op === 'cas' || command.ifVersion !== undefined || command.ifExists !== undefined) {
      this.writes.conditional += 1;
      const result = applied.result;
      if (typeof result === 'object' && result !== null && !result.ok) {
        this.writes.conditionFailed += 1;
      }
    }
    if (ackedBelow < 1 || ackedBelow > seq) {
      this.violation(`sessions: ${clientId}/${seq} logged with ackedBelow ${ackedBelow}`);
    }
    const floor = this.ackedBelow.get(clientId) ?? 1;
    if (applied.fresh && seq < floor) {
      this.violation(
        `sessions: ${clientId}/${seq} applied at ${applied.entry.index} after the session's ` +
          `ackedBelow reached ${floor}`,
      );
    }
    this.ackedBelow.set(clientId, Math.max(floor, ackedBelow));
  }

  /**
   * Every write acknowledged so far (and committed in an epoch before `before`) is in `log`, or
   * inside its snapshot base.
   */
  checkHolds(node: NodeId, log: LogView, when: string, before = Infinity): void {
    for (const w of this.acked) {
      if ((this.committed.get(w.at.index)?.committedIn ?? 0) >= before) continue;
      if (this.holds(log, w)) continue;
      this.violation(
        `lost write: client ${w.client} seq ${w.seq} acknowledged at (${w.at.epoch}, ${w.at.index}) ` +
          `is not in node ${node}'s log ${when} (it has epoch ${log.epochAt(w.at.index)} there)`,
      );
      return;
    }
  }

  private holds(log: LogView, w: AckedWrite): boolean {
    const base = log.basePosition;
    if (w.at.index > base.index) return log.epochAt(w.at.index) === w.at.epoch;
    // Inside a snapshot: it holds the write if the snapshot's base and the write are both the
    // committed entries at their indexes.
    return (
      this.committed.get(base.index)?.epoch === base.epoch &&
      this.committed.get(w.at.index)?.epoch === w.at.epoch
    );
  }

  /** Every acknowledged write was committed where it says. */
  checkAckedCommitted(): void {
    for (const w of this.acked) {
      const c = this.committed.get(w.at.index);
      if (c?.epoch !== w.at.epoch || c.id !== `w${w.client}/${w.seq}`) {
        // A duplicate's answer points at the first application, so the id must match too.
        this.violation(
          `lost write: client ${w.client} seq ${w.seq} acknowledged at (${w.at.epoch}, ${w.at.index}) ` +
            `but the committed entry there is ${c === undefined ? 'none' : `(${c.epoch}, ${c.id})`}`,
        );
        return;
      }
    }
  }
}
