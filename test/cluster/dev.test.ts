// Black-box: `edict dev` (bin/edict.mjs) starts a three-node cluster of child processes on free
// ports; the cluster serves HTTP; SIGINT to the dev process stops every child, then it prints
// `edict dev: stopped` and exits 0 with no child left running.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ClusterStatus } from '../../src/cluster-types.js';
import { BIN, bound, httpFetch, portIsFree, Proc, ROOT, waitFor } from './harness.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'edict-dev-'));
let dev: Proc | null = null;
let children: number[] = [];
/** Every dev process and child PID seen, for the cleanup. */
const started: Proc[] = [];
const childPids = new Set<number>();

after(async () => {
  for (const pid of childPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  for (const proc of started) {
    if (proc.running) {
      proc.child.kill('SIGKILL');
      await Promise.race([proc.exited, bound(5_000)]);
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

function startDev(base: number, data: string): Proc {
  const proc = new Proc(
    spawn(
      process.execPath,
      [BIN, 'dev', '--nodes=3', `--data=${data}`, `--port=${base}`, '--buckets=16'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    ),
  );
  started.push(proc);
  return proc;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Node n of `edict dev --port base` listens on base + n - 1 and serves HTTP 100 above. */
async function freeBase(nodes: number): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    const ports = Array.from({ length: nodes }, (_, i) => [base + i, base + 100 + i]).flat();
    const free = await Promise.all(ports.map(portIsFree));
    if (free.every(Boolean)) return base;
  }
  throw new Error('no free port range');
}

/** The PIDs of `pid`'s children (Linux). */
function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
  return text
    .trim()
    .split(/\s+/)
    .filter((s) => s.length > 0)
    .map(Number);
}

test('edict dev: three nodes serve HTTP; SIGINT stops them all and exits 0', async (t) => {
  const base = await freeBase(3);
  const data = path.join(dir, 'data');
  dev = startDev(base, data);
  try {
    await dev.waitForOutput('Ctrl-C stops the cluster.', 20_000);
    assert.match(dev.stdout, new RegExp(`client endpoints: 127\\.0\\.0\\.1:${base},`));
    await waitFor(
      'three nodes listening',
      () =>
        (dev?.stdout.match(/edict node \d listening on/g) ?? []).length === 3 ? true : undefined,
      20_000,
    );
    children = childrenOf(dev.pid);
    for (const pid of children) childPids.add(pid);
    assert.equal(children.length, 3, `children: ${children.join(',')}`);

    const http = (n: number, route: string) => `http://127.0.0.1:${base + 99 + n}${route}`;
    const startedAt = Date.now();
    await waitFor(
      'health green',
      async () => {
        const s = (await (
          await httpFetch(http(1, '/v1/status'), {}, 2_000)
        ).json()) as ClusterStatus;
        return s.health === 'green' && s.nodes.length === 3 ? true : undefined;
      },
      30_000,
      200,
    );
    t.diagnostic(`green ${Date.now() - startedAt} ms after the nodes listened`);
    const put = await httpFetch(http(1, '/v1/kv/dev-key'), { method: 'PUT', body: 'dev-value' });
    assert.equal(put.status, 200);
    for (const n of [1, 2, 3]) {
      const get = await httpFetch(http(n, '/v1/kv/dev-key'));
      assert.equal(get.status, 200);
      assert.equal(await get.text(), 'dev-value');
    }

    const stoppingAt = Date.now();
    dev.child.kill('SIGINT');
    await Promise.race([dev.exited, bound(20_000)]);
    assert.ok(!dev.running, 'edict dev did not exit within 20 s of SIGINT');
    t.diagnostic(`stopped ${Date.now() - stoppingAt} ms after SIGINT`);
    assert.equal(dev.exitCode, 0, dev.stderr);
    assert.match(dev.stdout, /edict dev: stopped\n$/);
    assert.deepEqual(children.filter(alive), [], 'children left running');
  } catch (error) {
    process.stderr.write(`---- edict dev output\n${dev.stdout}\n${dev.stderr.slice(-8_000)}\n`);
    throw error;
  }
});

test('edict dev: a node that cannot start stops the others; exit 1', async (t) => {
  const base = await freeBase(3);
  // Node 2's protocol port is taken.
  const squatter = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => squatter.listen(base + 1, '127.0.0.1', resolve));
  try {
    const proc = startDev(base, path.join(dir, 'busy'));
    await waitFor(
      'the dev children',
      () => {
        if (!proc.running) return true;
        for (const pid of childrenOf(proc.pid)) childPids.add(pid);
        return childPids.size >= 3 ? true : undefined;
      },
      10_000,
      20,
    );
    const startedAt = Date.now();
    await Promise.race([proc.exited, bound(20_000)]);
    assert.ok(!proc.running, `edict dev still runs:\n${proc.stdout}\n${proc.stderr}`);
    t.diagnostic(`edict dev exited ${Date.now() - startedAt} ms after its children started`);
    assert.equal(proc.exitCode, 1, proc.stdout + proc.stderr);
    assert.ok(
      proc.stderr.includes(`cannot listen on 127.0.0.1:${base + 1} (--listen): it is in use`),
      proc.stderr,
    );
    assert.match(proc.stderr, /^edict dev: node 2 exited with status 1; stopping$/m);
    assert.deepEqual([...childPids].filter(alive), [], 'children left running');
  } finally {
    squatter.close();
  }
});
