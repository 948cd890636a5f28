/**
 * Shared pieces of the cluster benchmark: CPU and memory of server processes from /proc, the
 * machine's busy and steal shares from /proc/stat, free loopback ports, and stopping a child by
 * PID (SIGTERM, then SIGKILL after a grace period). Linux only; where /proc cannot be read the
 * figures are NaN rather than an error.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { ChildProcess } from 'node:child_process';

/** Linux reports process CPU times in clock ticks of 1/100 s (USER_HZ) on every architecture. */
const TICKS_PER_SECOND = 100;

export interface ProcSample {
  /** utime + stime, in seconds. */
  readonly cpuSeconds: number;
  /** Resident set size, in bytes. */
  readonly rssBytes: number;
}

/** CPU time and RSS of process `pid`; NaN fields when it is gone. */
export function sampleProc(pid: number): ProcSample {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return {
      cpuSeconds: ticks / TICKS_PER_SECOND,
      rssBytes: rss === null ? NaN : Number(rss[1]) * 1024,
    };
  } catch {
    return { cpuSeconds: NaN, rssBytes: NaN };
  }
}

export interface MachineSample {
  readonly busy: number;
  readonly idle: number;
  readonly steal: number;
}

/** The first line of /proc/stat: busy, idle and steal ticks over all cores. */
export function sampleMachine(): MachineSample {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] as string;
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number) as number[];
    return {
      busy: (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0),
      idle: (idle ?? 0) + (iowait ?? 0),
      steal: steal ?? 0,
    };
  } catch {
    return { busy: NaN, idle: NaN, steal: NaN };
  }
}

export interface MachineShares {
  /** Share of all cores' time that was busy, in %. */
  readonly busyPct: number;
  /** Share taken by the hypervisor, in %. */
  readonly stealPct: number;
  /** Busy CPU time, in seconds (all cores together). */
  readonly busySeconds: number;
}

export function machineShares(a: MachineSample, b: MachineSample): MachineShares {
  const busy = b.busy - a.busy;
  const idle = b.idle - a.idle;
  const steal = b.steal - a.steal;
  const total = Math.max(1, busy + idle + steal);
  return {
    busyPct: (100 * busy) / total,
    stealPct: (100 * steal) / total,
    busySeconds: busy / TICKS_PER_SECOND,
  };
}

/** `count` distinct free TCP ports on 127.0.0.1 (free when asked; a race is possible but rare). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<import('node:net').Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as import('node:net').AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

/** Stops `child` (and only it): SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const timers: NodeJS.Timeout[] = [];
  // Resolves on exit, or 2 s after the SIGKILL should the exit event have been missed.
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    timers.push(setTimeout(resolve, graceMs + 2_000));
  });
  child.kill('SIGTERM');
  timers.push(setTimeout(() => child.kill('SIGKILL'), graceMs));
  await exited;
  for (const timer of timers) clearTimeout(timer);
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** GET `url` with a deadline; resolves with status and body text, or null on any failure. */
export async function getText(
  url: string,
  timeoutMs = 2_000,
): Promise<{ status: number; text: string } | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, text: await res.text() };
  } catch {
    return null;
  }
}
