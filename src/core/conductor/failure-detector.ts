/**
 * The failure detector run by the metadata leader (DESIGN.md 4.4, issue 7): every node sends a
 * heartbeat each `heartbeatTicks`; a node unheard for `suspectTicks` is suspect, for `deadTicks`
 * dead — the conductor then proposes `mark-dead` with the incarnation it last heard, so a node that
 * restarted in between (a higher incarnation) is not killed by a stale verdict.
 *
 * Time is ticks. With the default 10 ms tick: heartbeats every 100 ms, suspect after 300 ms, dead
 * after 500 ms — so a dead node's buckets get new governments well under the 1 s target.
 *
 * A new metadata leader knows nothing of recent heartbeats, so `reset` gives every node a full
 * `deadTicks` of grace before it can be declared dead.
 *
 * Refused connections: when a node's process is gone but its host is up (a crash, a SIGKILL), the
 * kernel refuses connections to its port at once. The driver reports such a refusal (`refused`);
 * a node refused and then unheard for `refusedDeadTicks` — two heartbeat intervals, so a node that
 * restarted on the same port has had time to speak — is dead without waiting for `deadTicks`.
 * A host that is down or cut off refuses nothing; `deadTicks` still covers it. A wrong verdict
 * costs availability only: `mark-dead` fences the incarnation, and a live node registers again.
 *
 * Flap damping: each death adds `flapPenalty` to a node's score, which decays by one every tick.
 * While the score is above `flapThreshold`, the node is *damped*: the conductor places no new
 * replicas on it, so a node that keeps crashing does not keep attracting data.
 */
import { assert } from '../lib/assert.js';
import type { NodeId } from '../lib/ids.js';

export interface FailureDetectorOptions {
  /** How often nodes send heartbeats; documented for the sender, unused by the detector. */
  readonly heartbeatTicks: number;
  /** Unheard for this long: suspect (reported, not acted on). */
  readonly suspectTicks: number;
  /** Unheard for this long: dead. Several heartbeats, so one lost message never kills a node. */
  readonly deadTicks: number;
  /** Unheard for this long after a refused connection: dead (see above). */
  readonly refusedDeadTicks: number;
  /** Score added at each death. */
  readonly flapPenalty: number;
  /** A node with a score above this is damped. */
  readonly flapThreshold: number;
}

export const defaultFailureDetectorOptions: FailureDetectorOptions = {
  heartbeatTicks: 10,
  suspectTicks: 30,
  deadTicks: 50,
  refusedDeadTicks: 20,
  // Two deaths within ~a minute (6,000 ticks of 10 ms) damp a node for about that long.
  flapPenalty: 6000,
  flapThreshold: 6000,
};

interface Tracked {
  incarnation: number;
  silentTicks: number;
  /** A connection to it was refused since it was last heard. */
  refused: boolean;
}

export interface Verdicts {
  readonly suspect: readonly NodeId[];
  readonly dead: readonly { readonly id: NodeId; readonly incarnation: number }[];
}

export class FailureDetector {
  private readonly tracked = new Map<NodeId, Tracked>();
  private readonly flapScore = new Map<NodeId, number>();

  constructor(readonly options: FailureDetectorOptions = defaultFailureDetectorOptions) {
    assert(options.suspectTicks > options.heartbeatTicks, 'suspect after more than one heartbeat');
    assert(options.deadTicks > options.suspectTicks, 'dead after suspect');
    assert(
      options.refusedDeadTicks > options.heartbeatTicks &&
        options.refusedDeadTicks <= options.deadTicks,
      'a refused node misses a heartbeat before it is dead, and is dead no later than deadTicks',
    );
  }

  /** Starts watching exactly `nodes` with full grace (on becoming metadata leader, or a change). */
  reset(nodes: readonly { readonly id: NodeId; readonly incarnation: number }[]): void {
    this.tracked.clear();
    for (const n of nodes) {
      this.tracked.set(n.id, { incarnation: n.incarnation, silentTicks: 0, refused: false });
    }
  }

  /** Starts watching one node (a join), or updates its incarnation. */
  watch(id: NodeId, incarnation: number): void {
    const t = this.tracked.get(id);
    if (t === undefined || incarnation > t.incarnation) {
      this.tracked.set(id, { incarnation, silentTicks: 0, refused: false });
    }
  }

  /** Stops watching a node (removed, or already declared dead). */
  forget(id: NodeId): void {
    this.tracked.delete(id);
  }

  /** Records a heartbeat. One from an older incarnation than known is ignored. */
  heartbeat(id: NodeId, incarnation: number): void {
    const t = this.tracked.get(id);
    if (t === undefined || incarnation < t.incarnation) return;
    t.incarnation = incarnation;
    t.silentTicks = 0;
    t.refused = false;
  }

  /** A connection to `id` was refused: nothing listens where it should. */
  refused(id: NodeId): void {
    const t = this.tracked.get(id);
    if (t !== undefined) t.refused = true;
  }

  tick(): void {
    for (const t of this.tracked.values()) t.silentTicks += 1;
    for (const [id, score] of this.flapScore) {
      if (score <= 1) this.flapScore.delete(id);
      else this.flapScore.set(id, score - 1);
    }
  }

  /** Suspect and dead nodes, in id order. */
  verdicts(): Verdicts {
    const suspect: NodeId[] = [];
    const dead: { id: NodeId; incarnation: number }[] = [];
    const ids = [...this.tracked.keys()].sort((a, b) => a - b);
    for (const id of ids) {
      const t = this.tracked.get(id) as Tracked;
      const limit = t.refused ? this.options.refusedDeadTicks : this.options.deadTicks;
      if (t.silentTicks >= limit) dead.push({ id, incarnation: t.incarnation });
      else if (t.silentTicks >= this.options.suspectTicks) suspect.push(id);
    }
    return { suspect, dead };
  }

  /** Counts a death of `id` towards flap damping. */
  recordDeath(id: NodeId): void {
    this.flapScore.set(id, (this.flapScore.get(id) ?? 0) + this.options.flapPenalty);
  }

  /** Whether new replicas should avoid `id` because it keeps failing. */
  isDamped(id: NodeId): boolean {
    return (this.flapScore.get(id) ?? 0) > this.options.flapThreshold;
  }
}
