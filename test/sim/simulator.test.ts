// The simulator kernel, hosts and nemesis: events run in (time, scheduling) order; a crashed host's
// pending events never run and its unsynced writes are lost; clock drift changes a host's tick rate
// within its bound; the nemesis draws the same schedule from the same seed and healAll() ends every
// fault.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Simulator } from '../../sim/simulator.js';
import { SimHost } from '../../sim/host.js';
import { SimDisk } from '../../sim/disk.js';
import { SimNetwork } from '../../sim/network.js';
import { Nemesis, defaultNemesisOptions } from '../../sim/nemesis.js';
import { Prng } from '../../src/core/lib/prng.js';

describe('Simulator', () => {
  test('runs events in time order, ties in scheduling order', () => {
    const sim = new Simulator(1);
    const order: string[] = [];
    sim.schedule(5, 'b', () => order.push('b'));
    sim.schedule(1, 'a', () => order.push('a'));
    sim.schedule(5, 'c', () => order.push('c'));
    sim.schedule(0, 'z', () => sim.schedule(0, 'z2', () => order.push('z2')));
    sim.run({});
    assert.deepEqual(order, ['z2', 'a', 'b', 'c']);
    assert.equal(sim.now, 5);
    assert.equal(sim.steps, 5);
  });

  test('run() honours untilMs, maxSteps and until', () => {
    const sim = new Simulator(1);
    let count = 0;
    for (let i = 1; i <= 10; i++) sim.schedule(i, 'e', () => count++);
    sim.run({ untilMs: 3 });
    assert.equal(count, 3);
    sim.run({ maxSteps: 2 });
    assert.equal(count, 5);
    sim.run({ until: () => count === 7 });
    assert.equal(count, 7);
  });

  test('the trace fingerprint depends on what ran and when', () => {
    const fingerprint = (delay: number): string => {
      const sim = new Simulator(1);
      sim.schedule(delay, 'x', () => sim.trace('did x'));
      sim.run({});
      return sim.traceHex();
    };
    assert.equal(fingerprint(3), fingerprint(3));
    assert.notEqual(fingerprint(3), fingerprint(4));
    assert.match(fingerprint(3), /^[0-9a-f]{16}$/);
  });
});

function makeHost(sim: Simulator, log: string[]): SimHost {
  const disk = new SimDisk(new Prng(1), {
    tornWriteProbability: 0,
    unsyncedSurvivalProbability: 0,
  });
  return new SimHost(sim, 1, disk, {
    boot: (host) => log.push(`boot ${host.incarnation}`),
    halt: () => log.push('halt'),
  });
}

describe('SimHost', () => {
  test('a crash drops pending events and unsynced writes; restart boots from disk', () => {
    const sim = new Simulator(1);
    const log: string[] = [];
    const host = makeHost(sim, log);
    host.start();
    host.disk.append('f', Uint8Array.of(1));
    host.disk.fsync('f');
    host.disk.append('f', Uint8Array.of(2));
    host.schedule(10, 'timer', () => log.push('timer fired'));
    sim.schedule(5, 'kill', () => host.crash());
    sim.run({});
    assert.deepEqual(log, ['boot 0', 'halt']);
    assert.deepEqual(host.disk.read('f'), Uint8Array.of(1));
    host.restart();
    host.schedule(1, 'timer', () => log.push('new timer'));
    sim.run({});
    assert.deepEqual(log, ['boot 0', 'halt', 'boot 1', 'new timer']);
  });

  test('ticks follow the local clock rate within the drift bound', () => {
    const sim = new Simulator(1);
    const host = makeHost(sim, []);
    host.start();
    let ticks = 0;
    host.setDrift(0.05);
    host.startTicking(() => ticks++);
    sim.run({ untilMs: 1000 });
    // 10 ms local ticks on a clock 5% fast: 105 ticks per 1000 ms of simulated time.
    assert.ok(ticks >= 104 && ticks <= 105, `ticks ${ticks}`);
    assert.throws(() => host.setDrift(0.2), /out of bound/);
  });
});

describe('Nemesis', () => {
  function run(seed: number): { faults: number; trace: string; up: boolean[] } {
    const sim = new Simulator(seed);
    const net = new SimNetwork<string>(sim, sim.prng.fork());
    const hosts = [1, 2, 3].map(
      (id) =>
        new SimHost(sim, id, new SimDisk(sim.prng.fork()), {
          boot: () => undefined,
          halt: () => undefined,
        }),
    );
    hosts.forEach((h) => h.start());
    const nemesis = new Nemesis(sim, sim.prng.fork(), net, hosts, defaultNemesisOptions);
    nemesis.start(5000);
    let maxDown = 0;
    sim.run({
      untilMs: 5000,
      until: () => {
        maxDown = Math.max(maxDown, hosts.filter((h) => !h.up).length);
        return false;
      },
    });
    assert.ok(maxDown <= defaultNemesisOptions.maxCrashed, `down at once: ${maxDown}`);
    nemesis.healAll();
    assert.equal(net.cut(1, 2) || net.cut(2, 3) || net.cut(3, 1), false, 'healed');
    assert.equal(net.dropProbability, 0);
    return { faults: nemesis.faults, trace: sim.traceHex(), up: hosts.map((h) => h.up) };
  }

  test('draws the same schedule from the same seed, and healAll ends every fault', () => {
    const a = run(9);
    assert.deepEqual(a, run(9));
    assert.ok(a.faults > 10, `faults ${a.faults}`);
    assert.deepEqual(a.up, [true, true, true]);
    assert.notEqual(run(10).trace, a.trace);
  });
});
