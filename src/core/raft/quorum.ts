/**
 * Majority quorums over a set of voters. Membership changes one server at a time
 * (config-change.ts), so a single majority configuration is all the core ever needs.
 */
import { assert } from '../lib/assert.js';
import { logIndex, type LogIndex, type NodeId } from '../lib/ids.js';

/** The size of a majority of `voterCount` voters. */
export function majority(voterCount: number): number {
  assert(voterCount > 0, 'a quorum needs at least one voter');
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The largest index that a majority of `voters` has: the commit candidate. `matchOf` gives each
 * voter's acknowledged index (0 when unknown).
 */
export function committedIndex(
  voters: readonly NodeId[],
  matchOf: (voter: NodeId) => LogIndex,
): LogIndex {
  assert(voters.length > 0, 'committedIndex of an empty configuration');
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  return logIndex(matches[majority(voters.length) - 1] as number);
}

/** The outcome of an election so far. */
export type VoteResult = 'won' | 'lost' | 'pending';

/** Tallies `votes` (true: granted) of `voters`; votes from non-voters do not count. */
export function voteResult(
  voters: readonly NodeId[],
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  assert(voters.length > 0, 'voteResult of an empty configuration');
  let granted = 0;
  let rejected = 0;
  for (const voter of voters) {
    const vote = votes.get(voter);
    if (vote === true) granted += 1;
    else if (vote === false) rejected += 1;
  }
  const need = majority(voters.length);
  if (granted >= need) return 'won';
  if (voters.length - rejected < need) return 'lost';
  return 'pending';
}

/** Whether the voters for which `active` holds form a majority. */
export function quorumActive(
  voters: readonly NodeId[],
  active: (voter: NodeId) => boolean,
): boolean {
  return voters.filter(active).length >= majority(voters.length);
}
