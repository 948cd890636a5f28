// SimNetwork's fault semantics: latency within the configured bounds, reordering from jitter,
// drop and duplicate rates, partitions into groups that cut only cross-group links (including
// messages already in flight), one-way clogs, detached (crashed) endpoints, and heal().
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SimNetwork, type SimNetworkOptions } from '../../sim/network.js';
import { Simulator } from '../../sim/simulator.js';

const fixed: SimNetworkOptions = {
  latency: { minMs: 5, maxMs: 5, tailProbability: 0, tailMaxMs: 5 },
  dropProbability: 0,
  duplicateProbability: 0,
};

function setup(options: SimNetworkOptions = fixed, endpoints = [1, 2, 3]) {
  const sim = new Simulator(1);
  const net = new SimNetwork<string>(sim, sim.prng.fork(), options);
  const got: { to: number; from: number; m: string; at: number }[] = [];
  for (const id of endpoints)
    net.attach(id, (from, m) => got.push({ to: id, from, m, at: sim.now }));
  return { sim, net, got };
}

describe('SimNetwork', () => {
  test('delivers after the configured latency', () => {
    const { sim, net, got } = setup();
    net.send(1, 2, 'hello', 'm');
    sim.run({});
    assert.deepEqual(got, [{ to: 2, from: 1, m: 'hello', at: 5 }]);
  });

  test('jitter reorders messages, and latencies stay within bounds', () => {
    const { sim, net, got } = setup({
      ...fixed,
      latency: { minMs: 1, maxMs: 50, tailProbability: 0, tailMaxMs: 50 },
    });
    for (let i = 0; i < 50; i++) net.send(1, 2, String(i), 'm');
    sim.run({});
    assert.equal(got.length, 50);
    assert.ok(got.every((g) => g.at >= 1 && g.at <= 50));
    const order = got.map((g) => Number(g.m));
    assert.notDeepEqual(
      order,
      [...order].sort((a, b) => a - b),
      'some messages were reordered',
    );
  });

  test('drops and duplicates at the configured rates', () => {
    const { sim, net, got } = setup({ ...fixed, dropProbability: 0.3, duplicateProbability: 0.2 });
    for (let i = 0; i < 2000; i++) net.send(1, 2, String(i), 'm');
    sim.run({});
    const distinct = new Set(got.map((g) => g.m)).size;
    assert.ok(distinct > 2000 * 0.6 && distinct < 2000 * 0.8, `distinct ${distinct}`);
    assert.ok(got.length - distinct > 100, `duplicates ${got.length - distinct}`);
    assert.equal(net.stats.dropped + distinct, 2000);
  });

  test('a partition cuts links between groups only, and heal restores them', () => {
    const { sim, net, got } = setup(fixed, [1, 2, 3, 4]);
    net.partition([[1, 2], [3]]);
    net.send(1, 2, 'same-group', 'm');
    net.send(1, 3, 'cross', 'm');
    net.send(3, 1, 'cross-back', 'm');
    net.send(4, 3, 'ungrouped', 'm');
    sim.run({});
    assert.deepEqual(got.map((g) => g.m).sort(), ['same-group', 'ungrouped']);
    net.heal();
    net.send(1, 3, 'healed', 'm');
    sim.run({});
    assert.ok(got.some((g) => g.m === 'healed'));
  });

  test('a partition drops messages already in flight', () => {
    const { sim, net, got } = setup();
    net.send(1, 2, 'in-flight', 'm');
    sim.run({ untilMs: 2 });
    net.partition([[1], [2]]);
    sim.run({});
    assert.deepEqual(got, []);
  });

  test('a clog cuts one direction only', () => {
    const { sim, net, got } = setup();
    net.clog(1, 2);
    net.send(1, 2, 'blocked', 'm');
    net.send(2, 1, 'open', 'm');
    sim.run({});
    assert.deepEqual(
      got.map((g) => g.m),
      ['open'],
    );
    net.unclog(1, 2);
    net.send(1, 2, 'unblocked', 'm');
    sim.run({});
    assert.equal(got.at(-1)?.m, 'unblocked');
  });

  test('messages to a detached endpoint are dropped on arrival', () => {
    const { sim, net, got } = setup();
    net.send(1, 2, 'lost', 'm');
    net.detach(2);
    sim.run({});
    assert.deepEqual(got, []);
    assert.equal(net.stats.dropped, 1);
  });

  test('per-link latency overrides the default', () => {
    const { sim, net, got } = setup();
    net.setLinkLatency(1, 2, { minMs: 40, maxMs: 40, tailProbability: 0, tailMaxMs: 40 });
    net.send(1, 2, 'slow', 'm');
    net.send(2, 1, 'fast', 'm');
    sim.run({});
    assert.deepEqual(
      got.map((g) => [g.m, g.at]),
      [
        ['fast', 5],
        ['slow', 40],
      ],
    );
  });
});
