// Log replication: proposals commit and apply in order on every node; a follower answers NOT_LEADER
// with a hint; flow control bounds what is in flight to a silent follower and batches the backlog;
// a lagging or divergent follower is repaired; a restarted node recovers from its store; snapshots
// compact the log and reach a follower through InstallSnapshot; ReadIndex serves linearizable reads.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { logIndex } from '../../../src/core/lib/ids.js';
import type { Message } from '../../../src/core/raft/index.js';
import { TestCluster, bytes, text, withOptions } from './harness.js';

describe('replication', () => {
  test('proposals commit in order and every node applies the same entries', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    for (const p of ['a', 'b', 'c']) c.propose(p);
    for (const n of c.sorted()) assert.deepEqual(n.appliedTexts(), ['a', 'b', 'c']);
  });

  test('a proposal on a follower is answered NOT_LEADER with the leader as hint', () => {
    const c = new TestCluster([1, 2, 3]);
    assert.deepEqual(c.raft(2).propose(bytes('x')), {
      ok: false,
      code: 'NOT_LEADER',
      leaderHint: null,
    });
    c.campaign(1);
    assert.deepEqual(c.raft(2).propose(bytes('x')), {
      ok: false,
      code: 'NOT_LEADER',
      leaderHint: 1,
    });
    const ok = c.raft(1).propose(bytes('x'));
    assert.deepEqual(ok, { ok: true, index: 3, term: 2 });
  });

  test('oversized proposals and a full backlog are refused', () => {
    const c = new TestCluster(
      [1, 2, 3],
      [],
      withOptions({ maxEntryBytes: 10, maxUncommittedBytes: 25 }),
    );
    c.campaign(1);
    assert.deepEqual(c.raft(1).propose(new Uint8Array(11)), { ok: false, code: 'TOO_LARGE' });
    c.isolate(2);
    c.isolate(3);
    assert.equal(c.raft(1).propose(new Uint8Array(10)).ok, true);
    assert.equal(c.raft(1).propose(new Uint8Array(10)).ok, true);
    assert.deepEqual(c.raft(1).propose(new Uint8Array(10)), {
      ok: false,
      code: 'PROPOSAL_DROPPED',
    });
    c.heal();
    c.tick(2);
    assert.equal(c.raft(1).propose(new Uint8Array(10)).ok, true, 'committing frees the backlog');
  });

  test('flow control: at most maxInflightMessages appends to a silent follower, then batches', () => {
    const c = new TestCluster([1, 2, 3], [], withOptions({ maxInflightMessages: 4 }));
    c.campaign(1);
    // Acknowledgements from 3 are lost: the leader keeps 3 in the replicate state with a full window.
    c.drop((m) => m.from === 3);
    const before = c.sent.length;
    for (let i = 0; i < 20; i++) {
      assert.equal(c.raft(1).propose(bytes(`p${i}`)).ok, true);
      c.stabilize();
    }
    // Empty appends that only carry the commit index are not counted; those with entries are.
    const appendsTo3 = c.sent
      .slice(before)
      .filter((m) => m.type === 'append' && m.to === 3 && m.entries.length > 0);
    assert.equal(appendsTo3.length, 4);
    c.heal();
    c.tick(1);
    // The backlog goes out in batches, not one message per entry.
    const catchUp = c.sent
      .filter((m): m is Extract<Message, { type: 'append' }> => m.type === 'append' && m.to === 3)
      .slice(4);
    assert.ok(
      catchUp.some((m) => m.entries.length > 1),
      'the leader batches entries',
    );
    assert.equal(c.node(3).appliedTexts().length, 20);
  });

  test('flow control bounds the bytes in flight too', () => {
    const c = new TestCluster(
      [1, 2],
      [],
      withOptions({ maxInflightBytes: 250, maxMessageBytes: 100 }),
    );
    c.campaign(1);
    c.drop((m) => m.from === 2);
    const before = c.sent.length;
    for (let i = 0; i < 10; i++) c.raft(1).propose(new Uint8Array(100));
    c.stabilize();
    const inflight = c.sent
      .slice(before)
      .filter((m): m is Extract<Message, { type: 'append' }> => m.type === 'append' && m.to === 2)
      .reduce((sum, m) => sum + m.entries.reduce((s, e) => s + e.data.length, 0), 0);
    assert.ok(inflight <= 300, `${inflight} bytes in flight`);
  });

  test('a follower with a divergent uncommitted tail is repaired by the new leader', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.propose('a');
    c.isolate(1);
    c.raft(1).propose(bytes('x1'));
    c.raft(1).propose(bytes('x2'));
    c.stabilize();
    // 2 and 3 time out (leaving 1's lease) and elect one of them.
    c.tick(3 * c.options.electionTicks, [2, 3]);
    const leader = c.leader();
    assert.ok(leader !== null && leader.id !== 1);
    c.propose('b');
    c.heal();
    c.tick(3);
    for (const n of c.sorted()) assert.deepEqual(n.appliedTexts(), ['a', 'b']);
    assert.equal(c.raft(1).status().lastIndex, c.raft(2).status().lastIndex);
  });

  test('duplicated and reordered messages change nothing', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    for (let i = 0; i < 5; i++) c.raft(1).propose(bytes(`p${i}`));
    c.process();
    // Deliver every message twice, in reverse order.
    for (let round = 0; round < 20 && c.queue.length > 0; round++) {
      const batch = [...c.queue].reverse();
      c.queue = [];
      for (const m of [...batch, ...batch]) c.deliver(m);
      c.process();
    }
    c.tick(2);
    for (const n of c.sorted()) assert.deepEqual(n.appliedTexts(), ['p0', 'p1', 'p2', 'p3', 'p4']);
  });

  test('a restarted node recovers term, vote and log from its store and catches up', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.propose('a');
    c.crash(3);
    c.propose('b');
    c.restart(3);
    const s = c.raft(3).status();
    assert.equal(s.term, 2);
    assert.equal(s.vote, 1);
    assert.equal(s.lastIndex, 3);
    c.tick(2);
    assert.deepEqual(c.node(3).appliedTexts(), ['a', 'b']);
  });

  test('a restarted leader comes back as a follower and may lead again', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.propose('a');
    c.crash(1);
    c.restart(1);
    assert.equal(c.raft(1).status().role, 'follower');
    c.tick(30);
    assert.ok(c.leader() !== null);
    c.propose('b');
    for (const n of c.sorted()) assert.deepEqual(n.appliedTexts(), ['a', 'b']);
  });
});

