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
 */
import { spawn, type ChildProcess } from 'node:child_process';
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
}

const WARMUP_MS = 500;

export async function main(args: string[]): Promise<void> {
  const config = parseArgs(args);
  const rows: Array<{ raw: Result; edict: Result }> = [];
  for (const depth of config.depths) {
    const raw = await withServer('raw', (port) => runRaw(port, depth, config));
    const edict = await withServer('edict', (port) => runEdict(port, depth, config));
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

/** Starts the server process for `mode`, runs `body` against its port, and stops it. */
async function withServer<T>(
  mode: 'raw' | 'edict',
  body: (port: number) => Promise<T>,
): Promise<T> {
  const script = fileURLToPath(new URL('./_transport-server.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, mode], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  try {
    const port = await portOf(child);
    return await body(port);
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

/** Keeps `depth` round trips outstanding until the clock runs out; records measured ones. */
class Recorder {
  readonly latenciesMs: number[] = [];
  readonly measureFrom = performance.now() + WARMUP_MS;
  readonly end: number;
  constructor(seconds: number) {
    this.end = this.measureFrom + seconds * 1000;
  }
  record(sentAt: number, now: number): void {
    if (sentAt >= this.measureFrom && now <= this.end) this.latenciesMs.push(now - sentAt);
  }
  result(mode: 'raw' | 'edict', depth: number, seconds: number): Result {
    const sorted = Float64Array.from(this.latenciesMs).sort();
    const at = (q: number): number =>
      (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) * 1000;
    return {
      mode,
      depth,
      perSecond: Math.round(sorted.length / seconds),
      p50us: Math.round(at(0.5)),
      p99us: Math.round(at(0.99)),
    };
  }
}

async function runEdict(port: number, depth: number, config: Config): Promise<Result> {
  const peer = new Peer(
    { logger: silentLogger },
    { localId: 'bench-client', options: { ...defaultPeerOptions, host: '127.0.0.1', port } },
  );
  peer.start();
  const body = Buffer.alloc(config.size, 0x78);
  const recorder = new Recorder(config.seconds);
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
  return recorder.result('edict', depth, config.seconds);
}

async function runRaw(port: number, depth: number, config: Config): Promise<Result> {
  const frame = encodeFrameOf(
    { kind: 'request', id: 1, type: 'echo', body: Buffer.alloc(config.size, 0x78) },
    defaultCodecOptions,
  );
  const socket = connect({ host: '127.0.0.1', port, noDelay: true });
  await new Promise((resolve) => socket.once('connect', resolve));
  const recorder = new Recorder(config.seconds);
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
  return recorder.result('raw', depth, config.seconds);
}

function printTable(rows: Array<{ raw: Result; edict: Result }>, config: Config): void {
  const n = (x: number): string => x.toLocaleString('en-US');
  const lines = [
    `One connection, ${config.size}-byte bodies, ${config.seconds} s per case after ${WARMUP_MS} ms of warm-up.`,
    '',
    '| depth | raw echo: round trips/s | p50 / p99 | Edict transport: round trips/s | p50 / p99 | Edict / raw |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      ({ raw, edict }) =>
        `| ${raw.depth} | ${n(raw.perSecond)} | ${n(raw.p50us)} / ${n(raw.p99us)} µs | ` +
        `${n(edict.perSecond)} | ${n(edict.p50us)} / ${n(edict.p99us)} µs | ` +
        `${(edict.perSecond / raw.perSecond).toFixed(2)} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
