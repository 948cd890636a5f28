/**
 * A 3-member etcd 3.4 cluster on loopback for the cluster benchmark, after
 * `../shared/bench/etcd3.sh`: Debian's `etcd-server` with its defaults (fsync on, default heartbeat
 * and election timeouts, no auto-compaction), data in a fresh directory under /tmp, free ports
 * chosen at start. `stop()` ends exactly the processes started here, by PID, and removes the data.
 *
 * Install with `apt-get update && apt-get install -y etcd-server etcd-client`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePorts, getText, sleep, stopChild } from './_procs.js';

export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
}

export interface RunningCluster {
  /** `host:port` of each member's client (HTTP) endpoint. */
  readonly endpoints: readonly string[];
  readonly servers: readonly ServerProcess[];
  /** A line describing the software, e.g. `etcd 3.4.23`. */
  readonly version: string;
  stop(): Promise<void>;
}

/** The installed etcd's version line, or null when there is none. */
export function etcdVersion(): string | null {
  const run = spawnSync('etcd', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (run.error !== undefined || run.status !== 0) return null;
  const match = /etcd Version: (\S+)/.exec(run.stdout);
  return match === null ? 'etcd (unknown version)' : `etcd ${match[1]}`;
}

export async function startEtcd(members = 3, healthTimeoutMs = 30_000): Promise<RunningCluster> {
  const version = etcdVersion();
  if (version === null) {
    throw new Error(
      'etcd is not installed: apt-get update && apt-get install -y etcd-server etcd-client',
    );
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-etcd-'));
  const ports = await freePorts(2 * members);
  const client = (i: number): number => ports[2 * i] as number;
  const peer = (i: number): number => ports[2 * i + 1] as number;
  const names = Array.from({ length: members }, (_, i) => `m${i + 1}`);
  const initialCluster = names.map((n, i) => `${n}=http://127.0.0.1:${peer(i)}`).join(',');
  const children: ChildProcess[] = [];
  const killAll = (): void => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  };
  // Should this process die without stopping the cluster, the members die with it.
  process.once('exit', killAll);
  // Idempotent: every caller (the run's end, a signal) waits for the same stop.
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await Promise.all(children.map((child) => stopChild(child, 10_000)));
      process.removeListener('exit', killAll);
      rmSync(dir, { recursive: true, force: true });
    })());
  try {
    for (let i = 0; i < members; i += 1) {
      const log = openSync(path.join(dir, `${names[i]}.log`), 'w');
      const flags: Record<string, string> = {
        name: names[i] as string,
        'data-dir': path.join(dir, names[i] as string),
        'listen-client-urls': `http://127.0.0.1:${client(i)}`,
        'advertise-client-urls': `http://127.0.0.1:${client(i)}`,
        'listen-peer-urls': `http://127.0.0.1:${peer(i)}`,
        'initial-advertise-peer-urls': `http://127.0.0.1:${peer(i)}`,
        'initial-cluster': initialCluster,
        'initial-cluster-state': 'new',
        'initial-cluster-token': `bench-${path.basename(dir)}`,
        logger: 'zap',
        'log-outputs': 'stderr',
      };
      const args = Object.entries(flags).flatMap(([flag, value]) => [`--${flag}`, value]);
      // In a process group of its own, so that a Ctrl-C reaches only the benchmark, which then
      // stops the members in order.
      const child = spawn('etcd', args, { stdio: ['ignore', log, log], detached: true });
      closeSync(log);
      children.push(child);
    }
    const endpoints = names.map((_, i) => `127.0.0.1:${client(i)}`);
    const deadline = performance.now() + healthTimeoutMs;
    for (;;) {
      const dead = children.findIndex((c) => c.exitCode !== null || c.signalCode !== null);
      if (dead >= 0) throw new Error(`etcd ${names[dead]} exited: ${tail(dir, names[dead])}`);
      const health = await Promise.all(endpoints.map((e) => getText(`http://${e}/health`, 1_000)));
      if (health.every((h) => h !== null && h.status === 200 && h.text.includes('"true"'))) break;
      if (performance.now() > deadline) {
        throw new Error(`etcd not healthy after ${healthTimeoutMs} ms: ${tail(dir, 'm1')}`);
      }
      await sleep(250);
    }
    const servers = children.map((c, i) => ({ name: `etcd ${names[i]}`, pid: c.pid as number }));
    return { endpoints, servers, version, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

function tail(dir: string, name: string | undefined): string {
  try {
    return readFileSync(path.join(dir, `${name}.log`), 'utf8')
      .split('\n')
      .slice(-5)
      .join('\n');
  } catch {
    return '(no log)';
  }
}
