// Black-box harness: real `edict start` processes (TypeScript sources through tsx) on free ports,
// each with its own data directory under os.tmpdir(). Every wait is bounded; `destroy()` SIGKILLs
// every process this harness started (and only those) and removes the directories. Each node's
// stdout and stderr are kept so a failing test can print them.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClusterStatus, NodeStatus } from '../../src/cluster-types.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The CLI's TypeScript entry: node processes run the sources, never a stale `dist/`. */
export const CLI_MAIN = path.join(ROOT, 'src/cli/main.ts');
/** The installed entry point, for the tests of the command line itself. */
export const BIN = path.join(ROOT, 'bin/edict.mjs');

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves after `ms`, without keeping the process alive: the losing side of a race. */
export function bound(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** A port nothing listens on right now (the OS picks it; another process may still race us). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address !== 'object') throw new Error('no port');
  return address.port;
}

/** True when 127.0.0.1:port can be bound now. */
export async function portIsFree(port: number): Promise<boolean> {
  const server = createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) await new Promise<void>((resolve) => server.close(() => resolve()));
  return ok;
}

/** Polls `probe` until it returns a value other than undefined; throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = undefined;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(everyMs);
  }
}

/** fetch with a deadline. */
export function httpFetch(url: string, init: RequestInit = {}, timeoutMs = 5_000) {
  return fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
}

/** A child process with its output collected and its exit observable. */
export class Proc {
  stdout = '';
  stderr = '';
  exitCode: number | null = null;
  signal: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (this.stdout += s));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      // Keep the tail only: a chatty node must not grow the test process without bound.
      this.stderr = (this.stderr + s).slice(-64 * 1024);
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code;
        this.signal = signal;
        resolve();
      });
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends `signal` and waits (bounded) for the exit; SIGKILLs it if the bound passes. */
  async stop(signal: NodeJS.Signals, timeoutMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const exited = await Promise.race([this.exited.then(() => true), bound(timeoutMs)]);
    if (!exited) {
      this.child.kill('SIGKILL');
      await Promise.race([this.exited, bound(5_000)]);
      throw new Error(`pid ${this.pid} did not exit within ${timeoutMs} ms of ${signal}`);
    }
  }

  /** Waits (bounded) until stdout contains `text`, failing early if the process exits. */
  async waitForOutput(text: string, timeoutMs: number): Promise<void> {
    await waitFor(
      `'${text}' on stdout of pid ${this.pid}`,
      () => {
        if (this.stdout.includes(text)) return true;
        if (!this.running) {
          throw new Error(`the process exited (${this.exitCode ?? this.signal}) first`);
        }
        return undefined;
      },
      timeoutMs,
      20,
    );
  }
}

export interface ClusterOptions {
  readonly nodes: number;
  readonly buckets?: number;
  readonly replicas?: number;
  /** Bound on the cluster becoming green after start. */
  readonly healthyMs?: number;
}

export interface ClusterNode {
  readonly id: number;
  readonly port: number;
  readonly httpPort: number;
  readonly data: string;
  proc: Proc | null;
  /** Output of earlier incarnations (before a restart), for diagnostics. */
  history: string;
}

/** Nodes of one cluster; the first bootstraps it, the others join through it. */
export class Cluster {
  readonly nodes = new Map<number, ClusterNode>();
  private readonly started: Proc[] = [];

  private constructor(
    readonly dir: string,
    readonly buckets: number,
    readonly replicas: number,
  ) {}

