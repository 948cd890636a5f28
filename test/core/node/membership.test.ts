// The metadata log's membership policy: one configuration change at a time, from the directory.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Directory } from '../../../src/core/directory/directory.js';
import { nodeId, type NodeId } from '../../../src/core/lib/ids.js';
import { nextMembershipChange, targetVoters } from '../../../src/core/node/membership.js';
import type { ConfigState } from '../../../src/core/raft/types.js';

const n = (i: number): NodeId => nodeId(i);

function directory(states: Record<number, 'active' | 'dead' | 'draining' | 'removed'>): Directory {
  const d = new Directory();
  d.apply({ kind: 'bootstrap', bucketCount: 4, replicas: 3 });
  for (const [id, state] of Object.entries(states)) {
    const node = n(Number(id));
    d.apply({
      kind: 'register',
      storageId: 'disk-1',
      id: node,
      address: `h:${id}`,
      zone: 'z',
      rack: 'r',
      weight: 1,
      incarnation: 1,
    });
    if (state === 'dead') d.apply({ kind: 'mark-dead', id: node, incarnation: 1 });
    if (state === 'draining' || state === 'removed') d.apply({ kind: 'drain', id: node });
    if (state === 'removed') d.apply({ kind: 'remove', id: node });
  }
  return d;
}

const change = (
  config: ConfigState,
  d: Directory,
  caughtUp: (id: NodeId) => boolean = () => true,
) => nextMembershipChange({ config, directory: d.state(), leader: n(1), caughtUp, votersMax: 5 });

describe('metadata membership', () => {
  test('target voters are odd and bounded', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 9].map((c) => targetVoters(c, 5)),
      [1, 1, 3, 3, 5, 5, 5],
    );
  });

  test('founding voters the directory does not list yet are kept (regression: seed 1)', () => {
    const d = directory({ 1: 'active' });
    assert.equal(change({ voters: [n(1), n(2), n(3)], learners: [] }, d), null);
  });

  test('a registered node joins as a learner, then is promoted once caught up', () => {
    const d = directory({ 1: 'active', 2: 'active', 3: 'active' });
    assert.deepEqual(change({ voters: [n(1)], learners: [] }, d), {
      type: 'add-learner',
      node: n(2),
    });
    const config = { voters: [n(1)], learners: [n(2), n(3)] };
    assert.equal(
      change(config, d, () => false),
      null,
      'a lagging learner is not promoted',
    );
    assert.deepEqual(change(config, d), { type: 'promote-learner', node: n(2) });
  });

  test('a dead voter is replaced: promote first, then remove', () => {
    const d = directory({ 1: 'active', 2: 'active', 3: 'dead', 4: 'active' });
    const config = { voters: [n(1), n(2), n(3)], learners: [n(4)] };
    assert.deepEqual(change(config, d), { type: 'promote-learner', node: n(4) });
    const after = { voters: [n(1), n(2), n(3), n(4)], learners: [] };
    assert.deepEqual(change(after, d), { type: 'remove-node', node: n(3) });
  });

  test('a dead voter with no replacement stays a voter (regression: failover benchmark)', () => {
    // Taking it out would leave two voters: the next failure would lose the quorum, and the node
    // would come back as a learner to be promoted again.
    const d = directory({ 1: 'active', 2: 'active', 3: 'dead' });
    assert.equal(change({ voters: [n(1), n(2), n(3)], learners: [] }, d), null);
  });

  test('the leader is never removed, nor the last voter', () => {
    const d = directory({ 1: 'removed', 2: 'dead' });
    assert.equal(change({ voters: [n(1)], learners: [] }, d), null);
  });
});