describe('snapshots', () => {
  test('a lagging follower behind the compacted log receives and installs a snapshot', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(3);
    for (const p of ['a', 'b', 'c']) c.propose(p);
    const applied = c.raft(1).status().applied;
    const snap = c.raft(1).compact(applied, bytes('state:a,b,c'));
    assert.ok(snap !== null);
    c.node(1).store.compact(snap);
    assert.equal(c.raft(1).status().firstIndex, applied + 1);
    c.heal();
    c.tick(2);
    const sent = c.sent.filter((m) => m.type === 'snapshot' && m.to === 3);
    assert.equal(sent.length, 1);
    assert.equal(c.raft(3).status().commit, applied);
    assert.equal(c.raft(3).status().applied, applied);
    // The follower's store holds the snapshot; after a restart it starts from it.
    const stored = c.node(3).store.load();
    assert.equal(stored.snapshot?.meta.index, applied);
    assert.equal(text(stored.snapshot?.data ?? new Uint8Array()), 'state:a,b,c');
    c.propose('d');
    assert.deepEqual(c.node(3).appliedTexts(), ['d']);
    c.crash(3);
    c.restart(3);
    assert.equal(c.raft(3).status().firstIndex, applied + 1);
  });

  test('a lost snapshot is sent again after snapshotRetryTicks', () => {
    const c = new TestCluster([1, 2, 3], [], withOptions({ snapshotRetryTicks: 5 }));
    c.campaign(1);
    c.isolate(3);
    c.propose('a');
    const applied = c.raft(1).status().applied;
    c.raft(1).compact(applied, bytes('s'));
    c.heal();
    c.drop((m) => m.type === 'snapshot');
    c.tick(3);
    c.heal();
    c.tick(8);
    assert.equal(c.raft(3).status().commit, c.raft(1).status().commit);
  });

  test('compaction keeps the configuration of the compacted prefix', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.propose('a');
    const snap = c.raft(1).compact(c.raft(1).status().applied, bytes('s'));
    assert.ok(snap !== null);
    assert.equal(c.raft(1).compact(c.raft(1).status().applied, bytes('s')), null, 'done already');
    assert.deepEqual(snap.meta.config, { voters: [1, 2, 3], learners: [] });
    assert.equal(snap.meta.term, 2);
  });
});

