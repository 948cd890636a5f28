/**
 * `npm run bench -- transport [--seconds S] [--depths 1,16,64,256] [--size 100] [--json]`
 *
 * Request/response round trips per second on one connection, at several pipeline depths (requests
 * kept outstanding), for the Edict transport and, in the same run, for a raw Node TCP echo of the
 * very same frames. The ratio is the figure of merit: what the transport's envelope, MessagePack
 * encoding and checking, request ids, promises and bounds cost over bare framing on this machine.
 *
 * Each server runs in its own process (`bench/_transport-server.ts`); the client runs here. Bodies
 * are `size`-byte binaries; the raw client sends the exact bytes of an Edict request frame carrying
 * such a body and counts the echoed frames without decoding them. Each case warms up for 0.5 s
 * and then measures for `seconds` (default 2.5): the whole run takes about 25 s.
 *
 * Besides round trips per second and latency, each case reports the CPU time that client and
 * server together spent per round trip (steadier than throughput when the machine is shared), and
 * the CPU that other processes used meanwhile, in % of one core (from /proc; a large figure means
 * the case competed for the cores and its throughput is low by that much).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { defaultCodecOptions, encodeFrameOf } from '../src/net/codec.js';
import { FrameDecoder } from '../src/net/frame.js';
import { silentLogger } from '../src/net/options.js';
import { defaultPeerOptions, Peer } from '../src/net/peer.js';

interface Config {
  readonly seconds: number;
  readonly depths: readonly number[];
  readonly size: number;
  readonly json: boolean;
}

interface Result {
  readonly mode: 'raw' | 'edict';
  readonly depth: number;
  readonly perSecond: number;
  readonly p50us: number;
  readonly p99us: number;
  /** Client plus server CPU time per round trip, in microseconds. */
  readonly cpuUsPerTrip: number;
  /** CPU used by other processes during the case, in % of one core; -1 when unknown. */
  readonly foreignCpuPct: number;
}

const WARMUP_MS = 500;

export async function main(args: string[]): Promise<void> {
  const config = parseArgs(args);
  const rows: Array<{ raw: Result; edict: Result }> = [];
  for (const depth of config.depths) {
    const raw = await withServer('raw', (port, pid) => runRaw(port, pid, depth, config));
    const edict = await withServer('edict', (port, pid) => runEdict(port, pid, depth, config));
    rows.push({ raw, edict });
    if (config.json) {
      process.stdout.write(`${JSON.stringify(raw)}\n${JSON.stringify(edict)}\n`);
    }
  }
  if (!config.json) printTable(rows, config);
}

function parseArgs(args: string[]): Config {
  const value = (name: string): string | undefined => {
    const at = args.indexOf(`--${name}`);
    return at >= 0 ? args[at + 1] : undefined;
  };
  const seconds = Number(value('seconds') ?? 2.5);
  const depths = (value('depths') ?? '1,16,64,256').split(',').map(Number);
  const size = Number(value('size') ?? 100);
  if (!(seconds > 0 && seconds <= 60)) throw new Error('--seconds must be in (0, 60]');
  if (!depths.every((d) => Number.isInteger(d) && d >= 1 && d <= 4096)) throw new Error('--depths');
  if (!(Number.isInteger(size) && size >= 0 && size <= 1 << 20)) throw new Error('--size');
  return { seconds, depths, size, json: args.includes('--json') };
}

/** Starts the server process for `mode`, runs `body` against its port and pid, and stops it. */
async function withServer<T>(
  mode: 'raw' | 'edict',
  body: (port: number, pid: number) => Promise<T>,
): Promise<T> {
  const script = fileURLToPath(new URL('./_transport-server.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, mode], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  try {
    const port = await portOf(child);
    return await body(port, child.pid ?? -1);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

function portOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server did not start in 20 s')), 20_000);
    child.stdout?.once('data', (chunk: Buffer) => {
      clearTimeout(timer);
      resolve((JSON.parse(chunk.toString()) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`the server exited with ${code}`)));
  });
}

/** CPU time used so far, in microseconds: this process, the server process, and the machine. */
interface CpuSnapshot {
  readonly client: number;
  readonly server: number;
  /** Busy time of all cores; NaN where /proc is not available. */
  readonly machine: number;
}

const TICK_US = 10_000; // /proc reports in clock ticks of 10 ms (USER_HZ = 100 on Linux)

function snapshot(serverPid: number): CpuSnapshot {
  const usage = process.cpuUsage();
  try {
    // Fields after the command name: utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${serverPid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const server = (Number(fields[11]) + Number(fields[12])) * TICK_US;
    const cpu = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').split(/\s+/).slice(1);
    const [user, nice, system, , , irq, softirq, steal] = cpu.map(Number);
    const machine =
      ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) *
      TICK_US;
    return { client: usage.user + usage.system, server, machine };
  } catch {
    return { client: usage.user + usage.system, server: Number.NaN, machine: Number.NaN };
  }
}

