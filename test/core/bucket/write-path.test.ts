// The write path of the half-Paxos, scripted message by message: a write commits only when every
// follower of the government has it durably, learners are not waited for, the commit index rides
// on the next message, and the planted bug `bucket-ack-before-all` really does answer early.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { clientId } from '../../../src/core/bucket/index.js';
import { BUCKET, Cluster, dec, enc, gov } from './harness.js';

describe('write path', () => {
  test('a new government activates only after the boot promise ran out', () => {
    const c = new Cluster([1, 2, 3]);
    c.edict(gov(1, 1, [2, 3]));
    c.tick(5);
    const s = c.replica(1).status();
    assert.equal(s.role, 'leader');
    assert.equal(s.commitIndex, 1, 'the government entry is committed early');
    assert.equal(s.activated, false, 'but the leader waits out what it may have promised before');
    const ticks = c.tickUntil(() => c.replica(1).status().activated);
    assert.ok(ticks > 0);
    assert.equal(c.eventsOf('activated').length, 1);
  });

  test('a write commits when every follower has acknowledged it, not before', () => {
    const c = new Cluster([1, 2, 3]);
    c.start(gov(1, 1, [2, 3]));
    c.cut.add('3>1'); // node 3's acknowledgements are lost
    c.put(1, 100, 1, 'k', 'v1');
    c.deliver();
    assert.equal(c.repliesTo(100, 1).length, 0, 'no answer while follower 3 has not acknowledged');
    assert.equal(c.replica(2).log.lastIndex, 2, 'follower 2 has the entry');
    assert.equal(c.replica(3).log.lastIndex, 2, 'follower 3 has it too, but its ack is lost');
    c.cut.clear();
    c.tick(4); // a heartbeat makes node 3 acknowledge again
    const [reply] = c.repliesTo(100, 1);
    assert.ok(reply?.body.ok === true && reply.body.kind === 'write');
    assert.deepEqual(reply.body.result, { op: 'put', ok: true, at: { epoch: 1, index: 2 } });
    c.tick(4);
    for (const id of [2, 3]) {
      assert.equal(c.replica(id).commitIndex, 2, `the commit index reached follower ${id}`);
      assert.equal(dec(c.replica(id).peek('k')?.value), 'v1');
    }
  });

  test('learners receive writes but are not waited for', () => {
    const c = new Cluster([1, 2, 3]);
    c.start(gov(1, 1, [2], [3]));
    c.isolate(3);
    c.put(1, 100, 1, 'k', 'v');
    c.tick(3);
    assert.equal(c.repliesTo(100, 1).length, 1);
    assert.equal(c.replica(3).log.lastIndex, 1, 'the isolated learner lags');
    c.heal();
    c.tick(6);
    assert.equal(c.replica(3).log.lastIndex, 2, 'and catches up once healed');
  });

  test('writes are batched and pipelined; every one is answered once, in order', () => {
    const c = new Cluster([1, 2, 3]);
    c.start(gov(1, 1, [2, 3]));
    const leader = c.replica(1);
    for (let seq = 1; seq <= 200; seq++) {
      const command = { op: 'put', key: `k${seq % 7}`, value: enc(`v${seq}`) } as const;
      leader.request({
        kind: 'write',
        bucket: BUCKET,
        clientId: clientId(seq),
        seq: 1,
        ackedBelow: 1,
        command,
      });
    }
    c.flush(1);
    const appends = c.wire.filter((w) => w.message.type === 'append');
    assert.ok(appends.length < 200, `batched: ${appends.length} append messages for 200 writes`);
    c.tick(10);
    const answered = c.replies.filter((r) => r.kind === 'write' && r.body.ok);
    assert.equal(answered.length, 200);
    for (const id of [1, 2, 3]) assert.equal(c.replica(id).commitIndex, 201);
  });

  test('the planted bug bucket-ack-before-all answers before every follower has the write', () => {
    const c = Cluster.withBugs([1, 2, 3], ['bucket-ack-before-all']);
    c.start(gov(1, 1, [2, 3]));
    c.isolate(3);
    c.put(1, 100, 1, 'k', 'v');
    c.tick(3);
    assert.equal(c.repliesTo(100, 1).length, 1, 'acknowledged with follower 3 cut off');
    assert.equal(c.replica(3).log.lastIndex, 1, 'although follower 3 never got it');
  });

  test('a write that cannot be appended is refused with BUSY, and nothing is proposed', () => {
    const c = new Cluster([1, 2], { ...new Cluster([]).options, uncommittedEntriesMax: 2 });
    c.start(gov(1, 1, [2]));
    c.isolate(2);
    c.put(1, 100, 1, 'a', '1');
    c.put(1, 101, 1, 'b', '1');
    c.put(1, 102, 1, 'c', '1');
    const [busy] = c.repliesTo(102, 1);
    assert.ok(busy?.body.ok === false && busy.body.code === 'BUSY');
    assert.equal(c.replica(1).log.lastIndex, 3);
  });
});