describe('ReadIndex', () => {
  test('the leader releases a read after a quorum confirms its leadership', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.propose('a');
    assert.deepEqual(c.raft(1).readIndex('r1'), { ok: true });
    c.stabilize();
    assert.deepEqual(c.node(1).readStates, [{ index: 3, context: 'r1' }]);
  });

  test('no read is released by a leader cut off from its quorum', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(1);
    c.raft(1).readIndex('r1');
    c.tick(3, [1]);
    assert.deepEqual(c.node(1).readStates, []);
  });

  test('a follower forwards the read and receives the leader\u2019s index', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.propose('a');
    assert.deepEqual(c.raft(2).readIndex('f1'), { ok: true });
    c.stabilize();
    assert.deepEqual(c.node(2).readStates, [{ index: 3, context: 'f1' }]);
    assert.ok(c.raft(2).status().applied >= 3);
  });

  test('refused before the leader commits an entry of its term, and without a leader', () => {
    const c = new TestCluster([1, 2, 3]);
    assert.deepEqual(c.raft(2).readIndex('x'), { ok: false, code: 'NOT_LEADER', leaderHint: null });
    // Elected, but no acknowledgement of its no-op arrives: nothing of its term is committed.
    c.drop((m) => m.type === 'append-response');
    c.campaign(1);
    assert.equal(c.raft(1).status().role, 'leader');
    assert.deepEqual(c.raft(1).readIndex('y'), { ok: false, code: 'NOT_READY' });
  });

  test('duplicate contexts and a full queue are refused', () => {
    const c = new TestCluster([1, 2, 3], [], withOptions({ maxPendingReads: 2 }));
    c.campaign(1);
    c.isolate(1);
    assert.deepEqual(c.raft(1).readIndex('a'), { ok: true });
    assert.deepEqual(c.raft(1).readIndex('a'), { ok: false, code: 'DUPLICATE_CONTEXT' });
    assert.deepEqual(c.raft(1).readIndex('b'), { ok: true });
    assert.deepEqual(c.raft(1).readIndex('c'), { ok: false, code: 'TOO_MANY_READS' });
  });

  test('a single voter answers at once', () => {
    const c = new TestCluster([1]);
    c.campaign(1);
    c.raft(1).readIndex('solo');
    c.process();
    assert.deepEqual(c.node(1).readStates, [{ index: logIndex(2), context: 'solo' }]);
  });
});

describe('ready and advance', () => {
  test('advance takes only the Ready handed out, and one Ready is outstanding at a time', () => {
    const c = new TestCluster([1]);
    const raft = c.raft(1);
    for (let i = 0; i < 30 && raft.status().role !== 'leader'; i++) raft.tick();
    const ready = raft.ready();
    assert.ok(ready !== null);
    assert.equal(raft.ready(), null);
    assert.throws(() => raft.advance({ ...ready }), /advance\(\) takes the Ready/);
    raft.advance(ready);
  });

  test('entries are handed out for persistence before they are applied', () => {
    const c = new TestCluster([1]);
    c.campaign(1);
    const raft = c.raft(1);
    raft.propose(bytes('x'));
    const first = raft.ready();
    assert.ok(first !== null);
    assert.equal(first.entries.length, 1);
    assert.equal(first.committed.length, 0, 'not applied before it is durable');
    raft.advance(first);
    const second = raft.ready();
    assert.ok(second !== null);
    assert.equal(second.committed.length, 1);
    assert.equal(text(second.committed[0]?.data ?? new Uint8Array()), 'x');
    raft.advance(second);
    assert.equal(raft.status().applied, 3);
  });
});
