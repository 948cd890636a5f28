// The cluster benchmark's Edict half (bench/_edict.ts) with a stand-in for `edict start`
// (fake-edict-node.ts): it detects the command, starts three node processes, waits for a green
// status, finds each node's HTTP address in its output, and stops exactly those processes; and it
// reports a missing `start` command instead of failing.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { detectEdictStart, startEdict } from '../../bench/_edict.js';
import { runLoad } from '../../bench/_loadgen.js';

const FAKE = ['--import', 'tsx', fileURLToPath(new URL('./fake-edict-node.ts', import.meta.url))];

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('cluster bench: Edict processes', () => {
  test('a command without `start` is reported, not run', () => {
    const missing = detectEdictStart(['-e', 'process.exit(1)']);
    assert.equal(missing.ok, false);
    assert.match(missing.ok ? '' : missing.reason, /not implemented yet/);
  });

  test('three nodes start, serve, and stop by PID', async () => {
    const cluster = await startEdict(3, 20_000, FAKE);
    try {
      assert.equal(cluster.servers.length, 3);
      assert.equal(cluster.endpoints.length, 3);
      for (const s of cluster.servers) assert.ok(alive(s.pid), s.name);
      const result = await runLoad({
        target: 'edict-http',
        endpoints: cluster.endpoints,
        op: 'put',
        clients: 3,
        clientOffset: 0,
        valueSize: 100,
        keys: 100,
        keyPrefix: 'bench/',
        warmupMs: 0,
        durationMs: 200,
        requestTimeoutMs: 2_000,
      });
      assert.ok(result.ops > 0);
      assert.deepEqual(result.errors, {});
    } finally {
      await cluster.stop();
    }
    for (const s of cluster.servers) assert.equal(alive(s.pid), false, `${s.name} stopped`);
  });
});
