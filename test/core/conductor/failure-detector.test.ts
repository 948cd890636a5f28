// The failure detector's timing and fencing: a node is suspect, then dead, only after the configured
// silence; one heartbeat clears it; a stale incarnation's heartbeat does not; a reset gives full grace
// (a new metadata leader must not kill nodes it has not heard yet); and repeated deaths damp a node.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FailureDetector } from '../../../src/core/conductor/failure-detector.js';
import { nodeId } from '../../../src/core/lib/ids.js';

const options = {
  heartbeatTicks: 2,
  suspectTicks: 4,
  deadTicks: 6,
  refusedDeadTicks: 3,
  flapPenalty: 10,
  flapThreshold: 10,
};
const a = nodeId(1);
const b = nodeId(2);

function ticks(fd: FailureDetector, n: number): void {
  for (let i = 0; i < n; i++) fd.tick();
}

describe('FailureDetector', () => {
  test('suspect after suspectTicks, dead after deadTicks of silence', () => {
    const fd = new FailureDetector(options);
    fd.reset([
      { id: a, incarnation: 1 },
      { id: b, incarnation: 1 },
    ]);
    ticks(fd, 3);
    fd.heartbeat(b, 1);
    assert.deepEqual(fd.verdicts(), { suspect: [], dead: [] });
    ticks(fd, 1);
    assert.deepEqual(fd.verdicts(), { suspect: [a], dead: [] });
    ticks(fd, 2);
    assert.deepEqual(fd.verdicts(), { suspect: [], dead: [{ id: a, incarnation: 1 }] });
    ticks(fd, 1);
    assert.deepEqual(fd.verdicts(), { suspect: [b], dead: [{ id: a, incarnation: 1 }] });
  });

  test('a heartbeat clears a suspect; an older incarnation does not', () => {
    const fd = new FailureDetector(options);
    fd.reset([{ id: a, incarnation: 2 }]);
    ticks(fd, 5);
    fd.heartbeat(a, 1);
    assert.deepEqual(fd.verdicts().suspect, [a]);
    fd.heartbeat(a, 3);
    assert.deepEqual(fd.verdicts(), { suspect: [], dead: [] });
    ticks(fd, 6);
    assert.deepEqual(
      fd.verdicts().dead,
      [{ id: a, incarnation: 3 }],
      'the newest incarnation is fenced',
    );
  });

  test('reset and watch give full grace; forget stops watching', () => {
    const fd = new FailureDetector(options);
    fd.reset([{ id: a, incarnation: 1 }]);
    ticks(fd, 5);
    fd.reset([{ id: a, incarnation: 1 }]);
    ticks(fd, 5);
    assert.deepEqual(fd.verdicts().dead, []);
    fd.watch(b, 1);
    fd.forget(a);
    ticks(fd, 6);
    assert.deepEqual(fd.verdicts().dead, [{ id: b, incarnation: 1 }]);
  });

  test('repeated deaths damp a node until the score decays', () => {
    const fd = new FailureDetector(options);
    fd.recordDeath(a);
    assert.equal(fd.isDamped(a), false, 'one death is not flapping');
    fd.recordDeath(a);
    assert.equal(fd.isDamped(a), true);
    ticks(fd, 10);
    assert.equal(fd.isDamped(a), false);
  });

  test('rejects inconsistent options', () => {
    assert.throws(() => new FailureDetector({ ...options, deadTicks: 3 }), /dead after suspect/);
    assert.throws(() => new FailureDetector({ ...options, refusedDeadTicks: 2 }), /refused/);
    assert.throws(() => new FailureDetector({ ...options, refusedDeadTicks: 7 }), /refused/);
  });

  test('a refused connection makes a silent node dead after refusedDeadTicks', () => {
    const fd = new FailureDetector(options);
    fd.reset([
      { id: a, incarnation: 1 },
      { id: b, incarnation: 1 },
    ]);
    ticks(fd, 1);
    fd.refused(a);
    ticks(fd, 1);
    assert.deepEqual(fd.verdicts().dead, [], 'not before refusedDeadTicks of silence');
    ticks(fd, 1);
    assert.deepEqual(fd.verdicts().dead, [{ id: a, incarnation: 1 }]);
    assert.deepEqual(fd.verdicts().suspect, [], 'b is only 3 ticks silent');
  });

  test('a heartbeat after a refusal (a restart on the same port) clears it', () => {
    const fd = new FailureDetector(options);
    fd.reset([{ id: a, incarnation: 1 }]);
    fd.refused(a);
    fd.heartbeat(a, 2);
    ticks(fd, 5);
    assert.deepEqual(fd.verdicts().dead, [], 'heard since the refusal: the full deadTicks apply');
    ticks(fd, 1);
    assert.deepEqual(fd.verdicts().dead, [{ id: a, incarnation: 2 }]);
    fd.refused(nodeId(9)); // not watched: ignored
    assert.deepEqual(fd.verdicts().dead, [{ id: a, incarnation: 2 }]);
  });
});
