// The Raft paper's classic cases, scripted: the figure-8 commit case (a leader must not commit an
// entry of an older term by counting replicas), a stale leader rejoining, a partitioned candidate
// with pre-vote, and the removal of the leader itself. Each one also runs with the matching planted
// bug where there is one, to show that the scenario it guards against is real.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { logIndex, term } from '../../../src/core/lib/ids.js';
import { Prng } from '../../../src/core/lib/prng.js';
import {
  MemoryRaftStore,
  encodeConfigEntry,
  makeConfig,
  type Entry,
  type PersistentState,
  type RaftOptions,
} from '../../../src/core/raft/index.js';
import { TestCluster, TestNode, bytes, ids, nodeId, withOptions } from './harness.js';

/** Builds a cluster whose nodes start from hand-written logs: `logs[id]` lists the terms of entries 2.. */
function clusterWithLogs(
  logs: Record<number, number[]>,
  currentTerm: number,
  options: RaftOptions,
): TestCluster {
  const voters = Object.keys(logs).map(Number);
  const c = new TestCluster([], [], options);
  const config: Entry = {
    index: logIndex(1),
    term: term(1),
    type: 'config',
    data: encodeConfigEntry({ change: null, config: makeConfig(ids(...voters)) }),
  };
  const prng = new Prng(42);
  for (const id of voters) {
    const entries: Entry[] = [config];
    (logs[id] ?? []).forEach((t, i) => {
      // A large payload, so that with a small message limit each append carries one entry.
      entries.push({
        index: logIndex(i + 2),
        term: term(t),
        type: 'normal',
        data: bytes(`t${t}`.padEnd(100)),
      });
    });
    const state: PersistentState = {
      hardState: { term: term(currentTerm), vote: null, commit: logIndex(1) },
      snapshot: null,
      entries,
    };
    const store = new MemoryRaftStore();
    store.write(state);
    c.nodes.set(nodeId(id), new TestNode(nodeId(id), store, prng.fork(), options));
  }
  return c;
}

describe('figure 8: committing entries from previous terms (5.4.2)', () => {
  // S1 led term 2 and wrote (2, t2) to S1 and S2 only; S5 led term 3 and wrote (2, t3) to itself.
  // S1 now wins term 4 with S3 and S4, and replicates (2, t2) to them, so a majority holds it, but
  // its own no-op (3, t4) does not reach them yet. Then S1 fails and S5, whose last term 3 beats 2,
  // wins term 5 and overwrites index 2 everywhere. So S1 must not have committed (2, t2).
  const run = (options: RaftOptions): TestCluster => {
    const c = clusterWithLogs({ 1: [2], 2: [2], 3: [], 4: [], 5: [3] }, 3, options);
    c.isolate(2);
    c.drop((m) => m.from === 5 || m.to === 5);
    // The no-op (index 3) is lost on its way to S3 and S4, as if sent in a message of its own.
    c.rewrite((m) =>
      m.type === 'append' ? { ...m, entries: m.entries.filter((e) => e.index < 3) } : m,
    );
    c.campaign(1);
    assert.equal(c.raft(1).status().role, 'leader');
    assert.equal(c.raft(1).status().term, 4);
    for (const id of [3, 4]) assert.equal(c.raft(id).termAt(logIndex(2)), 2);
    c.tick(3, [1, 3, 4]);
    return c;
  };
  const options = withOptions({ maxMessageBytes: 64 });
  /** S1 fails; S2 stays cut off; S3 and S4 leave S1's lease; S5 campaigns. */
  const failOver = (c: TestCluster): void => {
    c.crash(1);
    c.heal();
    c.isolate(2);
    c.tick(2 * c.options.electionTicks, [3, 4]);
    c.elect(5);
  };

  test('a leader does not commit an old-term entry that a majority holds', () => {
    const c = run(options);
    assert.equal(c.raft(1).status().commit, 1, 'S1 must not commit (2, t2)');
    // S5 wins and overwrites index 2 on S3 and S4: nothing committed is lost.
    failOver(c);
    assert.equal(c.raft(5).status().role, 'leader');
    for (const id of [3, 4, 5]) {
      assert.equal(c.raft(id).termAt(logIndex(2)), 3);
      assert.equal(c.raft(id).status().commit, 3);
    }
  });

  test('with the planted bug raft-commit-old-term, S1 commits it and S5 then overwrites it', () => {
    const c = run(withOptions({ ...options, bugs: new Set(['raft-commit-old-term']) }));
    assert.equal(c.raft(1).status().commit, 2, 'the bug commits (2, t2) by counting replicas');
    assert.equal(c.raft(3).status().commit, 2, 'and tells S3 so');
    assert.throws(() => failOver(c), /leader completeness/);
  });
});