/**
 * Times one case: round trips count when sent after the warm-up and answered before the end; CPU
 * is sampled at the start and the end of the measured window.
 */
class Recorder {
  readonly latenciesMs: number[] = [];
  readonly measureFrom = performance.now() + WARMUP_MS;
  readonly end: number;
  private first: CpuSnapshot | null = null;
  private last: CpuSnapshot | null = null;
  private readonly timers: NodeJS.Timeout[];

  constructor(
    private readonly seconds: number,
    private readonly serverPid: number,
  ) {
    this.end = this.measureFrom + seconds * 1000;
    this.timers = [
      setTimeout(() => (this.first = snapshot(serverPid)), WARMUP_MS),
      setTimeout(() => (this.last = snapshot(serverPid)), WARMUP_MS + seconds * 1000),
    ];
  }

  record(sentAt: number, now: number): void {
    if (sentAt >= this.measureFrom && now <= this.end) this.latenciesMs.push(now - sentAt);
  }

  result(mode: 'raw' | 'edict', depth: number): Result {
    for (const timer of this.timers) clearTimeout(timer);
    // The last answer can arrive a moment before the end-of-window timer would have fired.
    if (this.last === null) this.last = snapshot(this.serverPid);
    const sorted = Float64Array.from(this.latenciesMs).sort();
    const at = (q: number): number =>
      (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) * 1000;
    const first = this.first;
    const last = this.last;
    const ours =
      first === null || last === null
        ? Number.NaN
        : last.client - first.client + last.server - first.server;
    const machine = first === null || last === null ? Number.NaN : last.machine - first.machine;
    const foreign = (100 * Math.max(0, machine - ours)) / (this.seconds * 1e6);
    return {
      mode,
      depth,
      perSecond: Math.round(sorted.length / this.seconds),
      p50us: Math.round(at(0.5)),
      p99us: Math.round(at(0.99)),
      cpuUsPerTrip: Number((ours / Math.max(1, sorted.length)).toFixed(1)),
      foreignCpuPct: Number.isNaN(foreign) ? -1 : Math.round(foreign),
    };
  }
}

async function runEdict(port: number, pid: number, depth: number, config: Config): Promise<Result> {
  const peer = new Peer(
    { logger: silentLogger },
    { localId: 'bench-client', options: { ...defaultPeerOptions, host: '127.0.0.1', port } },
  );
  peer.start();
  const body = Buffer.alloc(config.size, 0x78);
  const recorder = new Recorder(config.seconds, pid);
  const loop = async (): Promise<void> => {
    for (;;) {
      const sentAt = performance.now();
      if (sentAt >= recorder.end) return;
      await peer.request('echo', body);
      recorder.record(sentAt, performance.now());
    }
  };
  await Promise.all(Array.from({ length: depth }, loop));
  await peer.stop();
  return recorder.result('edict', depth);
}

async function runRaw(port: number, pid: number, depth: number, config: Config): Promise<Result> {
  const frame = encodeFrameOf(
    { kind: 'request', id: 1, type: 'echo', body: Buffer.alloc(config.size, 0x78) },
    defaultCodecOptions,
  );
  const socket = connect({ host: '127.0.0.1', port, noDelay: true });
  await new Promise((resolve) => socket.once('connect', resolve));
  const recorder = new Recorder(config.seconds, pid);
  const sentAt: number[] = [];
  let head = 0;
  let outstanding = 0;
  const decoder = new FrameDecoder(1 << 24);
  await new Promise<void>((resolve) => {
    const send = (): void => {
      sentAt.push(performance.now());
      outstanding += 1;
      socket.write(frame);
    };
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk, () => {
        const now = performance.now();
        recorder.record(sentAt[head++] as number, now);
        outstanding -= 1;
        if (now < recorder.end) send();
        else if (outstanding === 0) resolve();
      });
    });
    for (let i = 0; i < depth; i++) send();
  });
  socket.destroy();
  return recorder.result('raw', depth);
}

function printTable(rows: Array<{ raw: Result; edict: Result }>, config: Config): void {
  const n = (x: number): string => x.toLocaleString('en-US');
  const cell = (r: Result): string =>
    `${n(r.perSecond)} | ${n(r.p50us)} / ${n(r.p99us)} µs | ${r.cpuUsPerTrip} µs | ${r.foreignCpuPct} %`;
  const lines = [
    `One connection, ${config.size}-byte bodies, ${config.seconds} s per case after ${WARMUP_MS} ms of warm-up.`,
    'CPU/trip: client plus server CPU time per round trip. Other: CPU used by other processes meanwhile, in % of one core.',
    '',
    '| depth | raw: trips/s | p50 / p99 | CPU/trip | other | Edict: trips/s | p50 / p99 | CPU/trip | other | Edict / raw |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      ({ raw, edict }) =>
        `| ${raw.depth} | ${cell(raw)} | ${cell(edict)} | ${(edict.perSecond / raw.perSecond).toFixed(2)} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
