// Membership, one server at a time: learners receive the log but neither vote nor count; a new node
// joins as a learner and is promoted; voters are added and removed; the one-at-a-time rules
// (an entry of the leader's term committed first, one uncommitted change at most) are enforced; and
// a configuration takes effect when appended, so a truncated change is rolled back.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyConfigChange, makeConfig } from '../../../src/core/raft/index.js';
import { TestCluster, bytes, ids, nodeId } from './harness.js';

describe('config changes (pure)', () => {
  const base = makeConfig(ids(1, 2, 3), ids(4));
  const cases: [string, Parameters<typeof applyConfigChange>[1], string][] = [
    ['add a voter', { type: 'add-voter', node: nodeId(5) }, 'voters 1,2,3,5 learners 4'],
    ['add a learner', { type: 'add-learner', node: nodeId(5) }, 'voters 1,2,3 learners 4,5'],
    ['promote a learner', { type: 'promote-learner', node: nodeId(4) }, 'voters 1,2,3,4 learners '],
    ['remove a voter', { type: 'remove-node', node: nodeId(2) }, 'voters 1,3 learners 4'],
    ['remove a learner', { type: 'remove-node', node: nodeId(4) }, 'voters 1,2,3 learners '],
    ['add a member again', { type: 'add-voter', node: nodeId(4) }, 'ALREADY_MEMBER'],
    ['promote a voter', { type: 'promote-learner', node: nodeId(1) }, 'NOT_A_LEARNER'],
    ['remove a stranger', { type: 'remove-node', node: nodeId(9) }, 'NOT_A_MEMBER'],
  ];
  for (const [name, change, expected] of cases) {
    test(name, () => {
      const result = applyConfigChange(base, change);
      const got = result.ok
        ? `voters ${result.value.voters.join(',')} learners ${result.value.learners.join(',')}`
        : result.code;
      assert.equal(got, expected);
    });
  }

  test('the last voter cannot be removed', () => {
    const result = applyConfigChange(makeConfig(ids(1)), { type: 'remove-node', node: nodeId(1) });
    assert.deepEqual(result.ok ? null : result.code, 'LAST_VOTER');
  });
});

describe('learners', () => {
  test('a learner receives the log but does not vote, count or campaign', () => {
    const c = new TestCluster([1, 2, 3], [4]);
    c.campaign(1);
    c.propose('a');
    assert.deepEqual(c.node(4).appliedTexts(), ['a']);
    // With 2 and 3 cut off, the learner's acknowledgement does not make a quorum.
    c.isolate(2);
    c.isolate(3);
    const { index } = c.raft(1).propose(bytes('b')) as { index: number };
    c.stabilize();
    assert.ok(c.raft(1).status().commit < index);
    c.heal();
    c.isolate(1);
    c.tick(60, [4]);
    assert.equal(c.raft(4).status().role, 'follower');
    assert.equal(c.sent.filter((m) => m.type === 'vote' && m.from === 4).length, 0);
  });

  test('a new node joins as a learner, catches up, and is promoted to voter', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.propose('a');
    c.addEmpty(4);
    assert.equal(c.raft(1).proposeConfigChange({ type: 'add-learner', node: nodeId(4) }).ok, true);
    c.stabilize();
    assert.deepEqual(c.node(4).appliedTexts(), ['a']);
    assert.deepEqual(c.raft(4).status().config, { voters: [1, 2, 3], learners: [4] });
    assert.equal(
      c.raft(1).proposeConfigChange({ type: 'promote-learner', node: nodeId(4) }).ok,
      true,
    );
    c.stabilize();
    assert.deepEqual(c.raft(1).status().config, { voters: [1, 2, 3, 4], learners: [] });
    // Four voters: a quorum is three. With 2 and 3 down, 1 and 4 cannot commit.
    c.crash(2);
    c.crash(3);
    const { index } = c.raft(1).propose(bytes('b')) as { index: number };
    c.stabilize();
    assert.ok(c.raft(1).status().commit < index);
    c.restart(2);
    c.tick(2);
    assert.ok(c.raft(1).status().commit >= index);
  });

  test('a node added after compaction receives a snapshot first', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.propose('a');
    c.raft(1).compact(c.raft(1).status().applied, bytes('state'));
    c.addEmpty(4);
    c.raft(1).proposeConfigChange({ type: 'add-voter', node: nodeId(4) });
    c.stabilize();
    c.tick(1);
    assert.equal(c.sent.filter((m) => m.type === 'snapshot' && m.to === 4).length, 1);
    assert.deepEqual(c.raft(4).status().config, { voters: [1, 2, 3, 4], learners: [] });
    assert.equal(c.raft(4).status().commit, c.raft(1).status().commit);
  });
});

describe('one server at a time', () => {
  test('no change before the leader has committed an entry of its term', () => {
    const c = new TestCluster([1, 2, 3]);
    c.drop((m) => m.type === 'append-response');
    c.campaign(1);
    assert.deepEqual(c.raft(1).proposeConfigChange({ type: 'add-learner', node: nodeId(4) }), {
      ok: false,
      code: 'NOT_READY',
    });
  });

  test('no second change while one is uncommitted', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(2);
    c.isolate(3);
    assert.equal(c.raft(1).proposeConfigChange({ type: 'add-learner', node: nodeId(4) }).ok, true);
    assert.deepEqual(c.raft(1).proposeConfigChange({ type: 'add-learner', node: nodeId(5) }), {
      ok: false,
      code: 'CHANGE_PENDING',
    });
    c.heal();
    c.tick(2);
    assert.equal(c.raft(1).proposeConfigChange({ type: 'add-learner', node: nodeId(5) }).ok, true);
  });

  test('a follower removed from the configuration stops being replicated to', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.raft(1).proposeConfigChange({ type: 'remove-node', node: nodeId(3) });
    c.stabilize();
    const before = c.sent.length;
    c.propose('a');
    c.tick(3);
    assert.equal(c.sent.slice(before).filter((m) => m.to === 3).length, 0);
    assert.deepEqual(c.raft(1).status().config.voters, [1, 2]);
    // Two voters: both are needed.
    c.isolate(2);
    const { index } = c.raft(1).propose(bytes('b')) as { index: number };
    c.stabilize();
    assert.ok(c.raft(1).status().commit < index);
  });

  test('a configuration takes effect when appended and is rolled back when truncated', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(1);
    c.raft(1).proposeConfigChange({ type: 'add-learner', node: nodeId(9) });
    c.stabilize();
    assert.deepEqual(c.raft(1).status().config.learners, [9], 'in effect before it commits');
    c.tick(3 * c.options.electionTicks, [2, 3]);
    c.propose('b');
    c.heal();
    c.tick(3);
    assert.deepEqual(c.raft(1).status().config, { voters: [1, 2, 3], learners: [] });
  });
});