describe('a stale leader rejoining', () => {
  test('its uncommitted entries are replaced and it follows the new leader', () => {
    const c = new TestCluster([1, 2, 3], [], withOptions({ checkQuorum: false }));
    c.campaign(1);
    c.propose('a');
    c.isolate(1);
    // The old leader keeps accepting proposals it cannot commit.
    assert.equal(c.raft(1).propose(bytes('lost')).ok, true);
    c.stabilize();
    c.campaign(2);
    assert.equal(c.raft(2).status().term, 3);
    c.propose('b');
    c.heal();
    // The old leader's heartbeat reaches a node of term 3, whose answer deposes it.
    c.tick(1, [1]);
    assert.equal(c.raft(1).status().role, 'follower');
    c.tick(3);
    for (const n of c.sorted()) assert.deepEqual(n.appliedTexts(), ['a', 'b']);
    assert.equal(c.raft(1).status().leader, 2);
  });

  test('with check-quorum it steps down by itself while cut off', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(1);
    c.tick(2 * c.options.electionTicks, [1]);
    assert.equal(c.raft(1).status().role, 'follower');
    assert.deepEqual(c.raft(1).propose(bytes('x')), {
      ok: false,
      code: 'NOT_LEADER',
      leaderHint: null,
    });
  });
});

describe('a partitioned candidate with pre-vote', () => {
  test('rejoins without raising the term, and the leader keeps leading', () => {
    const c = new TestCluster([1, 2, 3, 4, 5]);
    c.campaign(1);
    c.propose('a');
    c.isolate(5);
    c.tick(60, [5]);
    assert.equal(c.raft(5).status().term, 2);
    c.heal();
    c.tick(3);
    assert.equal(c.raft(1).status().role, 'leader');
    assert.equal(c.raft(1).status().term, 2);
    c.propose('b');
    assert.deepEqual(c.node(5).appliedTexts(), ['a', 'b']);
  });

  test('cut off from the leader but not from the others, it still cannot win', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.drop((m) => (m.from === 1 && m.to === 3) || (m.from === 3 && m.to === 1));
    c.tick(40);
    // Node 2 hears from the leader and ignores 3's pre-votes; 3 never raises its term.
    assert.equal(c.raft(1).status().role, 'leader');
    assert.equal(c.raft(3).status().term, 2);
  });
});

describe('removal of the leader itself (thesis 4.2.2)', () => {
  test('the leader leads until the change commits, then steps down and never campaigns', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.propose('a');
    const result = c.raft(1).proposeConfigChange({ type: 'remove-node', node: nodeId(1) });
    assert.equal(result.ok, true);
    c.stabilize();
    assert.notEqual(c.raft(1).status().role, 'leader');
    // It handed over to a caught-up voter with TimeoutNow.
    const leader = c.leader();
    assert.ok(leader !== null && leader.id !== 1);
    assert.deepEqual(leader.raft.status().config.voters, [2, 3]);
    c.propose('b');
    c.tick(50);
    assert.notEqual(c.raft(1).status().role, 'leader');
    assert.notEqual(c.raft(1).status().role, 'candidate');
    for (const id of [2, 3]) assert.deepEqual(c.node(id).appliedTexts(), ['a', 'b']);
  });

  test('while removing itself, the leader commits with a majority of the new configuration', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(3);
    c.raft(1).proposeConfigChange({ type: 'remove-node', node: nodeId(1) });
    c.stabilize();
    // The new configuration {2, 3} needs both: without 3 nothing commits, and 1 still leads.
    assert.equal(c.raft(1).status().role, 'leader');
    assert.equal(c.raft(1).status().commit, 2);
    c.heal();
    c.tick(2, [1]);
    assert.notEqual(c.raft(1).status().role, 'leader');
    assert.equal(c.raft(1).status().commit, 3);
  });
});

describe('planted bug raft-vote-no-log-check', () => {
  test('a stale candidate wins and tries to overwrite committed entries', () => {
    // Without pre-vote and check-quorum, so that no lease hides the bug.
    const c = new TestCluster(
      [1, 2, 3],
      [],
      withOptions({
        preVote: false,
        checkQuorum: false,
        bugs: new Set(['raft-vote-no-log-check']),
      }),
    );
    c.campaign(1);
    c.isolate(3);
    c.propose('a');
    c.heal();
    c.crash(1);
    // 3 lacks the committed 'a' but 2 grants its vote anyway; its no-op then conflicts with 'a'.
    assert.throws(() => c.campaign(3), /leader completeness/);
  });

  test('without the bug the same candidate loses', () => {
    const c = new TestCluster([1, 2, 3], [], withOptions({ preVote: false, checkQuorum: false }));
    c.campaign(1);
    c.isolate(3);
    c.propose('a');
    c.heal();
    c.crash(1);
    c.campaign(3);
    assert.notEqual(c.raft(3).status().role, 'leader');
  });
});
