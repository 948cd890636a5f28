// Black-box: `edict start` refuses what it cannot do with a typed error on stderr and status 1,
// instead of running half-started: a protocol or HTTP port already in use, a bad --id, a --join
// address that is not host:port.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, runCli } from './harness.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'edict-start-'));
let busy: Server;
let busyPort = 0;

before(async () => {
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  busyPort = (busy.address() as { port: number }).port;
});

after(async () => {
  await new Promise<void>((resolve) => busy.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

async function start(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return runCli(['start', `--data=${path.join(dir, String(Math.random()))}`, ...args], {
    timeoutMs: 20_000,
  });
}

test('a protocol port in use: UNAVAILABLE naming the address', async () => {
  const r = await start(['--id=1', `--listen=127.0.0.1:${busyPort}`, '--log-level=warn']);
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    new RegExp(`^edict: UNAVAILABLE: .*127\\.0\\.0\\.1:${busyPort}.*in use`, 'm'),
  );
});

test('an HTTP port in use: UNAVAILABLE naming the address', async () => {
  const listen = await freePort();
  const r = await start([
    '--id=1',
    `--listen=127.0.0.1:${listen}`,
    `--http=127.0.0.1:${busyPort}`,
    '--log-level=warn',
  ]);
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    new RegExp(`^edict: UNAVAILABLE: .*127\\.0\\.0\\.1:${busyPort}.*in use`, 'm'),
  );
});

test('a bad --id or --join: BAD_REQUEST', async () => {
  const id = await start(['--id=0', '--listen=127.0.0.1:0']);
  assert.equal(id.status, 1);
  assert.match(id.stderr, /^edict: BAD_REQUEST: --id must be an integer/m);
  const join = await start(['--id=2', '--listen=127.0.0.1:0', '--join=nowhere']);
  assert.equal(join.status, 1);
  assert.match(join.stderr, /^edict: BAD_REQUEST: 'nowhere' is not host:port/m);
});
