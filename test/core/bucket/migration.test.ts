// Planned moves, scripted: the pause + backlog handover (no client sees an error), expand with a
// backfilled learner that buffers writes arriving during its snapshot, promotion, and contract
// (a member deletes its data only once the edict that excludes it has arrived).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultReplicaOptions } from '../../../src/core/bucket/index.js';
import { Cluster, dec, gov } from './harness.js';

describe('planned handover', () => {
  test('pause, drain, hand over, hop the backlog: every write answered, none refused', () => {
    const c = new Cluster([1, 2, 3]);
    c.start(gov(1, 1, [2, 3]));
    c.tick(40);
    c.put(1, 100, 1, 'k', 'a'); // in flight when the pause comes
    assert.ok(c.replica(1).pause(c.replica(1).epoch).ok);
    c.put(1, 101, 1, 'k', 'b'); // held in the backlog
    c.put(1, 102, 1, 'j', 'c');
    c.deliver();
    assert.equal(c.replica(1).status().backlog, 2);
    assert.equal(c.eventsOf('drained').length, 1, 'drained once the in-flight write committed');
    assert.equal(c.repliesTo(100, 1).length, 1);
    c.edict(gov(2, 2, [1, 3]));
    c.tick(5);
    for (const client of [100, 101, 102]) {
      const replies = c.repliesTo(client, 1);
      assert.equal(replies.length, 1, `client ${client} answered once`);
      assert.equal(replies[0]?.body.ok, true, `client ${client} saw no error`);
    }
    assert.equal(dec(c.replica(3).peek('k')?.value), 'b');
  });

  test('a pause without edict ends by itself and the backlog is served', () => {
    const c = new Cluster([1, 2]);
    c.start(gov(1, 1, [2]));
    c.replica(1).pause(c.replica(1).epoch);
    c.put(1, 100, 1, 'k', 'v');
    c.tick(defaultReplicaOptions.pauseTicksMax + 3);
    assert.equal(c.repliesTo(100, 1)[0]?.body.ok, true);
  });

  test('pause is refused by a non-leader and for another epoch', () => {
    const c = new Cluster([1, 2]);
    c.start(gov(1, 1, [2]));
    assert.equal(c.replica(2).pause(c.replica(2).epoch).ok, false);
    assert.equal(c.replica(1).pause(c.replica(1).epoch).ok, true);
    const stale = c.replica(1).pause(0 as never);
    assert.ok(!stale.ok && stale.code === 'STALE_EPOCH');
  });

  test('a government without a leader holds requests until one is appointed', () => {
    const c = new Cluster([1, 2]);
    c.start(gov(1, 1, [2]));
    c.edict(gov(2, null, [1, 2]));
    c.put(2, 100, 1, 'k', 'v');
    c.tick(5);
    assert.equal(c.repliesTo(100, 1).length, 0, 'held, not refused');
    assert.equal(c.replica(2).status().backlog, 1);
    c.edict(gov(3, 1, [2]));
    c.tick(5);
    assert.equal(c.repliesTo(100, 1)[0]?.body.ok, true);
  });

  test('requests sent to a follower hop to the leader', () => {
    const c = new Cluster([1, 2, 3]);
    c.start(gov(1, 1, [2, 3]));
    c.put(3, 100, 1, 'k', 'v');
    c.tick(3);
    assert.equal(c.repliesTo(100, 1)[0]?.body.ok, true);
    const id = c.read(2, 100, 'k');
    c.tick(2);
    const [reply] = c.repliesTo(100, id);
    assert.ok(reply?.body.ok === true && reply.body.kind === 'read');
    assert.equal(dec(reply.body.value?.value), 'v');
  });
});

