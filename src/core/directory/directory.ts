/**
 * The directory state machine. `apply` is the only way it changes; it is deterministic and total:
 * any command, valid or stale, leaves the directory in a defined state, and a command whose
 * expectation does not hold (an old epoch, an old incarnation, an unknown node) changes nothing and
 * says why. Applying a command twice is the same as applying it once.
 */
import { assert } from '../lib/assert.js';
import { epoch as toEpoch, mapVersion, type MapVersion } from '../lib/ids.js';
import { err, ok, type Result } from '../lib/result.js';
import {
  canonicalJson,
  isCount,
  isId,
  isIdList,
  isLabel,
  isObject,
  placementProblem,
  type Command,
} from './commands.js';
import {
  members,
  voters,
  type DirectoryState,
  type Government,
  type NodeId,
  type NodeRecord,
} from './types.js';

/** Why a command was a no-op. */
export type Rejection =
  | 'NOT_BOOTSTRAPPED'
  | 'ALREADY_BOOTSTRAPPED'
  | 'STALE_INCARNATION'
  | 'UNKNOWN_NODE'
  | 'BAD_NODE_STATE'
  | 'UNKNOWN_BUCKET'
  | 'STALE_EPOCH'
  | 'BAD_MEMBER'
  | 'NOT_A_LEARNER'
  | 'INCOMPLETE_LEADER'
  | 'NO_LEADER'
  | 'NOT_THE_LEADER'
  | 'STILL_A_MEMBER'
  | 'DUPLICATE';

export type ApplyResult =
  { readonly applied: true } | { readonly applied: false; readonly why: Rejection };

const APPLIED: ApplyResult = { applied: true };
const no = (why: Rejection): ApplyResult => ({ applied: false, why });

const EMPTY_GOVERNMENT: Government = {
  epoch: toEpoch(0),
  leader: null,
  followers: [],
  learners: [],
  caughtUp: [],
  complete: [],
  target: null,
};

export class Directory {
  private bucketCount = 0;
  private replicas = 0;
  private version: MapVersion = mapVersion(0);
  private readonly nodes = new Map<NodeId, NodeRecord>();
  private buckets: Government[] = [];
  private sessions = 0;
  private drains: NodeId[] = [];

  /** A read-only view of the whole state, nodes in id order. */
  state(): DirectoryState {
    return {
      bucketCount: this.bucketCount,
      replicas: this.replicas,
      version: this.version,
      nodes: [...this.nodes.values()].sort((a, b) => a.id - b.id),
      buckets: [...this.buckets],
      sessions: this.sessions,
      drains: [...this.drains],
    };
  }

  node(id: NodeId): NodeRecord | undefined {
    return this.nodes.get(id);
  }

  government(bucket: number): Government | undefined {
    return this.buckets[bucket];
  }

  get mapVersion(): MapVersion {
    return this.version;
  }

  apply(command: Command): ApplyResult {
    const result = this.dispatch(command);
    // Reports and session ids change no route: clients refresh their tables only on routing changes.
    const routing =
      command.kind !== 'activated' &&
      command.kind !== 'caught-up' &&
      command.kind !== 'open-sessions';
    if (result.applied && routing) this.version = mapVersion(this.version + 1);
    return result;
  }

  private dispatch(c: Command): ApplyResult {
    if (c.kind === 'bootstrap') {
      if (this.bucketCount > 0) return no('ALREADY_BOOTSTRAPPED');
      this.bucketCount = c.bucketCount;
      this.replicas = c.replicas;
      this.buckets = Array.from({ length: c.bucketCount }, () => EMPTY_GOVERNMENT);
      return APPLIED;
    }
    if (c.kind === 'open-sessions') {
      // Session ids need no buckets: clients may open sessions while the cluster bootstraps.
      this.sessions += c.count;
      return APPLIED;
    }
    if (this.bucketCount === 0) return no('NOT_BOOTSTRAPPED');
    switch (c.kind) {
      case 'register':
        return this.register(c);
      case 'mark-dead':
        return this.markDead(c.id, c.incarnation);
      case 'drain': {
        const result = this.setState(c.id, ['active'], 'draining');
        if (result.applied) this.drains = [...this.drains, c.id].sort((a, b) => a - b);
        return result;
      }
      case 'remove': {
        if (this.buckets.some((g) => members(g).includes(c.id))) return no('STILL_A_MEMBER');
        const result = this.setState(c.id, ['dead', 'draining'], 'removed');
        if (result.applied) this.drains = this.drains.filter((id) => id !== c.id);
        return result;
      }
      case 'edict':
        return this.edict(c);
      case 'activated':
        return this.activated(c.bucket, c.epoch, c.reporter);
      case 'caught-up':
        return this.caughtUp(c.bucket, c.epoch, c.node, c.reporter);
    }
  }

