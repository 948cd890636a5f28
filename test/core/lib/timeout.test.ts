// Tick-counting timeouts: they fire exactly after their duration, never while stopped, and their
// randomised and backed-off durations stay within the documented bounds for any seed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Timeout } from '../../../src/core/lib/timeout.js';
import { Prng } from '../../../src/core/lib/prng.js';

describe('Timeout', () => {
  test('fires after exactly `after` ticks once started', () => {
    const t = new Timeout('t', 3);
    t.tick();
    t.tick();
    t.tick();
    assert.equal(t.fired(), false, 'a stopped timeout never fires');
    t.start();
    t.tick();
    t.tick();
    assert.equal(t.fired(), false);
    t.tick();
    assert.equal(t.fired(), true);
    t.reset();
    assert.equal(t.fired(), false);
    t.stop();
    for (let i = 0; i < 10; i++) t.tick();
    assert.equal(t.fired(), false);
  });

  test('fireWithin brings the firing forward, never back', () => {
    const t = new Timeout('t', 10);
    t.start();
    t.tick();
    t.fireWithin(2);
    t.tick();
    assert.equal(t.fired(), false);
    t.tick();
    assert.equal(t.fired(), true, 'two ticks after fireWithin(2)');
    const u = new Timeout('u', 3);
    u.start();
    u.fireWithin(50);
    for (let i = 0; i < 3; i++) u.tick();
    assert.equal(u.fired(), true, 'a later limit does not delay it');
    assert.throws(() => new Timeout('s', 1).fireWithin(1), /stopped/);
    assert.throws(() => u.fireWithin(0), /fireWithin/);
  });

  test('reset of a stopped timeout is a programmer error', () => {
    assert.throws(() => new Timeout('t', 1).reset(), /stopped/);
  });

  test('randomised durations lie in [base, 2·base)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e9 }),
        fc.integer({ min: 1, max: 1000 }),
        (s, base) => {
          const prng = new Prng(s);
          const t = new Timeout('election', base);
          t.startRandomized(prng);
          assert.ok(t.after >= base && t.after < 2 * base, `after=${t.after} base=${base}`);
        },
      ),
    );
  });

  test('backoff grows but never passes its cap', () => {
    const prng = new Prng(1);
    const t = new Timeout('retry', 10);
    t.start();
    for (let i = 0; i < 50; i++) {
      t.backoff(prng, 500);
      assert.ok(t.after >= 10 && t.after <= 500, `after=${t.after}`);
    }
    t.start();
    assert.equal(t.after, 10, 'start() restores the base duration');
  });
});
