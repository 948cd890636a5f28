// Leader election: one leader per term, the election restriction, pre-vote and check-quorum keeping
// a cut-off node from disrupting a healthy leader, and leadership transfer. Each test drives cores
// by hand through the in-test network of harness.ts; names follow sentences of the Raft paper.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster, bytes, nodeId, withOptions } from './harness.js';

describe('leader election', () => {
  test('a follower that hears nothing campaigns and wins a majority', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    assert.equal(c.raft(1).status().role, 'leader');
    assert.equal(c.raft(1).status().term, 2);
    for (const id of [2, 3]) {
      assert.equal(c.raft(id).status().role, 'follower');
      assert.equal(c.raft(id).status().leader, 1);
    }
    // The leader's no-op commits everywhere.
    assert.deepEqual(
      c.sorted().map((n) => n.raft.status().commit),
      [2, 2, 2],
    );
  });

  test('every node eventually elects the same leader when ticked together', () => {
    const c = new TestCluster([1, 2, 3, 4, 5], [], undefined, 7);
    c.tick(40);
    const leaders = c.sorted().filter((n) => n.raft.status().role === 'leader');
    assert.equal(leaders.length, 1);
    const term = leaders[0]?.raft.status().term;
    for (const n of c.sorted()) assert.equal(n.raft.status().term, term);
  });

  test('a single voter elects itself', () => {
    const c = new TestCluster([1]);
    c.campaign(1);
    assert.equal(c.raft(1).status().role, 'leader');
    c.propose('x');
    assert.deepEqual(c.node(1).appliedTexts(), ['x']);
  });

  test('a voter denies its vote to a candidate whose log is less up-to-date (5.4.1)', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(3);
    c.propose('a');
    c.heal();
    // Node 3 lacks 'a'; it may not win, whoever it asks.
    c.campaign(3);
    assert.notEqual(c.raft(3).status().role, 'leader');
    assert.equal(c.raft(1).status().role, 'leader');
  });

  test('a node grants at most one vote per term', () => {
    const c = new TestCluster([1, 2, 3], [], withOptions({ preVote: false }));
    // 1 and 2 campaign in the same term; 3 sees both requests.
    c.raft(1).tick();
    for (let i = 0; i < 20 && c.raft(1).status().role !== 'candidate'; i++) c.raft(1).tick();
    for (let i = 0; i < 20 && c.raft(2).status().role !== 'candidate'; i++) c.raft(2).tick();
    c.stabilize();
    const votesFrom3 = c.sent.filter(
      (m) => m.type === 'vote-response' && m.from === 3 && !m.reject && m.term === 2,
    );
    assert.ok(votesFrom3.length <= 1, 'node 3 voted twice in term 2');
  });
});

describe('pre-vote and check-quorum', () => {
  test('a partitioned follower with pre-vote does not raise its term or disrupt the leader', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(3);
    c.tick(100, [3]);
    assert.equal(c.raft(3).status().term, 2, 'pre-vote never raises the term');
    assert.equal(c.raft(3).status().role, 'pre-candidate');
    c.heal();
    c.tick(5);
    assert.equal(c.raft(1).status().role, 'leader');
    assert.equal(c.raft(1).status().term, 2);
    assert.equal(c.raft(3).status().leader, 1);
  });

  test('without pre-vote the same partition deposes the leader (what pre-vote prevents)', () => {
    const c = new TestCluster([1, 2, 3], [], withOptions({ preVote: false, checkQuorum: false }));
    c.campaign(1);
    c.isolate(3);
    c.tick(100, [3]);
    assert.ok(c.raft(3).status().term > 2);
    c.heal();
    // 3 times out again and asks for votes at its high term: the leader must step down.
    for (let i = 0; i < 20 && c.raft(1).status().role === 'leader'; i++) c.tick(1, [3]);
    assert.notEqual(c.raft(1).status().role, 'leader');
  });

  test('a node that heard from a leader recently ignores a higher-term vote request', () => {
    const c = new TestCluster([1, 2, 3], [], withOptions({ preVote: false }));
    c.campaign(1);
    c.isolate(3);
    c.tick(100, [3]); // 3's term races ahead
    c.heal();
    // 3 asks 2 for a vote at its high term: 2 is in 1's lease and ignores it.
    c.tick(1, [3]);
    assert.equal(c.raft(2).status().term, 2);
    assert.equal(c.raft(1).status().role, 'leader');
  });

  test('a leader cut off from its quorum steps down within two election timeouts', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(1);
    // The round in progress still counts what the leader heard before the cut.
    c.tick(2 * c.options.electionTicks, [1]);
    assert.equal(c.raft(1).status().role, 'follower');
  });
});

