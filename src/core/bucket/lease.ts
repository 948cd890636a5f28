/**
 * Read leases (DESIGN.md 4.5: "a deposed leader stops serving reads before a new leader can start").
 *
 * Clock assumption: every node's clock runs at a rate within [1 - ρ, 1 + ρ] of real time
 * (ρ = `clockDriftMax`), and ticks come at a fixed period of that clock. Nothing is assumed about
 * clock *values*: leases are measured in local ticks only.
 *
 * The protocol, per epoch:
 * 1. The leader stamps each append with its tick count `s` when it builds it.
 * 2. A follower of the same epoch that receives it promises: "until my tick count reaches
 *    now + promiseTicks, I will not help any leader of a newer epoch activate" — concretely, if it
 *    becomes a leader itself, it does not activate before the promise ends (see replica.ts). It
 *    echoes `s` in its acknowledgement: the grant.
 * 3. The leader holds a lease until its tick count reaches min over followers(grant) + leaseTicks,
 *    with leaseTicks = ⌊(promiseTicks - 1)(1 - ρ)/(1 + ρ)⌋ (options.ts): the lease ends in real time
 *    before any promise behind it does. Only an activated leader with a valid lease serves reads.
 * 4. After a restart a node forgets its promises, so it behaves as if it had promised at boot: it
 *    activates nothing for promiseTicks.
 * 5. An old leader that learns of a newer government stops serving and sends `lease-release`;
 *    a follower then drops its promise to that epoch early (a handover need not wait out the lease).
 *
 * Why it suffices: the conductor appoints a leader of a newer epoch only among the members that
 * hold every acknowledged write, which are the voters of the old epoch (docs/bucket-replication.md).
 * Such a node is either the old leader (which stops serving when it switches epoch) or one of the
 * followers whose grants make up the old lease; it waits out its own promise before it activates,
 * and it commits nothing of its epoch before activating. So no read of the old leader can miss a
 * write of the new one.
 */
import { assert } from '../lib/assert.js';
import type { Epoch, NodeId } from './types.js';

/** The leader's side: grants collected from the followers of its current epoch. */
export class LeaderLease {
  private readonly grants = new Map<NodeId, number>();

  constructor(
    private readonly followers: readonly NodeId[],
    private readonly leaseTicks: number,
  ) {
    assert(leaseTicks > 0, 'a lease lasts at least one tick');
  }

  /** Records that `from` granted the lease for the message stamped `stamp`. */
  grant(from: NodeId, stamp: number): void {
    if (!this.followers.includes(from)) return;
    this.grants.set(from, Math.max(this.grants.get(from) ?? -Infinity, stamp));
  }

  /** The tick at which the lease ends: -Infinity when some follower has not granted yet. */
  expiresAt(): number {
    let oldest = Infinity;
    for (const f of this.followers) oldest = Math.min(oldest, this.grants.get(f) ?? -Infinity);
    // A leader without followers needs nobody's promise: no other node can hold its writes.
    return oldest === Infinity ? Infinity : oldest + this.leaseTicks;
  }

  /** Whether the lease holds at tick `now`. */
  valid(now: number): boolean {
    return now < this.expiresAt();
  }
}

/**
 * A member's side: the promises it gave. Only two numbers matter: the promise to the newest epoch
 * it granted (which that epoch's leader may release early), and the latest end of any promise to
 * an older epoch (which nothing releases: the boot promise, and promises superseded by a newer
 * epoch's before they ended).
 */
export class LeasePromise {
  /** The epoch of the newest promise. */
  private epoch = 0;
  private untilTick = -Infinity;
  /** The end of the promises to epochs older than `epoch`; they block every newer leader. */
  private olderUntilTick = -Infinity;

  /** The promise a node assumes at boot, having forgotten what it promised before its crash. */
  static atBoot(now: number, promiseTicks: number): LeasePromise {
    const p = new LeasePromise();
    p.olderUntilTick = now + promiseTicks;
    return p;
  }

  /** Promises the leader of `epoch` not to help a newer epoch before tick now + promiseTicks. */
  grant(epoch: Epoch, now: number, promiseTicks: number): void {
    assert(epoch >= this.epoch, `a promise to epoch ${epoch} after one to ${this.epoch}`);
    if (epoch > this.epoch) {
      this.olderUntilTick = Math.max(this.olderUntilTick, this.untilTick);
      this.epoch = epoch;
      this.untilTick = -Infinity;
    }
    this.untilTick = Math.max(this.untilTick, now + promiseTicks);
  }

  /** The old leader of `epoch` stopped serving: its lease may be forgotten. */
  release(epoch: Epoch): void {
    if (epoch === this.epoch) this.untilTick = -Infinity;
  }

  /** Whether a leader of `epoch` (this node) must still wait at tick `now` before it activates. */
  blocks(epoch: Epoch, now: number): boolean {
    return (epoch > this.epoch && now < this.untilTick) || now < this.olderUntilTick;
  }

  /** Ticks until nothing blocks a leader of `epoch` (0 when nothing does). */
  remaining(epoch: Epoch, now: number): number {
    const newest = epoch > this.epoch ? this.untilTick : -Infinity;
    return Math.max(0, Math.max(newest, this.olderUntilTick) - now);
  }
}