describe('expand, backfill, contract', () => {
  const small = { ...defaultReplicaOptions, snapshotChunkItemsMax: 3 };

  test('a learner is backfilled by snapshot while writes continue, then reports caught up', () => {
    const c = new Cluster([1, 2, 3], small);
    c.start(gov(1, 1, [2]));
    for (let i = 0; i < 20; i++) c.put(1, 100, i + 1, `key${String(i).padStart(2, '0')}`, `v${i}`);
    c.tick(3);
    c.edict(gov(2, 1, [2], [3]));
    // Writes keep coming while chunks stream; the learner buffers them.
    for (let i = 0; i < 10; i++) {
      c.put(1, 101, i + 1, `key${String(i).padStart(2, '0')}`, `w${i}`);
      c.deliver(3);
    }
    c.tickUntil(() => c.eventsOf('caught-up').length > 0, 100);
    assert.ok(c.replica(3).status().base.index > 0, 'the learner installed a snapshot');
    c.tick(3); // the commit index rides on the next heartbeat
    for (let i = 0; i < 20; i++) {
      const key = `key${String(i).padStart(2, '0')}`;
      assert.deepEqual(c.replica(3).peek(key), c.replica(1).peek(key), key);
    }
    assert.equal(c.eventsOf('caught-up')[0]?.node, 1);
    // Promote it: it becomes a follower that every write waits for.
    c.edict(gov(3, 1, [2, 3]));
    c.tickUntil(() => c.replica(1).status().activated);
    c.put(1, 102, 1, 'z', 'last');
    c.tick(3);
    assert.equal(dec(c.replica(3).peek('z')?.value), 'last');
  });

  test('a transfer survives the restart of either end', () => {
    for (const restarting of [1, 3]) {
      const c = new Cluster([1, 2, 3], { ...small, snapshotChunkItemsMax: 1 });
      c.start(gov(1, 1, [2]));
      for (let i = 0; i < 12; i++) c.put(1, 100, i + 1, `key${i}`, `v${i}`);
      c.tick(3);
      c.edict(gov(2, 1, [2], [3]));
      c.deliver(6); // a few chunks in
      c.crash(restarting);
      c.wire = [];
      c.restart(restarting);
      c.tickUntil(() => c.eventsOf('caught-up').length > 0, 200);
      c.tick(3);
      assert.equal(dec(c.replica(3).peek('key11')?.value), 'v11', `restarted node ${restarting}`);
    }
  });

  test('a member excluded by an edict deletes its data then, and only then', () => {
    const c = new Cluster([1, 2, 3]);
    c.start(gov(1, 1, [2, 3]));
    c.put(1, 100, 1, 'k', 'v');
    c.tick(3);
    c.edict(gov(2, 1, [2]), [1, 2]);
    c.tick(3);
    assert.equal(c.store(3).load().entries.length, 2, 'node 3 keeps its data until it hears');
    c.edict(gov(2, 1, [2]), [3]);
    assert.equal(c.replica(3).role, 'none');
    assert.equal(c.store(3).load().entries.length, 0, 'data gone after the edict');
    assert.equal(c.store(3).load().meta?.epoch, 2, 'the fencing epoch stays');
    assert.equal(c.eventsOf('dropped')[0]?.node, 3);
    // Re-added later, it starts empty and is backfilled.
    c.edict(gov(3, 1, [2], [3]));
    c.tickUntil(() => c.eventsOf('caught-up').length > 0, 100);
    assert.equal(dec(c.replica(3).peek('k')?.value), 'v');
  });
});

describe('crash and recovery', () => {
  test('a follower loses only what it never acknowledged, and catches up after restart', () => {
    const c = new Cluster([1, 2, 3]);
    c.start(gov(1, 1, [2, 3]));
    for (let seq = 1; seq <= 5; seq++) c.put(1, 100, seq, 'k', `v${seq}`);
    c.tick(3);
    const acked = c.replies.filter((r) => r.body.ok).length;
    assert.equal(acked, 5);
    c.crash(3, { chance: () => true, int: () => 0 });
    c.restart(3);
    assert.equal(c.replica(3).log.lastIndex, 6, 'every acknowledged entry survived');
    assert.equal(dec(c.replica(3).peek('k')?.value), 'v5', 'and is applied again at boot');
    c.put(1, 100, 6, 'k', 'v6');
    c.tick(3);
    assert.equal(c.replica(3).log.lastIndex, 7);
  });

  test('a restarted leader waits out the boot promise, then serves its whole log', () => {
    const c = new Cluster([1, 2]);
    c.start(gov(1, 1, [2]));
    c.put(1, 100, 1, 'k', 'v');
    c.tick(3);
    c.crash(1);
    c.restart(1);
    assert.equal(c.replica(1).status().activated, false);
    c.tickUntil(() => c.replica(1).status().activated);
    const id = c.read(1, 100, 'k');
    c.tick(2);
    const [reply] = c.repliesTo(100, id);
    assert.ok(reply?.body.ok === true && reply.body.kind === 'read');
    assert.equal(dec(reply.body.value?.value), 'v');
  });
});