  static async start(options: ClusterOptions): Promise<Cluster> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'edict-cluster-'));
    const cluster = new Cluster(dir, options.buckets ?? 16, options.replicas ?? 3);
    try {
      await cluster.addNode(1);
      await Promise.all(
        Array.from({ length: options.nodes - 1 }, (_, i) => cluster.addNode(i + 2)),
      );
      await cluster.waitHealthy(options.healthyMs ?? 30_000);
    } catch (error) {
      cluster.dump('cluster start failed');
      await cluster.destroy();
      throw error;
    }
    return cluster;
  }

  node(id: number): ClusterNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  /** Protocol addresses of the nodes, for `connect({ endpoints })`. */
  endpoints(ids: readonly number[] = [...this.nodes.keys()]): string[] {
    return ids.map((id) => `127.0.0.1:${this.node(id).port}`);
  }

  /** HTTP addresses of the nodes, for the CLI's `--endpoints`. */
  httpEndpoints(ids: readonly number[] = [...this.nodes.keys()]): string[] {
    return ids.map((id) => `127.0.0.1:${this.node(id).httpPort}`);
  }

  url(id: number, route: string): string {
    return `http://127.0.0.1:${this.node(id).httpPort}${route}`;
  }

  /** Starts a new node (joining through node 1 unless it is node 1) and waits for "listening". */
  async addNode(id: number): Promise<ClusterNode> {
    const node: ClusterNode = {
      id,
      port: await freePort(),
      httpPort: await freePort(),
      data: path.join(this.dir, `node-${id}`),
      proc: null,
      history: '',
    };
    this.nodes.set(id, node);
    await this.launch(node);
    return node;
  }

  /** Starts a stopped node again with the same ports and data directory. */
  async restart(id: number): Promise<void> {
    const node = this.node(id);
    if (node.proc?.running === true) throw new Error(`node ${id} is running`);
    await this.launch(node);
  }

  /** SIGKILL: a crash. Waits for the exit. */
  async kill(id: number): Promise<void> {
    const proc = this.node(id).proc;
    if (proc !== null) await proc.stop('SIGKILL');
  }

  /** SIGTERM: a clean stop (leaderships handed off first). Waits (bounded) for the exit. */
  async terminate(id: number, timeoutMs = 10_000): Promise<void> {
    const proc = this.node(id).proc;
    if (proc !== null) await proc.stop('SIGTERM', timeoutMs);
  }

  private async launch(node: ClusterNode): Promise<void> {
    if (node.proc !== null) {
      node.history += `--- earlier run (${node.proc.exitCode ?? node.proc.signal}) ---\n`;
      node.history += node.proc.stdout + node.proc.stderr;
    }
    const args = [
      '--import',
      'tsx',
      CLI_MAIN,
      'start',
      `--id=${node.id}`,
      `--listen=127.0.0.1:${node.port}`,
      `--http=127.0.0.1:${node.httpPort}`,
      `--data=${node.data}`,
      `--buckets=${this.buckets}`,
      `--replicas=${this.replicas}`,
      `--zone=z${((node.id - 1) % 3) + 1}`,
      '--log-level=warn',
      ...(node.id === 1 ? [] : [`--join=${this.endpoints([1])[0] as string}`]),
    ];
    const proc = new Proc(spawn(process.execPath, args, { cwd: ROOT, stdio: 'pipe' }));
    this.started.push(proc);
    node.proc = proc;
    await proc.waitForOutput(`edict node ${node.id} listening on`, 20_000);
  }

  /** `GET /v1/status` from one node. */
  async status(id: number): Promise<ClusterStatus> {
    const response = await httpFetch(this.url(id, '/v1/status'), {}, 2_000);
    if (response.status !== 200) throw new Error(`status: HTTP ${response.status}`);
    return (await response.json()) as ClusterStatus;
  }

  /** The metadata leader as node `id` knows it (from its metrics), or null when none. */
  async metadataLeader(id: number): Promise<number | null> {
    const response = await httpFetch(this.url(id, '/metrics'), {}, 2_000);
    const match = /^edict_metadata_leader (\d+)$/m.exec(await response.text());
    const leader = match === null ? 0 : Number(match[1]);
    return leader === 0 ? null : leader;
  }

  /** Ids of the nodes whose process runs. */
  running(): number[] {
    return [...this.nodes.values()].filter((n) => n.proc?.running === true).map((n) => n.id);
  }

  /** Polls the status of the running nodes until `check` accepts one's answer. */
  async waitStatus(
    what: string,
    check: (status: ClusterStatus) => boolean,
    timeoutMs: number,
    from: readonly number[] = this.running(),
  ): Promise<ClusterStatus> {
    return waitFor(
      what,
      async () => {
        for (const id of from) {
          const status = await this.status(id).catch(() => null);
          if (status !== null && check(status)) return status;
        }
        return undefined;
      },
      timeoutMs,
      200,
    );
  }

  /** Every running node reports health green and lists every running node as active. */
  async waitHealthy(timeoutMs: number): Promise<void> {
    const running = this.running();
    await waitFor(
      `health green on nodes ${running.join(',')}`,
      async () => {
        for (const id of running) {
          const s = await this.status(id);
          if (s.health !== 'green') return undefined;
          for (const r of running) {
            if (nodeIn(s, r)?.state !== 'active') return undefined;
          }
        }
        return true;
      },
      timeoutMs,
      200,
    );
  }

  /** Writes every node's output to stderr (call on failure). */
  dump(why: string): void {
    const parts = [`==== ${why}: cluster in ${this.dir}`];
    for (const node of this.nodes.values()) {
      const proc = node.proc;
      const state = proc === null ? 'never started' : proc.running ? `pid ${proc.pid}` : 'exited';
      parts.push(`---- node ${node.id} (${state}, exit ${proc?.exitCode ?? proc?.signal})`);
      parts.push(node.history + (proc?.stdout ?? '') + (proc?.stderr ?? '').slice(-8_000));
    }
    process.stderr.write(parts.join('\n') + '\n');
  }

  /** SIGKILLs every process this cluster started and removes its directory. */
  async destroy(): Promise<void> {
    await Promise.all(
      this.started.map(async (proc) => {
        if (proc.running) proc.child.kill('SIGKILL');
        await Promise.race([proc.exited, bound(5_000)]);
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function nodeIn(status: ClusterStatus, id: number): NodeStatus | undefined {
  return status.nodes.find((n) => n.id === id);
}

/** Runs the CLI through bin/edict.mjs and returns its exit status and output (bounded). */
export async function runCli(
  args: readonly string[],
  options: { input?: string; timeoutMs?: number } = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const proc = new Proc(
    spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: withoutEndpoints(process.env),
    }),
  );
  proc.child.stdin?.end(options.input ?? '');
  const timeoutMs = options.timeoutMs ?? 15_000;
  const exited = await Promise.race([proc.exited.then(() => true), bound(timeoutMs)]);
  if (!exited) {
    proc.child.kill('SIGKILL');
    throw new Error(`edict ${args.join(' ')} did not exit within ${timeoutMs} ms`);
  }
  return { status: proc.exitCode, stdout: proc.stdout, stderr: proc.stderr };
}

function withoutEndpoints(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  delete copy.EDICT_ENDPOINTS;
  return copy;
}
