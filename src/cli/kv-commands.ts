/**
 * `edict get|put|del KEY [VALUE]`, `edict status`, `edict map`, `edict drain NODE`: the cluster
 * commands, talking to any node's HTTP API. Human output by default, one JSON object with `--json`.
 */
import type { Command } from 'commander';
import { EdictError } from '../errors.js';
import { expectOk, keyPath, parseEndpoints, request, type HttpTarget } from './http.js';

export const DEFAULT_ENDPOINTS = '127.0.0.1:7100,127.0.0.1:7101,127.0.0.1:7102';

interface Common {
  endpoints: string;
  json?: boolean;
  timeout: string;
}

function target(options: Common): HttpTarget {
  const timeoutMs = Number(options.timeout);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw new EdictError('BAD_REQUEST', 'bad --timeout');
  return { endpoints: parseEndpoints(options.endpoints), timeoutMs };
}

function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

function withCommon(command: Command): Command {
  return command
    .option(
      '--endpoints <list>',
      'comma-separated host:port of node HTTP APIs',
      process.env.EDICT_ENDPOINTS ?? DEFAULT_ENDPOINTS,
    )
    .option('--json', 'print one JSON object')
    .option('--timeout <ms>', 'per-request timeout in milliseconds', '5000');
}

async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return new Uint8Array(Buffer.concat(chunks));
}

function describeValue(bytes: Uint8Array): { value: string; encoding: 'utf8' | 'base64' } {
  try {
    return { value: new TextDecoder('utf-8', { fatal: true }).decode(bytes), encoding: 'utf8' };
  } catch {
    return { value: Buffer.from(bytes).toString('base64'), encoding: 'base64' };
  }
}

const versionOf = (res: Response): number =>
  Number((res.headers.get('etag') ?? '').replace(/"/g, ''));

/** Registers the key-value and cluster commands on `program`. */
export function registerKvCommands(program: Command): void {
  withCommon(program.command('get <key>').description('print the value of a key')).action(
    async (key: string, options: Common) => {
      const res = await expectOk(await request(target(options), keyPath(key)));
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (options.json)
        out(JSON.stringify({ key, ...describeValue(bytes), version: versionOf(res) }));
      else {
        process.stdout.write(bytes);
        // The value's bytes exactly when piped; on a terminal, the prompt starts on a new line.
        if (process.stdout.isTTY && bytes.at(-1) !== 0x0a) process.stdout.write('\n');
      }
    },
  );

  withCommon(
    program
      .command('put <key> [value]')
      .description('set a key (the value is read from stdin when omitted)')
      .option('--if-version <version>', 'only if the key is at this version (compare-and-set)')
      .option('--create-only', 'only if the key does not exist'),
  ).action(
    async (
      key: string,
      value: string | undefined,
      options: Common & { ifVersion?: string; createOnly?: boolean },
    ) => {
      const body = value === undefined ? await readStdin() : new TextEncoder().encode(value);
      const headers: Record<string, string> = {};
      if (options.ifVersion !== undefined) headers['If-Match'] = `"${options.ifVersion}"`;
      if (options.createOnly === true) headers['If-None-Match'] = '*';
      const res = await expectOk(
        await request(target(options), keyPath(key), { method: 'PUT', body, headers }),
      );
      const { version } = (await res.json()) as { version: number };
      out(options.json ? JSON.stringify({ key, version }) : `OK version ${version}`);
    },
  );

  withCommon(
    program
      .command('del <key>')
      .description('delete a key')
      .option('--if-version <version>', 'only if the key is at this version'),
  ).action(async (key: string, options: Common & { ifVersion?: string }) => {
    const headers: Record<string, string> = {};
    if (options.ifVersion !== undefined) headers['If-Match'] = `"${options.ifVersion}"`;
    const res = await expectOk(
      await request(target(options), keyPath(key), { method: 'DELETE', headers }),
    );
    const { version } = (await res.json()) as { version: number };
    out(
      options.json
        ? JSON.stringify({ key, deleted: true, version })
        : `deleted (version ${version})`,
    );
  });

  withCommon(
    program.command('status').description('cluster health, nodes and their buckets'),
  ).action(async (options: Common) => {
    const res = await expectOk(await request(target(options), '/v1/status'));
    const status = (await res.json()) as {
      health: string;
      mapVersion: number;
      buckets: number;
      transitions: number;
      nodes: {
        id: number;
        address: string;
        zone: string;
        state: string;
        leaders: number;
        replicas: number;
      }[];
    };
    if (options.json) return out(JSON.stringify(status));
    out(
      `health ${status.health}  map version ${status.mapVersion}  buckets ${status.buckets}  transitions ${status.transitions}`,
    );
    out(['id', 'address', 'zone', 'state', 'leaders', 'replicas'].join('\t'));
    for (const n of status.nodes)
      out([n.id, n.address, n.zone, n.state, n.leaders, n.replicas].join('\t'));
  });

  withCommon(
    program.command('map').description('the routing table: bucket -> leader, followers'),
  ).action(async (options: Common) => {
    const res = await expectOk(await request(target(options), '/v1/map'));
    const map = (await res.json()) as {
      mapVersion: number;
      buckets: {
        bucket: number;
        epoch: number;
        leader: number | null;
        followers: number[];
        learners: number[];
      }[];
    };
    if (options.json) return out(JSON.stringify(map));
    out(`map version ${map.mapVersion}`);
    out(['bucket', 'epoch', 'leader', 'followers', 'learners'].join('\t'));
    for (const b of map.buckets) {
      out(
        [
          b.bucket,
          b.epoch,
          b.leader ?? '-',
          b.followers.join(',') || '-',
          b.learners.join(',') || '-',
        ].join('\t'),
      );
    }
  });

  withCommon(program.command('drain <node>').description('move every bucket off a node')).action(
    async (node: string, options: Common) => {
      if (!/^\d+$/.test(node)) throw new EdictError('BAD_REQUEST', `bad node id '${node}'`);
      await expectOk(await request(target(options), `/v1/nodes/${node}/drain`, { method: 'POST' }));
      out(options.json ? JSON.stringify({ draining: Number(node) }) : `node ${node} is draining`);
    },
  );
}