  private register(c: Extract<Command, { kind: 'register' }>): ApplyResult {
    const existing = this.nodes.get(c.id);
    if (existing !== undefined) {
      if (existing.state === 'removed') return no('BAD_NODE_STATE');
      if (c.incarnation <= existing.incarnation) return no('STALE_INCARNATION');
    }
    // A node being drained keeps draining in every incarnation (even after a death).
    const state = this.drains.includes(c.id) ? 'draining' : 'active';
    const { id, address, zone, rack, weight, incarnation, storageId } = c;
    this.nodes.set(id, { id, address, zone, rack, weight, incarnation, storageId, state });
    if (existing !== undefined && existing.storageId !== storageId) {
      // Its disk was replaced or wiped: it holds none of the writes it acknowledged before.
      this.buckets = this.buckets.map((g) =>
        g.complete.includes(id) ? { ...g, complete: g.complete.filter((x) => x !== id) } : g,
      );
    }
    return APPLIED;
  }

  private markDead(id: NodeId, incarnation: number): ApplyResult {
    const node = this.nodes.get(id);
    if (node === undefined) return no('UNKNOWN_NODE');
    // A verdict on a newer incarnation than registered (it heartbeat, then died before its
    // register committed) still kills the node: the directory's incarnation is older still.
    if (incarnation < node.incarnation) return no('STALE_INCARNATION');
    return this.setState(id, ['active', 'draining'], 'dead');
  }

  private setState(
    id: NodeId,
    from: readonly NodeRecord['state'][],
    to: NodeRecord['state'],
  ): ApplyResult {
    const node = this.nodes.get(id);
    if (node === undefined) return no('UNKNOWN_NODE');
    if (!from.includes(node.state)) return no(node.state === to ? 'DUPLICATE' : 'BAD_NODE_STATE');
    this.nodes.set(id, { ...node, state: to });
    return APPLIED;
  }

  private edict(c: Extract<Command, { kind: 'edict' }>): ApplyResult {
    const current = this.buckets[c.bucket];
    if (current === undefined) return no('UNKNOWN_BUCKET');
    if (current.epoch !== c.expectEpoch) return no('STALE_EPOCH');
    const named = [...(c.leader === null ? [] : [c.leader]), ...c.followers, ...c.learners];
    for (const id of named) {
      const state = this.nodes.get(id)?.state;
      if (state !== 'active' && state !== 'draining') return no('BAD_MEMBER');
    }
    // Every government names a leader (rule A3): without one every write would hang.
    if (c.leader === null) return no('NO_LEADER');
    // The first government of a bucket starts with no data: all its voters are complete.
    const first = current.epoch === 0;
    const newVoters = voters(c);
    const complete = first ? newVoters : current.complete.filter((id) => newVoters.includes(id));
    if (!first && !current.complete.includes(c.leader)) return no('INCOMPLETE_LEADER');
    assert(complete.includes(c.leader), 'the leader is complete');
    // A learner's finished backfill stays valid while the leader it copied from keeps leading.
    const keep = c.leader === current.leader ? current.caughtUp : [];
    const next: Government = {
      epoch: toEpoch(current.epoch + 1),
      leader: c.leader,
      followers: [...c.followers],
      learners: [...c.learners],
      caughtUp: keep.filter((id) => c.learners.includes(id)),
      complete: [...complete].sort((a, b) => a - b),
      target:
        c.target === undefined
          ? null
          : { leader: c.target.leader, followers: [...c.target.followers] },
    };
    assert(next.epoch > current.epoch, 'epochs only grow');
    this.buckets[c.bucket] = next;
    return APPLIED;
  }

  private activated(bucket: number, epoch: number, reporter: NodeId): ApplyResult {
    const g = this.buckets[bucket];
    if (g === undefined) return no('UNKNOWN_BUCKET');
    if (g.epoch !== epoch) return no('STALE_EPOCH');
    if (g.leader !== reporter) return no('NOT_THE_LEADER');
    const all = voters(g).sort((a, b) => a - b);
    if (all.length === g.complete.length) return no('DUPLICATE');
    this.buckets[bucket] = { ...g, complete: all };
    return APPLIED;
  }

