/**
 * The Raft core's options, each with its unit and the reason for its default. Validated once when a
 * node is built (`validateRaftOptions`), so a bad value fails at start, not in the middle of a run.
 */
import { assert } from '../lib/assert.js';
import type { RaftBug } from './types.js';

export interface RaftOptions {
  /**
   * Ticks a follower waits without hearing from a leader before it campaigns; the actual timeout is
   * drawn from [electionTicks, 2·electionTicks) at every reset so that nodes rarely collide. A leader
   * also checks its quorum once per electionTicks. Default 10: with a 100 ms tick, one second.
   */
  readonly electionTicks: number;
  /** Ticks between a leader's heartbeats. Default 1: several heartbeats per election timeout. */
  readonly heartbeatTicks: number;
  /**
   * Pre-vote (Raft thesis 9.6): a node asks whether it could win before it raises its term, so a
   * node that was cut off cannot force a healthy leader to step down when it returns.
   */
  readonly preVote: boolean;
  /**
   * Check-quorum: a leader that has not heard from a quorum within an election timeout steps down,
   * and a node that heard from a leader within one ignores (pre-)votes. Together with pre-vote this
   * keeps a partitioned node from disrupting a healthy leader.
   */
  readonly checkQuorum: boolean;
  /** Largest total entry payload in one append message (bytes); at least one entry is always sent. */
  readonly maxMessageBytes: number;
  /** Largest number of append messages in flight to one follower (pipelining window). */
  readonly maxInflightMessages: number;
  /** Largest total entry payload in flight to one follower (bytes). */
  readonly maxInflightBytes: number;
  /** A leader refuses proposals past this many bytes of uncommitted entries (back-pressure). */
  readonly maxUncommittedBytes: number;
  /** Largest payload of one proposed entry (bytes). */
  readonly maxEntryBytes: number;
  /** Largest total payload of committed entries handed out in one Ready (bytes); ≥ 1 entry. */
  readonly maxApplyBytes: number;
  /** Largest number of ReadIndex requests a leader holds at once. */
  readonly maxPendingReads: number;
  /** Ticks a leader waits for a follower to install a snapshot before it sends it again. */
  readonly snapshotRetryTicks: number;
  /** Planted bugs, for the simulator only. Production code never sets any. */
  readonly bugs: ReadonlySet<RaftBug>;
}

export const defaultRaftOptions: RaftOptions = {
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  // 64 KiB per message and 16 messages in flight keep a follower on a 1 Gbit/s link busy for ~8 ms
  // per window, while a lagging follower cannot make the leader buffer more than 1 MiB for it.
  maxMessageBytes: 64 * 1024,
  maxInflightMessages: 16,
  maxInflightBytes: 1024 * 1024,
  // Directory commands are at most 4 KiB; 4 MiB of backlog is ~1000 of them, far more than a
  // healthy leader ever holds, and small enough to bound the memory of a leader that cannot commit.
  maxUncommittedBytes: 4 * 1024 * 1024,
  maxEntryBytes: 1024 * 1024,
  maxApplyBytes: 1024 * 1024,
  maxPendingReads: 1024,
  snapshotRetryTicks: 20,
  bugs: new Set(),
};

/** Fails on options no node can run with. */
export function validateRaftOptions(o: RaftOptions): void {
  const positive = (value: number, name: string): void => {
    assert(Number.isSafeInteger(value), `raft options: ${name} must be an integer`);
    assert(value > 0, `raft options: ${name} must be positive`);
  };
  positive(o.electionTicks, 'electionTicks');
  positive(o.heartbeatTicks, 'heartbeatTicks');
  positive(o.maxMessageBytes, 'maxMessageBytes');
  positive(o.maxInflightMessages, 'maxInflightMessages');
  positive(o.maxInflightBytes, 'maxInflightBytes');
  positive(o.maxUncommittedBytes, 'maxUncommittedBytes');
  positive(o.maxEntryBytes, 'maxEntryBytes');
  positive(o.maxApplyBytes, 'maxApplyBytes');
  positive(o.maxPendingReads, 'maxPendingReads');
  positive(o.snapshotRetryTicks, 'snapshotRetryTicks');
  assert(o.heartbeatTicks < o.electionTicks, 'raft options: heartbeats must beat elections');
  assert(o.maxEntryBytes <= o.maxUncommittedBytes, 'raft options: one entry fits the backlog');
}
