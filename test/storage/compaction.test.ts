// Compaction's I/O budget, with a virtual clock: the engine's `now` and `sleep` are injected, so the
// test can add up the time compaction chose to wait and check it against bytes moved / budget. Also:
// a run with nothing to do neither sleeps nor checkpoints, and values stay readable throughout.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../../src/core/lib/prng.js';
import { Engine } from '../../src/storage/engine.js';
import { MemoryIndexStore } from '../../src/storage/index-store.js';
import { SimDisk } from '../../sim/disk.js';
import { SimFileSystem } from '../../sim/sim-file-system.js';
import { B, b, entry, put, testOptions } from './helpers.js';

describe('compaction', () => {
  test('stays within its I/O budget', async () => {
    let now = 0;
    let slept = 0;
    const clock = {
      now: () => now,
      sleep: (ms: number) => {
        now += ms;
        slept += ms;
        return new Promise<void>((resolve) => setImmediate(resolve));
      },
    };
    const rate = 256 * 1024;
    const engine = await Engine.open(
      { fs: new SimFileSystem(new SimDisk(new Prng(1))), index: new MemoryIndexStore(), ...clock },
      {
        ...testOptions,
        segmentBytesTarget: 8192,
        compactionBytesPerSecond: rate,
        compactionLiveRatioMax: 0.9,
      },
    );
    let index = 0;
    for (let round = 0; round < 40; round++) {
      await engine.apply(B(1), [entry(++index, put(`keep${round}`, Buffer.alloc(900, round)))]);
      for (let k = 0; k < 4; k++)
        await engine.apply(B(1), [entry(++index, put(`churn${k}`, Buffer.alloc(900, k)))]);
    }
    engine.checkpoint();
    const report = await engine.compact();
    const moved = report.bytesRead + report.bytesWritten;
    assert.ok(report.segments.length >= 5, `compacted ${report.segments.length} segments`);
    assert.ok(moved > 4 * rate * 0.1, 'enough bytes to measure');
    const minimumMs = (moved / rate) * 1000;
    assert.ok(now >= minimumMs * 0.99, `took ${now} ms of virtual time for ${moved} bytes`);
    assert.ok(now <= minimumMs + 1000, 'no more waiting than the budget asks');
    for (let round = 0; round < 40; round++) {
      assert.equal(engine.get(B(1), b(`keep${round}`))?.value[0], round);
    }
    engine.verify();
    const before = engine.stats().checkpoints;
    slept = 0;
    const idle = await engine.compact();
    assert.deepEqual([idle.segments.length, slept, engine.stats().checkpoints], [0, 0, before]);
    await engine.close();
  });
});
