/**
 * `edict start` (one node) and `edict dev` (a local cluster of child processes). Both run until
 * SIGINT/SIGTERM, then stop cleanly: a node hands its leaderships off before it exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { BUCKETS_DEFAULT } from '../core/lib/limits.js';
import { EdictError } from '../errors.js';
import { NodeServer, parseHostPort, type HostPort } from '../server/node.js';

/** Buckets of a cluster started by `edict dev` or by a first `edict start`. */
export const DEV_BUCKETS = 64;

interface StartOptions {
  id: string;
  listen: string;
  http?: string;
  advertise?: string;
  data: string;
  join?: string;
  zone: string;
  rack?: string;
  weight: string;
  buckets: string;
  replicas: string;
  logLevel: string;
}

function positiveInt(text: string, name: string, max: number): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new EdictError('BAD_REQUEST', `--${name} must be an integer in 1..${max}, got '${text}'`);
  }
  return n;
}

/** The HTTP port next to a protocol port: listen + 100. */
function defaultHttp(listen: HostPort): HostPort {
  return { host: listen.host, port: listen.port + 100 };
}

export function registerNodeCommands(program: Command): void {
  program
    .command('start')
    .description('start one node (the first node of a cluster bootstraps it; others --join)')
    .requiredOption('--id <n>', 'node id, unique in the cluster (1..65535)')
    .requiredOption('--listen <host:port>', 'client and peer protocol address')
    .option('--http <host:port>', 'HTTP API address (default: the listen port + 100)')
    .option('--advertise <host:port>', 'address others reach this node at (default: --listen)')
    .requiredOption('--data <dir>', 'data directory')
    .option('--join <host:port,...>', 'members to join through; omit on the first node')
    .option('--zone <zone>', 'failure zone', 'z1')
    .option('--rack <rack>', 'rack (default: the node id)')
    .option('--weight <n>', 'relative capacity', '1')
    .option('--buckets <n>', 'buckets of a new cluster', String(BUCKETS_DEFAULT))
    .option('--replicas <n>', 'replicas per bucket of a new cluster', '3')
    .option('--log-level <level>', 'pino log level', 'info')
    .action(async (o: StartOptions) => {
      const id = positiveInt(o.id, 'id', 65535);
      const listen = parseHostPort(o.listen);
      const http = o.http === undefined ? defaultHttp(listen) : parseHostPort(o.http);
      const join = (o.join ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
      for (const address of join) parseHostPort(address);
      const logger = pino({ level: o.logLevel, base: { node: id } }, pino.destination(2));
      const node = await NodeServer.start({
        id,
        listen,
        http,
        ...(o.advertise === undefined ? {} : { advertise: o.advertise }),
        data: o.data,
        join,
        zone: o.zone,
        rack: o.rack ?? `r${id}`,
        weight: positiveInt(o.weight, 'weight', 1000),
        bucketCount: positiveInt(o.buckets, 'buckets', 65536),
        replicas: positiveInt(o.replicas, 'replicas', 7),
        logger,
      });
      const httpPort = node.httpAddressInfo?.port ?? 0;
      process.stdout.write(
        `edict node ${id} listening on ${listen.host}:${node.address.port}, ` +
          `HTTP on ${http.host}:${httpPort}, data in ${o.data}\n`,
      );
      await Promise.race([waitForSignal(), parentGone()]);
      logger.info({}, 'stopping: handing leaderships off');
      await node.stop();
    });

  program
    .command('dev')
    .description('start a local cluster (child processes) with data under ./.edict/')
    .option('--nodes <n>', 'number of nodes', '3')
    .option('--data <dir>', 'data directory', '.edict')
    .option('--port <port>', 'protocol port of node 1 (HTTP is +100)', '7000')
    .option('--buckets <n>', 'buckets', String(DEV_BUCKETS))
    .action(async (o: { nodes: string; data: string; port: string; buckets: string }) => {
      const count = positiveInt(o.nodes, 'nodes', 32);
      const base = positiveInt(o.port, 'port', 65000);
      const buckets = positiveInt(o.buckets, 'buckets', 65536);
      const replicas = Math.min(3, count);
      mkdirSync(o.data, { recursive: true });
      // Each node runs this same command line (with the same loader flags, e.g. tsx's).
      const entry = process.argv[1] as string;
      const children: ChildProcess[] = [];
      // Node i listens on base + i - 1 and serves HTTP 100 above: 7000.. and 7100.. by default.
      const first = `127.0.0.1:${base}`;
      for (let i = 1; i <= count; i++) {
        const args = [
          entry,
          'start',
          `--id=${i}`,
          `--listen=127.0.0.1:${base + i - 1}`,
          `--data=${path.join(o.data, `node-${i}`)}`,
          `--buckets=${buckets}`,
          `--replicas=${replicas}`,
          `--zone=z${((i - 1) % 3) + 1}`,
          '--log-level=warn',
          ...(i === 1 ? [] : [`--join=${first}`]),
        ];
        const child = spawn(process.execPath, [...process.execArgv, ...args], {
          stdio: ['ignore', 'inherit', 'inherit'],
          // A node of `edict dev` stops when dev is gone, even if dev was SIGKILLed.
          env: { ...process.env, [PARENT_ENV]: String(process.pid) },
        });
        children.push(child);
      }
      const endpoints = children.map((_, i) => `127.0.0.1:${base + i}`).join(',');
      const http = children.map((_, i) => `127.0.0.1:${base + 100 + i}`).join(',');
      process.stdout.write(
        `edict dev: ${count} nodes, data under ${o.data}/\n` +
          `  client endpoints: ${endpoints}\n` +
          `  HTTP API:         ${http}\n` +
          `  try: edict put hello world --endpoints ${http}\n` +
          `       curl http://127.0.0.1:${base + 100}/v1/kv/hello\n` +
          'Ctrl-C stops the cluster.\n',
      );
      // A node that exits on its own (a port in use, a crash) stops the whole cluster: a dev
      // cluster missing a node would look up while it cannot serve what the node held.
      let stopping = false;
      let failure: string | null = null;
      let exited = 0;
      const allExited = new Promise<void>((resolve) => {
        children.forEach((child, i) => {
          child.once('exit', (code, signal) => {
            exited += 1;
            if (!stopping && failure === null) {
              failure = `node ${i + 1} exited ${code === null ? `on ${signal}` : `with status ${code}`}`;
              resolve();
            }
            if (exited === children.length) resolve();
          });
        });
      });
      await Promise.race([waitForSignal(), allExited]);
      stopping = true;
      if (failure !== null) process.stderr.write(`edict dev: ${failure}; stopping\n`);
      for (const child of children) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      }
      await Promise.all(
        children.map((child) =>
          child.exitCode !== null || child.signalCode !== null
            ? Promise.resolve()
            : new Promise<void>((resolve) => child.once('exit', () => resolve())),
        ),
      );
      process.stdout.write('edict dev: stopped\n');
      if (failure !== null) process.exitCode = 1;
    });
}

/** Set by `edict dev` on its nodes: the pid whose end stops the node. */
const PARENT_ENV = 'EDICT_DEV_PARENT_PID';

/** Resolves when the `edict dev` that started this node is gone (never, for a node of its own). */
function parentGone(): Promise<void> {
  const parent = Number(process.env[PARENT_ENV]);
  if (!Number.isSafeInteger(parent) || parent <= 1) return new Promise(() => undefined);
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (process.ppid === parent) return;
      clearInterval(timer);
      resolve();
    }, 500);
    timer.unref(); // never what keeps the process alive
  });
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}
