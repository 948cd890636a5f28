/**
 * A 3-node Edict cluster of real processes for the cluster benchmark: `bin/edict.mjs start --id N
 * --listen 127.0.0.1:PORT --data DIR [--join 127.0.0.1:PORT]`, the first node bootstrapping and the
 * others joining it, data in a fresh directory under /tmp, free ports chosen at start. Each node's
 * HTTP address is the first `http://host:port` (or `HTTP ... host:port`) it prints; a node that
 * prints none is taken to serve HTTP on its `--listen` address. The cluster is ready when
 * `GET /v1/status` reports every node and health `green`, and every node answers it. `addNode()`
 * starts one more node that joins (the rebalance benchmark). `stop()` ends exactly the processes
 * started here (SIGTERM, which hands leaderships off, then SIGKILL after a grace period) and removes
 * the data.
 *
 * Until the node server exists, {@link detectEdictStart} says so and the benchmark skips Edict.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunningCluster } from './_etcd.js';
import { freePorts, getText, sleep, stopChild } from './_procs.js';

const EDICT = fileURLToPath(new URL('../bin/edict.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface EdictCluster extends RunningCluster {
  /** `host:port` of each node's client-protocol (transport) address, for `connect()`. */
  readonly clientEndpoints: readonly string[];
  /** SIGKILLs node `i` (0-based); resolves once it exited. */
  kill(i: number): Promise<void>;
  /** Starts node `i` again on its data; resolves once it answers `GET /v1/status`. */
  restart(i: number, timeoutMs?: number): Promise<void>;
  /**
   * Starts one more node (the next id, a fresh data directory, a free port) that joins the
   * cluster through the first node; resolves with its index once it answers `GET /v1/status`.
   * It is stopped with the others; its process is added to `servers` and `endpoints`.
   */
  addNode(timeoutMs?: number): Promise<number>;
  /** Data directory of node `i` (removed by `stop()`). */
  dataDir(i: number): string;
  /** The last `lines` lines of node `i`'s output (stdout and stderr). */
  logTail(i: number, lines?: number): string;
}

/**
 * How the `edict` command is run: Node arguments before the subcommand. Tests put a stand-in here
 * (`['--import', 'tsx', 'fake-node.ts']`).
 */
export const EDICT_COMMAND: readonly string[] = [EDICT];

