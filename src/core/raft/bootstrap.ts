/**
 * The first persistent state of a node: a founding member of a new cluster, or a node that will
 * join one later.
 */
import { assert } from '../lib/assert.js';
import { logIndex, term as makeTerm, type NodeId } from '../lib/ids.js';
import { encodeConfigEntry, makeConfig } from './config-change.js';
import type { Entry, PersistentState } from './types.js';

/**
 * The persistent state of a founding member of a new cluster: entry 1 holds the initial
 * configuration and counts as committed, since every founding member starts with it. Members that
 * join later start from `emptyState()` and receive the log from the leader.
 */
export function bootstrapState(
  voters: readonly NodeId[],
  learners: readonly NodeId[] = [],
): PersistentState {
  const config = makeConfig(voters, learners);
  assert(config.voters.length > 0, 'a cluster starts with at least one voter');
  const entry: Entry = {
    index: logIndex(1),
    term: makeTerm(1),
    type: 'config',
    data: encodeConfigEntry({ change: null, config }),
  };
  return {
    hardState: { term: makeTerm(1), vote: null, commit: logIndex(1) },
    snapshot: null,
    entries: [entry],
  };
}

/** The persistent state of a node that has never run: no term, no log, no configuration. */
export function emptyState(): PersistentState {
  return {
    hardState: { term: makeTerm(0), vote: null, commit: logIndex(0) },
    snapshot: null,
    entries: [],
  };
}
