// The cluster commands of the `edict` CLI, run as real child processes against an HTTP API served
// from an in-memory service: human and JSON output, compare-and-set failure as a typed error with
// exit status 1, stdin values, and failover across --endpoints when the first one is down.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpApi } from '../../src/server/http-api.js';
import { MemoryKv } from '../server/memory-kv.js';

let server: Server;
let endpoint: string;
const service = new MemoryKv();

before(async () => {
  server = createServer(createHttpApi({ service, registry: null }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function edict(args: string[], stdin?: string, endpoints = endpoint): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        ...args,
        '--endpoints',
        endpoints,
        '--timeout',
        '3000',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(stdin ?? '');
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('edict CLI: keys', () => {
  test('put, get, get --json, del', async () => {
    const put = await edict(['put', 'colour', 'blue']);
    assert.equal(put.status, 0, put.stderr);
    assert.match(put.stdout, /^OK version \d+\n$/);
    const get = await edict(['get', 'colour']);
    assert.equal(get.stdout, 'blue');
    const json = JSON.parse((await edict(['get', 'colour', '--json'])).stdout) as Record<
      string,
      unknown
    >;
    assert.equal(json.value, 'blue');
    assert.equal(json.encoding, 'utf8');
    assert.equal(typeof json.version, 'number');
    assert.equal((await edict(['del', 'colour'])).status, 0);
    const gone = await edict(['get', 'colour']);
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /^edict: NOT_FOUND: /);
  });

  test('compare-and-set: a stale --if-version fails with CONDITION_FAILED', async () => {
    const { version } = JSON.parse((await edict(['put', 'n', '1', '--json'])).stdout) as {
      version: number;
    };
    const stale = await edict(['put', 'n', '2', '--if-version', String(version + 50)]);
    assert.equal(stale.status, 1);
    assert.match(stale.stderr, /CONDITION_FAILED/);
    const fresh = await edict(['put', 'n', '2', '--if-version', String(version)]);
    assert.equal(fresh.status, 0, fresh.stderr);
    const create = await edict(['put', 'n', '3', '--create-only']);
    assert.match(create.stderr, /CONDITION_FAILED/);
  });

  test('the value may come from stdin', async () => {
    assert.equal((await edict(['put', 'piped'], 'from stdin')).status, 0);
    assert.equal((await edict(['get', 'piped'])).stdout, 'from stdin');
  });
});

describe('edict CLI: cluster', () => {
  test('status, map and drain', async () => {
    const status = await edict(['status']);
    assert.match(status.stdout, /^health green/);
    assert.equal(JSON.parse((await edict(['status', '--json'])).stdout).health, 'green');
    assert.match((await edict(['map'])).stdout, /^map version 1/);
    assert.equal((await edict(['drain', '2'])).status, 0);
    assert.deepEqual(service.drained, [2]);
    const bad = await edict(['drain', 'two']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /BAD_REQUEST/);
  });

  test('moves on to the next endpoint when one is down, and says UNAVAILABLE when all are', async () => {
    const dead = '127.0.0.1:9'; // the discard port: nothing listens there
    const ok = await edict(['status'], undefined, `${dead},${endpoint}`);
    assert.equal(ok.status, 0, ok.stderr);
    const down = await edict(['status'], undefined, dead);
    assert.equal(down.status, 1);
    assert.match(down.stderr, /^edict: UNAVAILABLE: /);
  });
});