/** Whether `edict start` exists; when not, the reason in one line. */
export function detectEdictStart(
  command: readonly string[] = EDICT_COMMAND,
): { ok: true } | { ok: false; reason: string } {
  const run = spawnSync(process.execPath, [...command, 'start', '--help'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const output = `${run.stdout ?? ''}\n${run.stderr ?? ''}`;
  if (run.error === undefined && run.status === 0 && output.includes('--listen')) {
    return { ok: true };
  }
  if (run.error !== undefined) {
    return { ok: false, reason: `\`edict start --help\` failed: ${run.error.message}` };
  }
  return {
    ok: false,
    reason:
      '`edict start` is not implemented yet (`bin/edict.mjs start --help` does not describe ' +
      '--listen): the node server has not landed',
  };
}

const HTTP_ADDRESS = [
  /https?:\/\/(\d{1,3}(?:\.\d{1,3}){3}:\d{1,5})/i,
  /http\b[^\n]*?(\d{1,3}(?:\.\d{1,3}){3}:\d{1,5})/i,
];

export async function startEdict(
  nodes = 3,
  readyTimeoutMs = 60_000,
  command: readonly string[] = EDICT_COMMAND,
  buckets: number | null = null,
): Promise<EdictCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-edict-'));
  const ports = await freePorts(nodes);
  const listen = ports.map((p) => `127.0.0.1:${p}`);
  const children: ChildProcess[] = [];
  const http: Array<string | null> = listen.map(() => null);
  const killAll = (): void => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  // Idempotent: every caller (the run's end, a signal) waits for the same stop.
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await Promise.all(children.map((child) => stopChild(child, 15_000)));
      process.removeListener('exit', killAll);
      rmSync(dir, { recursive: true, force: true });
    })());
  const deadline = performance.now() + readyTimeoutMs;
  const checkAlive = (): void => {
    children.forEach((child, i) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`edict node ${i + 1} exited: ${tail(dir, i + 1)}`);
      }
    });
  };
  /** Waits until node `i` answers `GET /v1/status` and `ok` holds for the answer. */
  const waitStatus = async (i: number, ok: (status: StatusBody) => boolean): Promise<void> => {
    for (;;) {
      checkAlive();
      const address = http[i] ?? listen[i];
      const answer = await getText(`http://${address}/v1/status`, 1_000);
      if (answer !== null && answer.status === 200 && ok(parseStatus(answer.text))) return;
      if (performance.now() > deadline) {
        throw new Error(`edict not ready after ${readyTimeoutMs} ms: ${tail(dir, i + 1)}`);
      }
      await sleep(250);
    }
  };
  const dataDir = (i: number): string => path.join(dir, `n${i + 1}`);
  /** Waits until node `i`, just spawned, answers `GET /v1/status`; throws if it exits first. */
  const waitServes = async (i: number, child: ChildProcess, timeoutMs: number): Promise<void> => {
    const until = performance.now() + timeoutMs;
    while (performance.now() < until && child.exitCode === null) {
      const answer = await getText(`http://${http[i] ?? listen[i]}/v1/status`, 1_000);
      if (answer?.status === 200) return;
      await sleep(100);
    }
    throw new Error(`edict node ${i + 1} did not start: ${tail(dir, i + 1)}`);
  };
  /** Starts (or restarts, on its data) node `i`. */
  const spawnNode = (i: number): ChildProcess => {
    const args = [...command, 'start', '--id', String(i + 1), '--listen', listen[i] as string];
    args.push('--data', dataDir(i));
    if (i > 0) args.push('--join', listen[0] as string);
    if (buckets !== null) args.push('--buckets', String(buckets));
    const log = createWriteStream(path.join(dir, `n${i + 1}.log`), { flags: 'a' });
    // In a process group of its own, so that a Ctrl-C reaches only the benchmark, which then
    // stops the nodes (SIGTERM hands leaderships off).
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let seen = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      log.write(chunk);
      if (http[i] !== null || seen.length > 65_536) return;
      seen += chunk.toString('utf8');
      for (const pattern of HTTP_ADDRESS) {
        const match = pattern.exec(seen);
        if (match !== null) {
          http[i] = match[1] as string;
          break;
        }
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => log.write(chunk));
    child.once('exit', () => log.end());
    children[i] = child;
    return child;
  };
  try {
    for (let i = 0; i < nodes; i += 1) {
      spawnNode(i);
      // The first node bootstraps the cluster; the others join once it serves.
      if (i === 0) await waitStatus(0, () => true);
    }
    await waitStatus(0, (s) => s.health === 'green' && s.nodes.length >= nodes);
    // Every node serves, not only the first: the load goes to all of them.
    for (let i = 1; i < nodes; i += 1) await waitStatus(i, () => true);
    const status = parseStatus((await getText(`http://${http[0] ?? listen[0]}/v1/status`))?.text);
    const addresses = status.nodes.map((n) => n.address).filter((a) => /:\d+$/.test(a));
    const servers = children.map((c, i) => ({ name: `edict n${i + 1}`, pid: c.pid as number }));
    return {
      addNode: async (timeoutMs = 60_000) => {
        const i = children.length;
        const [port] = await freePorts(1);
        listen[i] = `127.0.0.1:${port as number}`;
        http[i] = null;
        const child = spawnNode(i);
        servers.push({ name: `edict n${i + 1}`, pid: child.pid as number });
        await waitServes(i, child, timeoutMs);
        return i;
      },
      dataDir,
      logTail: (i: number, lines = 20) => tail(dir, i + 1, lines),
      kill: async (i: number) => {
        const child = children[i] as ChildProcess;
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGKILL');
        await exited;
      },
      restart: async (i: number, timeoutMs = 60_000) => {
        await waitServes(i, spawnNode(i), timeoutMs);
      },
      get endpoints() {
        return listen.map((l, i) => http[i] ?? l);
      },
      clientEndpoints: addresses.length > 0 ? addresses : listen,
      servers,
      version: `edict ${packageVersion()} (${process.version})`,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

interface StatusBody {
  readonly health: string;
  readonly nodes: ReadonlyArray<{ readonly address: string }>;
}

function parseStatus(text: string | undefined): StatusBody {
  try {
    const body = JSON.parse(text ?? '') as Partial<StatusBody>;
    return {
      health: typeof body.health === 'string' ? body.health : '',
      nodes: Array.isArray(body.nodes) ? body.nodes : [],
    };
  } catch {
    return { health: '', nodes: [] };
  }
}

function packageVersion(): string {
  try {
    return (
      JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }
    ).version;
  } catch {
    return '?';
  }
}

function tail(dir: string, node: number, lines = 5): string {
  try {
    return readFileSync(path.join(dir, `n${node}.log`), 'utf8')
      .split('\n')
      .slice(-lines)
      .join('\n');
  } catch {
    return '(no log)';
  }
}