  private caughtUp(bucket: number, epoch: number, node: NodeId, reporter: NodeId): ApplyResult {
    const g = this.buckets[bucket];
    if (g === undefined) return no('UNKNOWN_BUCKET');
    if (g.epoch !== epoch) return no('STALE_EPOCH');
    if (g.leader !== reporter) return no('NOT_THE_LEADER');
    if (!g.learners.includes(node)) return no('NOT_A_LEARNER');
    if (g.caughtUp.includes(node)) return no('DUPLICATE');
    this.buckets[bucket] = { ...g, caughtUp: [...g.caughtUp, node].sort((a, b) => a - b) };
    return APPLIED;
  }

  /** Canonical bytes of the whole state: equal directories encode to equal bytes (invariant 5). */
  encode(): Uint8Array {
    return new TextEncoder().encode(canonicalJson(this.state()));
  }

  /**
   * Rebuilds a directory from `encode()` output (a metadata-log snapshot, possibly from a peer).
   * Untrusted: every field and the government invariants (leader ∈ complete ⊆ voters) are checked,
   * and anything else is `MALFORMED_SNAPSHOT`.
   */
  static decode(bytes: Uint8Array): Result<Directory, 'MALFORMED_SNAPSHOT', string> {
    let raw: unknown;
    try {
      raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch {
      return err('MALFORMED_SNAPSHOT', 'not UTF-8 JSON');
    }
    const problem = snapshotProblem(raw);
    if (problem !== null) return err('MALFORMED_SNAPSHOT', problem);
    const s = raw as DirectoryState;
    const d = new Directory();
    d.bucketCount = s.bucketCount;
    d.replicas = s.replicas;
    d.version = mapVersion(s.version);
    for (const n of s.nodes) d.nodes.set(n.id, n);
    // Snapshots written before targets were recorded have none: no move in progress.
    d.buckets = s.buckets.map((g) => ({ ...g, target: g.target ?? null }));
    d.sessions = s.sessions;
    d.drains = [...s.drains];
    return ok(d);
  }
}

const NODE_STATES: readonly string[] = ['active', 'draining', 'dead', 'removed'];

function nodeProblem(n: unknown): string | null {
  if (!isObject(n) || !isId(n.id) || !isCount(n.incarnation)) return 'node id or incarnation';
  if (!isLabel(n.address, 256) || !isLabel(n.zone, 64) || !isLabel(n.rack, 64))
    return 'node labels';
  if (!isLabel(n.storageId, 64)) return 'node storage id';
  if (!Number.isSafeInteger(n.weight) || (n.weight as number) < 1) return 'node weight';
  return NODE_STATES.includes(n.state as string) ? null : 'node state';
}

function governmentProblem(g: unknown): string | null {
  if (!isObject(g) || !isCount(g.epoch)) return 'government epoch';
  if (g.leader !== null && !isId(g.leader)) return 'government leader';
  for (const list of [g.followers, g.learners, g.caughtUp, g.complete]) {
    if (!isIdList(list)) return 'government member lists';
  }
  if (g.target !== undefined && g.target !== null && placementProblem(g.target) !== null) {
    return 'government target';
  }
  if (g.epoch === 0) return null;
  const voters = [g.leader, ...(g.followers as NodeId[])];
  const complete = g.complete as NodeId[];
  if (g.leader === null || !complete.includes(g.leader as NodeId)) return 'leader not complete';
  return complete.every((id) => voters.includes(id)) ? null : 'complete member not a voter';
}

function snapshotProblem(s: unknown): string | null {
  if (!isObject(s) || !isCount(s.bucketCount) || !isCount(s.replicas) || !isCount(s.version)) {
    return 'header';
  }
  if (!isCount(s.sessions)) return 'sessions';
  if (!Array.isArray(s.drains) || !s.drains.every(isId)) return 'drains';
  if (!Array.isArray(s.nodes) || !Array.isArray(s.buckets)) return 'nodes or buckets';
  if (s.buckets.length !== s.bucketCount) return 'bucket count';
  for (const n of s.nodes) {
    const problem = nodeProblem(n);
    if (problem !== null) return problem;
  }
  for (const g of s.buckets) {
    const problem = governmentProblem(g);
    if (problem !== null) return problem;
  }
  return null;
}
