/**
 * Membership changes, one server at a time (Raft thesis 4.1–4.2).
 *
 * A change adds or removes one voter, or adds, promotes or removes one learner. Any two majorities of
 * configurations that differ by one voter overlap, so no moment exists where two disjoint quorums
 * could decide. Three rules make the method safe, and the core enforces all of them:
 * 1. a node uses the latest configuration in its log, committed or not (a truncated config entry
 *    reverts it);
 * 2. a leader proposes a change only after an entry of its own term is committed (its no-op), which
 *    closes the hole found in the original single-server algorithm;
 * 3. at most one config entry is uncommitted at a time.
 *
 * A config entry carries the change and the whole resulting configuration, so that a node can read
 * its configuration from its log alone.
 */
import { assert } from '../lib/assert.js';
import { nodeId, type NodeId } from '../lib/ids.js';
import { err, ok, type Result } from '../lib/result.js';
import type { ConfigState } from './types.js';

/** One membership change. */
export type ConfigChange =
  | { readonly type: 'add-voter'; readonly node: NodeId }
  | { readonly type: 'add-learner'; readonly node: NodeId }
  | { readonly type: 'promote-learner'; readonly node: NodeId }
  | { readonly type: 'remove-node'; readonly node: NodeId };

/** Why a change cannot apply to a configuration. */
export type ConfigChangeError = 'ALREADY_MEMBER' | 'NOT_A_LEARNER' | 'NOT_A_MEMBER' | 'LAST_VOTER';

/** The payload of a `config` entry. `change` is null for the bootstrap configuration at index 1. */
export interface ConfigEntry {
  readonly change: ConfigChange | null;
  readonly config: ConfigState;
}

/** The configuration with no members: what a node that has not joined yet knows. */
export const emptyConfig: ConfigState = { voters: [], learners: [] };

/** A configuration from unsorted lists; asserts that they are disjoint and without duplicates. */
export function makeConfig(
  voters: readonly NodeId[],
  learners: readonly NodeId[] = [],
): ConfigState {
  const v = [...voters].sort((a, b) => a - b);
  const l = [...learners].sort((a, b) => a - b);
  const all = new Set<number>([...v, ...l]);
  assert(all.size === v.length + l.length, 'config: voters and learners are distinct nodes');
  return { voters: v, learners: l };
}

/** Whether `node` is a voter of `config`. */
export function isVoter(config: ConfigState, node: NodeId): boolean {
  return config.voters.includes(node);
}

/** Whether `node` is a learner of `config`. */
export function isLearner(config: ConfigState, node: NodeId): boolean {
  return config.learners.includes(node);
}

/** Every member, voters and learners, sorted. */
export function members(config: ConfigState): NodeId[] {
  return [...config.voters, ...config.learners].sort((a, b) => a - b);
}

/** Whether two configurations have the same members in the same roles. */
export function sameConfig(a: ConfigState, b: ConfigState): boolean {
  return (
    a.voters.length === b.voters.length &&
    a.learners.length === b.learners.length &&
    a.voters.every((v, i) => v === b.voters[i]) &&
    a.learners.every((l, i) => l === b.learners[i])
  );
}

/** The configuration after `change`, or why the change does not apply. */
export function applyConfigChange(
  config: ConfigState,
  change: ConfigChange,
): Result<ConfigState, ConfigChangeError> {
  const { node } = change;
  const voter = isVoter(config, node);
  const learner = isLearner(config, node);
  const without = (list: readonly NodeId[]): NodeId[] => list.filter((n) => n !== node);
  switch (change.type) {
    case 'add-voter':
      if (voter || learner) return err('ALREADY_MEMBER');
      return ok(makeConfig([...config.voters, node], config.learners));
    case 'add-learner':
      if (voter || learner) return err('ALREADY_MEMBER');
      return ok(makeConfig(config.voters, [...config.learners, node]));
    case 'promote-learner':
      if (!learner) return err('NOT_A_LEARNER');
      return ok(makeConfig([...config.voters, node], without(config.learners)));
    case 'remove-node':
      if (!voter && !learner) return err('NOT_A_MEMBER');
      if (voter && config.voters.length === 1) return err('LAST_VOTER');
      return ok(makeConfig(without(config.voters), without(config.learners)));
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The canonical bytes of a config entry (fixed key order, sorted lists). */
export function encodeConfigEntry(entry: ConfigEntry): Uint8Array {
  const { change, config } = entry;
  return encoder.encode(
    JSON.stringify({
      change: change === null ? null : { type: change.type, node: change.node },
      config: { voters: config.voters, learners: config.learners },
    }),
  );
}

const changeTypes: readonly string[] = [
  'add-voter',
  'add-learner',
  'promote-learner',
  'remove-node',
];

/**
 * Decodes a config entry. Its bytes come from our own log (checksummed on disk, written by a
 * leader), so anything malformed is a broken invariant, not an operational error.
 */
export function decodeConfigEntry(bytes: Uint8Array): ConfigEntry {
  const raw = JSON.parse(decoder.decode(bytes)) as {
    change: { type: string; node: number } | null;
    config: { voters: number[]; learners: number[] };
  };
  const change = raw.change;
  assert(
    change === null || changeTypes.includes(change.type),
    `config entry: bad change ${change?.type}`,
  );
  assert(Array.isArray(raw.config.voters), 'config entry: voters is a list');
  assert(Array.isArray(raw.config.learners), 'config entry: learners is a list');
  const config = makeConfig(raw.config.voters.map(nodeId), raw.config.learners.map(nodeId));
  return {
    change:
      change === null ? null : ({ type: change.type, node: nodeId(change.node) } as ConfigChange),
    config,
  };
}
