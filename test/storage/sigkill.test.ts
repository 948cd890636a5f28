// A real process writes to a real store and is killed with SIGKILL at random moments, again and
// again on the same directory (so recovery also meets the state earlier recoveries left). After
// each kill the store is reopened in this process and checked: every write the child acknowledged
// is there; nothing beyond the bucket's applied index is; every key holds the exact value written
// at its version (no garbage); verify() finds the index and the values consistent.
// KILLS=100 runs more rounds (bounded to about 1 s each).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bucketId } from '../../src/core/lib/ids.js';
import { Prng } from '../../src/core/lib/prng.js';
import { isStorageError } from '../../src/storage/errors.js';
import { openNodeStorage } from '../../src/storage/node-storage.js';
import { killKey, killValue, KILL_BUCKETS, KILL_OPTIONS } from './fixtures/kill-data.js';

const fixture = fileURLToPath(new URL('./fixtures/kill-writer.ts', import.meta.url));
const KILLS = Number(process.env['KILLS'] ?? 25);

interface Round {
  readonly acked: number[];
  readonly ready: boolean;
}

/**
 * Starts the writer; once it is ready, runs `whileRunning` and kills it `delayMs` later. Returns
 * what it acknowledged.
 */
function runWriter(
  dir: string,
  delayMs: number,
  whileRunning: () => Promise<void> = () => Promise.resolve(),
): Promise<Round> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acked = new Array<number>(KILL_BUCKETS).fill(0);
    let ready = false;
    let buffer = '';
    let stderr = '';
    const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (data: string) => {
      buffer += data;
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const [word, a, b] = line.split(' ');
        if (word === 'ready' && !ready) {
          ready = true;
          whileRunning().then(
            () => setTimeout(() => child.kill('SIGKILL'), delayMs),
            (error: unknown) => {
              child.kill('SIGKILL');
              reject(error);
            },
          );
        } else if (word === 'ack') {
          const bucket = Number(a);
          acked[bucket] = Math.max(acked[bucket] as number, Number(b));
        }
      }
    });
    child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (signal !== 'SIGKILL') reject(new Error(`writer exited with ${code}: ${stderr}`));
      else resolve({ acked, ready });
    });
  });
}

async function check(dir: string, acked: readonly number[]): Promise<number[]> {
  const engine = await openNodeStorage(dir, {
    ...KILL_OPTIONS,
    checkpointIntervalMs: 0,
    compactionIntervalMs: 0,
  });
  try {
    const applied: number[] = [];
    for (let bucket = 0; bucket < KILL_BUCKETS; bucket++) {
      const id = bucketId(bucket);
      const top = engine.appliedIndex(id);
      applied.push(top);
      assert.ok(
        top >= (acked[bucket] as number),
        `bucket ${bucket}: acked ${acked[bucket]}, applied ${top}`,
      );
      for (let i = 1; i <= top; i++) {
        const got = engine.get(id, killKey('u', i));
        assert.ok(got !== null, `bucket ${bucket}: entry ${i} missing`);
        assert.equal(got.version, i);
        assert.ok(
          Buffer.from(got.value).equals(killValue(bucket, i)),
          `bucket ${bucket}: entry ${i} garbled`,
        );
      }
      assert.equal(
        engine.get(id, killKey('u', top + 1)),
        null,
        `bucket ${bucket}: entry past the applied index`,
      );
      for (let j = 0; j < 50 && j <= top; j++) {
        const latest = top - ((((top - j) % 50) + 50) % 50);
        const got = engine.get(id, killKey('k', j));
        if (latest < 1) continue;
        assert.equal(got?.version, latest, `bucket ${bucket}: k${j}`);
        assert.ok(Buffer.from(got!.value).equals(killValue(bucket, latest)));
      }
      const rows = engine.scan(id, { prefix: Buffer.from('u'), limit: 10_000 }).rows.length;
      assert.equal(rows, Math.min(top, 10_000), `bucket ${bucket}: exactly the applied entries`);
    }
    engine.verify();
    return applied;
  } finally {
    await engine.close();
  }
}

test(
  `SIGKILL a writer ${KILLS} times: acknowledged writes survive, nothing else appears`,
  { timeout: 600_000 },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edict-sigkill-'));
    const prng = new Prng(20261122);
    let totalAcked = 0;
    try {
      let previous = new Array<number>(KILL_BUCKETS).fill(0);
      for (let round = 0; round < KILLS; round++) {
        const delay = prng.range(0, 400);
        const { acked, ready } = await runWriter(dir, delay);
        const atLeast = acked.map((a, i) => Math.max(a, previous[i] as number));
        previous = await check(dir, atLeast);
        if (ready) totalAcked += acked.reduce((s, a) => s + a, 0);
      }
      t.diagnostic(`applied per bucket after ${KILLS} kills: ${previous.join(', ')}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.ok(totalAcked > 0, 'the writer acknowledged writes');
  },
);

test('a store held by a live process is locked; a dead one is taken over', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edict-lock-'));
  try {
    await runWriter(dir, 0, async () => {
      await assert.rejects(openNodeStorage(dir), (e: unknown) =>
        isStorageError(e, 'STORAGE_LOCKED'),
      );
    });
    const engine = await openNodeStorage(dir);
    await engine.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