describe('leadership transfer', () => {
  test('the target campaigns at once when its log is complete, and wins', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.propose('a');
    assert.deepEqual(c.raft(1).transferLeadership(nodeId(3)), { ok: true });
    c.stabilize();
    assert.equal(c.raft(3).status().role, 'leader');
    assert.equal(c.raft(1).status().role, 'follower');
    assert.equal(c.raft(1).status().leader, 3);
  });

  test('a lagging target is caught up first; proposals are refused meanwhile', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(3);
    c.propose('a');
    c.heal();
    c.raft(1).transferLeadership(nodeId(3));
    assert.deepEqual(c.raft(1).propose(bytes('b')), { ok: false, code: 'PROPOSAL_DROPPED' });
    c.stabilize();
    assert.equal(c.raft(3).status().role, 'leader');
    c.propose('c');
    assert.deepEqual(c.node(2).appliedTexts(), ['a', 'c']);
  });

  test('a transfer to a non-voter is refused; a follower answers NOT_LEADER', () => {
    const c = new TestCluster([1, 2, 3], [4]);
    c.campaign(1);
    assert.deepEqual(c.raft(1).transferLeadership(nodeId(4)), { ok: false, code: 'NOT_A_VOTER' });
    assert.deepEqual(c.raft(2).transferLeadership(nodeId(3)), {
      ok: false,
      code: 'NOT_LEADER',
      leaderHint: 1,
    });
  });

  test('repeated transfers do not keep a cut-off leader from stepping down', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(1);
    for (let i = 0; i < 2 * c.options.electionTicks && c.raft(1).status().role === 'leader'; i++) {
      c.raft(1).transferLeadership(nodeId(i % 2 === 0 ? 2 : 3));
      c.tick(1, [1]);
    }
    assert.equal(c.raft(1).status().role, 'follower');
  });

  test('a transfer that cannot finish is abandoned after an election timeout', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(3);
    c.raft(1).transferLeadership(nodeId(3));
    c.tick(c.options.electionTicks + 1, [1, 2]);
    assert.equal(c.raft(1).status().role, 'leader');
    assert.equal(c.raft(1).propose(bytes('x')).ok, true);
  });
});

describe('a leader whose process is gone (leaderUnreachable)', () => {
  test('the followers forget it and elect a new leader within half an election timeout', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.crash(1);
    // Without the hint, the followers are in check-quorum's lease and ignore votes for a while.
    c.raft(2).leaderUnreachable(nodeId(1));
    c.raft(3).leaderUnreachable(nodeId(1));
    assert.equal(c.raft(2).status().leader, null);
    const half = c.raft(2).status().term; // still 2: nothing moves a term before the campaign
    assert.equal(half, 2);
    let ticks = 0;
    while (ticks < 15 && ![2, 3].some((id) => c.raft(id).status().role === 'leader')) {
      c.tick(1, [2, 3]);
      ticks += 1;
    }
    const leader = [2, 3].find((id) => c.raft(id).status().role === 'leader');
    assert.ok(leader !== undefined, `no leader after ${ticks} ticks`);
    // The hint campaigns within electionTicks / 2 (5) ticks; without it, after 10 to 20.
    assert.ok(ticks <= 6, `a leader only after ${ticks} ticks`);
    assert.equal(c.raft(leader).status().term, 3);
  });

  test('a hint about another node, or on a non-follower, changes nothing', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.raft(2).leaderUnreachable(nodeId(3));
    assert.equal(c.raft(2).status().leader, 1);
    c.raft(1).leaderUnreachable(nodeId(1));
    assert.equal(c.raft(1).status().role, 'leader');
  });

  test('a wrong hint about a live leader costs at most an election, never two leaders', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.raft(2).leaderUnreachable(nodeId(1));
    c.tick(40);
    const leaders = c.sorted().filter((n) => n.raft.status().role === 'leader');
    assert.equal(leaders.length, 1);
    c.propose('after');
    assert.ok(c.sorted().every((n) => n.appliedTexts().includes('after')));
  });
});
