/**
 * `npm run bench -- rebalance [--data-mib N] [--value-kib N] [--buckets N] [--timeout S] [--json]`:
 * a node joining a cluster that holds data — how long until the cluster is balanced again, how
 * fast the data moved, and what foreground traffic saw meanwhile.
 *
 * 1. A 3-node cluster of real `edict start` processes (`_edict.ts`, `--buckets`, default 64),
 *    fresh data under /tmp, free loopback ports.
 * 2. The load: `--data-mib` MiB (default 1024) of `--value-kib` KiB values (default 64), each key
 *    written once through the client library by `--load-clients` clients in `--load-workers`
 *    processes (`_loadgen.ts`, `fill`). A load that does not complete ends the run (a finding).
 * 3. The foreground: `--fg-keys` keys of 100 B preloaded, then `--fg-clients` clients (default 16)
 *    doing 90 % gets and 10 % puts of them through the client library, in one long timed run cut
 *    into 1 s slices (`LoadSpec.sliceMs`), so that latencies and errors are told apart by phase:
 *    *baseline* (`--baseline` s before the join), *move* (from the fourth node's start until the
 *    cluster is balanced) and *after* (`--after` s once it is).
 * 4. The join: a fourth node started with `--join`. The move is over when `GET /v1/status` on the
 *    first node says green, no transitions, and the new node active with at least its share of
 *    replicas, ⌊buckets × replicas / 4⌋. Bytes moved are derived two ways: *logical* — the keys
 *    and values the benchmark wrote that hash into the buckets the new node holds at the end
 *    (`bucketOf`, `GET /v1/map`), which is what a backfill must copy; and *on disk* — the growth of
 *    the new node's `buckets/` directory (its bucket log: the installed images plus the entries
 *    written to those buckets meanwhile). MB/s is each of them over the move's time.
 * 5. CPU (% of one core, from /proc) and RSS of every node, per phase; the machine's available
 *    memory at its lowest.
 *
 * Every step is bounded by `--timeout` (s, default 1800); the move also ends as *stalled* when for
 * `--stall` s (default 120) neither the new node's disk, its replica count nor the map version
 * changed. A failure or stall prints the last lines of each node's log. Every process started is
 * stopped by PID (SIGTERM, then SIGKILL), on Ctrl-C too; all traffic goes to 127.0.0.1.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { bucketOf } from '../src/core/directory/routing.js';
import { startEdict, type EdictCluster } from './_edict.js';
import { Histogram } from './_histogram.js';
import { markdown, round } from './_table.js';
import {
  keyName,
  runWorkers,
  type LoadSlice,
  type LoadSpec,
  type MergedResult,
} from './_loadgen.js';
import {
  getText,
  machineShares,
  sampleMachine,
  sampleProc,
  sleep,
  type MachineSample,
  type ProcSample,
} from './_procs.js';

interface Options {
  readonly dataMiB: number;
  readonly valueKiB: number;
  readonly buckets: number;
  readonly loadClients: number;
  readonly loadWorkers: number;
  readonly fgClients: number;
  readonly fgWorkers: number;
  readonly fgKeys: number;
  readonly baselineS: number;
  readonly afterS: number;
  readonly timeoutS: number;
  readonly stallS: number;
  readonly json: boolean;
}

const SLICE_MS = 1_000;
const WARMUP_MS = 2_000;
const REQUEST_TIMEOUT_MS = 10_000;
const DATA_PREFIX = 'data/';
const FG_PREFIX = 'fg/';
const FG_VALUE_BYTES = 100;
const REPLICAS = 3;

function parse(args: readonly string[]): Options {
  const known = new Set([
    'data-mib',
    'value-kib',
    'buckets',
    'load-clients',
    'load-workers',
    'fg-clients',
    'fg-workers',
    'fg-keys',
    'baseline',
    'after',
    'timeout',
    'stall',
    'json',
  ]);
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i += 1) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(args[i] as string);
    if (match === null || !known.has(match[1] as string)) {
      throw new Error(`unknown argument ${args[i]}\n${USAGE}`);
    }
    const name = match[1] as string;
    if (name === 'json') values.set(name, 'true');
    else {
      const value = match[2] ?? args[(i += 1)];
      if (value === undefined) throw new Error(`--${name} needs a value\n${USAGE}`);
      values.set(name, value);
    }
  }
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const n = Number(values.get(name) ?? fallback);
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new Error(`--${name} must be an integer in ${min}..${max}\n${USAGE}`);
    }
    return n;
  };
  return {
    dataMiB: int('data-mib', 1024, 1, 65_536),
    valueKiB: int('value-kib', 64, 1, 8_192),
    buckets: int('buckets', 64, 4, 65_536),
    loadClients: int('load-clients', 16, 1, 1_024),
    loadWorkers: int('load-workers', 2, 1, 16),
    fgClients: int('fg-clients', 16, 1, 1_024),
    fgWorkers: int('fg-workers', 1, 1, 16),
    fgKeys: int('fg-keys', 10_000, 1, 1_000_000),
    baselineS: int('baseline', 20, 1, 3_600),
    afterS: int('after', 10, 0, 3_600),
    timeoutS: int('timeout', 1_800, 30, 86_400),
    stallS: int('stall', 120, 5, 86_400),
    json: values.has('json'),
  };
}

const USAGE =
  'usage: npm run bench -- rebalance [--data-mib 1024] [--value-kib 64] [--buckets 64] ' +
  '[--load-clients 16] [--load-workers 2] [--fg-clients 16] [--fg-workers 1] [--fg-keys 10000] ' +
  '[--baseline 20] [--after 10] [--timeout 1800] [--stall 120] [--json]';

/** Sum of the sizes of the files under `dir` (0 when it does not exist). */
function diskBytes(dir: string): number {
  let total = 0;
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) total += diskBytes(p);
    else {
      try {
        total += statSync(p).size;
      } catch {
        // removed meanwhile
      }
    }
  }
  return total;
}

/**
 * The code the nodes ran: the commit, and whether src/ had uncommitted changes when the run began
 * (the nodes run the working tree).
 */
function codeVersion(): string {
  const git = (...args: string[]): string =>
    spawnSync('git', args, { encoding: 'utf8', timeout: 10_000 }).stdout?.trim() ?? '';
  const commit = git('rev-parse', '--short', 'HEAD') || '?';
  return git('status', '--porcelain', '--', 'src') === '' ? commit : `${commit} + uncommitted src/`;
}

/** MemAvailable of /proc/meminfo, in bytes (NaN when unreadable). */
function memAvailable(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    return m === null ? NaN : Number(m[1]) * 1024;
  } catch {
    return NaN;
  }
}

interface StatusBody {
  readonly health: string;
  readonly mapVersion: number;
  readonly transitions: number;
  readonly nodes: ReadonlyArray<{
    readonly id: number;
    readonly state: string;
    readonly leaders: number;
    readonly replicas: number;
  }>;
}

interface MapBody {
  readonly buckets: ReadonlyArray<{
    readonly bucket: number;
    readonly leader: number | null;
    readonly followers: readonly number[];
    readonly learners: readonly number[];
  }>;
}

async function getJson<T>(address: string, route: string): Promise<T | null> {
  const answer = await getText(`http://${address}${route}`, 2_000);
  if (answer === null || answer.status !== 200) return null;
  try {
    return JSON.parse(answer.text) as T;
  } catch {
    return null;
  }
}

/** A sample of every node's process, taken every second throughout the run. */
interface Sample {
  readonly t: number;
  readonly procs: ReadonlyArray<ProcSample | null>;
  readonly memAvailable: number;
  readonly machine: MachineSample;
}

interface Phase {
  readonly seconds: number;
  readonly ops: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly errorCount: number;
  readonly errors: Record<string, number>;
  /** How busy the machine's two cores were meanwhile (everything on it), in %. */
  readonly machineBusyPct?: number;
}

function phaseOf(slices: readonly LoadSlice[]): Phase {
  const h = new Histogram();
  const errors: Record<string, number> = {};
  for (const slice of slices) {
    h.merge(slice.histogram);
    for (const [code, n] of Object.entries(slice.errors)) errors[code] = (errors[code] ?? 0) + n;
  }
  const seconds = (slices.length * SLICE_MS) / 1_000;
  return {
    seconds,
    ops: h.count,
    opsPerSec: seconds > 0 ? Math.round(h.count / seconds) : NaN,
    p50Ms: ms(h.percentile(50)),
    p99Ms: ms(h.percentile(99)),
    p999Ms: ms(h.percentile(99.9)),
    maxMs: ms(h.count === 0 ? NaN : h.maxUs),
    errorCount: Object.values(errors).reduce((a, b) => a + b, 0),
    errors,
  };
}

interface NodeFigures {
  readonly name: string;
  readonly pid: number;
  /** CPU in % of one core over each phase (NaN when the node did not run through it). */
  readonly loadCpuPct: number;
  readonly baselineCpuPct: number;
  readonly moveCpuPct: number;
  readonly rssAfterLoadMiB: number;
  readonly rssBeforeJoinMiB: number;
  readonly rssPeakMoveMiB: number;
  readonly rssEndMiB: number;
  readonly diskEndMiB: number;
  /** The longest event-loop stall the node reported (its `/metrics`), in ms, per phase. */
  readonly lagMaxBaselineMs: number;
  readonly lagMaxMoveMs: number;
}

interface Progress {
  /** Seconds since the new node was started. */
  readonly t: number;
  readonly health: string;
  readonly transitions: number;
  readonly mapVersion: number;
  readonly newReplicas: number;
  readonly newLeaders: number;
  readonly newDiskMiB: number;
  readonly newRssMiB: number;
  /** Nodes whose state is not `active`, as `id:state`. */
  readonly notActive: readonly string[];
}

/** `nodejs_eventloop_lag_max_seconds` of a node's `/metrics` (the largest since the last scrape). */
async function eventLoopLagMax(address: string): Promise<number> {
  const answer = await getText(`http://${address}/metrics`, 2_000);
  const m = /^nodejs_eventloop_lag_max_seconds ([0-9.e+-]+)$/m.exec(answer?.text ?? '');
  return m === null ? NaN : Number(m[1]);
}

export async function main(args: string[]): Promise<void> {
  const o = parse(args);
  const code = codeVersion();
  const started = performance.now();
  const deadline = started + o.timeoutS * 1_000;
  const left = (): number => deadline - performance.now();
  const log = (line: string): void => {
    process.stderr.write(`rebalance: ${line}\n`);
  };
  const valueBytes = o.valueKiB * 1024;
  const dataKeys = Math.max(1, Math.ceil((o.dataMiB * 1024) / o.valueKiB));

  let cluster: EdictCluster | null = null;
  const fgStop = new AbortController();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping what it started`);
    fgStop.abort();
    void (cluster?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const samples: Sample[] = [];
  let sampler: NodeJS.Timeout | null = null;
  const sampleNow = (): Sample => {
    const s: Sample = {
      t: performance.now(),
      procs: (cluster?.servers ?? []).map((p) => {
        const x = sampleProc(p.pid);
        return Number.isNaN(x.cpuSeconds) ? null : x;
      }),
      memAvailable: memAvailable(),
      machine: sampleMachine(),
    };
    samples.push(s);
    return s;
  };
  /** Throws, with the node's last log lines, when a node the benchmark started has exited. */
  const checkNodes = (): void => {
    if (cluster === null) return;
    const s = sampleNow();
    s.procs.forEach((p, i) => {
      if (p === null) {
        throw new Error(
          `node ${i + 1} exited (RSS before: ${fmt(lastRss(samples, i) / 2 ** 20)} MiB)\n` +
            cluster?.logTail(i, 20),
        );
      }
    });
  };

  const marks: Record<string, number> = {};
  let load: MergedResult | null = null;
  let fgPreload: MergedResult | null = null;
  let fg: MergedResult | null = null;
  let fgRun: Promise<MergedResult> | null = null;
  let fgMeasureFrom = NaN;
  let converged = false;
  let stalled = false;
  let failure: string | null = null;
  let joinServeMs = NaN;
  const progress: Progress[] = [];
  /** Seconds after the join at which the new node went from some replicas to none. */
  const newNodeEmptied: number[] = [];
  /** The largest event-loop stall each node reported, per scrape of its metrics (every 1 s). */
  const lags: Array<{ t: number; lagS: number[] }> = [];
  let scraping = false;
  const scrape = (): void => {
    if (scraping || cluster === null) return;
    scraping = true;
    const t = performance.now();
    void Promise.all(cluster.endpoints.map((e) => eventLoopLagMax(e)))
      .then((lagS) => lags.push({ t, lagS }))
      .finally(() => (scraping = false));
  };
  let finalStatus: StatusBody | null = null;
  let finalMap: MapBody | null = null;
  let diskBeforeJoin: number[] = [];
  let diskEnd: number[] = [];
  let learnersLeft: number[] = [];
  const share = Math.floor((o.buckets * REPLICAS) / 4);

  try {
    log(`starting 3 nodes (${o.buckets} buckets)`);
    cluster = await startEdict(3, Math.min(60_000, left()), undefined, o.buckets);
    const c = cluster;
    sampler = setInterval(() => {
      sampleNow();
      scrape();
    }, 1_000);
    sampleNow();
    const http0 = c.endpoints[0] as string;
    const clientEndpoints = [...c.clientEndpoints];

    // 2. The data.
    log(
      `loading ${o.dataMiB} MiB: ${dataKeys} keys of ${o.valueKiB} KiB, ` +
        `${o.loadClients} clients in ${o.loadWorkers} processes`,
    );
    marks.loadStart = performance.now();
    load = await runWorkers(
      fillSpec(clientEndpoints, DATA_PREFIX, dataKeys, valueBytes, o.loadClients, left() - 60_000),
      o.loadWorkers,
    );
    marks.loadEnd = performance.now();
    checkNodes();
    log(
      `loaded ${load.ops} of ${dataKeys} keys in ${load.seconds.toFixed(1)} s ` +
        `(${fmt((load.ops * valueBytes) / 2 ** 20 / load.seconds)} MiB/s), ` +
        `errors ${JSON.stringify(load.errors)}`,
    );
    if (load.ops < dataKeys) {
      throw new Error(
        `the load wrote ${load.ops} of ${dataKeys} keys before its deadline or error budget ` +
          `(errors ${JSON.stringify(load.errors)})`,
      );
    }
    log(`preloading ${o.fgKeys} foreground keys of ${FG_VALUE_BYTES} B`);
    fgPreload = await runWorkers(
      fillSpec(clientEndpoints, FG_PREFIX, o.fgKeys, FG_VALUE_BYTES, 32, Math.min(300_000, left())),
      1,
    );
    if (fgPreload.ops < o.fgKeys) {
      throw new Error(`the foreground preload wrote ${fgPreload.ops} of ${o.fgKeys} keys`);
    }
    checkNodes();

    // 3. The foreground, one long run; the phases are cut from its slices afterwards.
    const fgSpec: LoadSpec = {
      target: 'edict-client',
      endpoints: clientEndpoints,
      op: 'mixed',
      clients: o.fgClients,
      clientOffset: 0,
      valueSize: FG_VALUE_BYTES,
      keys: o.fgKeys,
      keyPrefix: FG_PREFIX,
      warmupMs: WARMUP_MS,
      durationMs: Math.max(1_000, left() - 45_000),
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      sliceMs: SLICE_MS,
    };
    let fgStarted: () => void = () => {};
    const fgStart = new Promise<void>((resolve) => (fgStarted = resolve));
    fgRun = runWorkers(
      fgSpec,
      o.fgWorkers,
      () => {
        fgMeasureFrom = performance.now() + WARMUP_MS;
        fgStarted();
      },
      fgStop.signal,
    );
    fgRun.catch(() => {});
    await Promise.race([fgStart, fgRun]);
    log(`foreground: ${o.fgClients} clients, 90/10 get/put; baseline ${o.baselineS} s`);
    // The baseline is exactly the first `--baseline` slices of the measured window.
    marks.baselineStart = fgMeasureFrom;
    marks.baselineEnd = fgMeasureFrom + o.baselineS * 1_000;
    await sleep(marks.baselineEnd - performance.now());
    checkNodes();
    diskBeforeJoin = [0, 1, 2].map((i) => diskBytes(path.join(c.dataDir(i), 'buckets')));

    // 4. The join.
    log(`starting node 4 with --join; balanced when it holds ≥ ${share} replicas and all is green`);
    marks.join = performance.now();
    const newIndex = await c.addNode(Math.min(60_000, left()));
    joinServeMs = performance.now() - marks.join;
    const newDir = path.join(c.dataDir(newIndex), 'buckets');
    let lastChange = performance.now();
    let lastKey = '';
    let lastLog = 0;
    for (;;) {
      checkNodes();
      const status = await getJson<StatusBody>(http0, '/v1/status');
      const now = performance.now();
      const mine = status?.nodes.find((n) => n.id === newIndex + 1);
      const disk = diskBytes(newDir);
      const rss = sampleProc(c.servers[newIndex]?.pid ?? -1).rssBytes;
      const p: Progress = {
        t: round((now - marks.join) / 1_000, 1),
        health: status?.health ?? '?',
        transitions: status?.transitions ?? NaN,
        mapVersion: status?.mapVersion ?? NaN,
        newReplicas: mine?.replicas ?? 0,
        newLeaders: mine?.leaders ?? 0,
        newDiskMiB: round(disk / 2 ** 20, 1),
        newRssMiB: round(rss / 2 ** 20, 1),
        notActive: (status?.nodes ?? [])
          .filter((n) => n.state !== 'active')
          .map((n) => `${n.id}:${n.state}`),
      };
      const previous = progress[progress.length - 1];
      if (previous !== undefined && previous.newReplicas > 0 && p.newReplicas === 0) {
        newNodeEmptied.push(p.t);
        log(`  t=${p.t} s node 4 lost all ${previous.newReplicas} of its replicas at once`);
      }
      progress.push(p);
      if (now - lastLog >= 5_000) {
        lastLog = now;
        log(
          `  t=${p.t} s ${p.health} transitions ${p.transitions}, node 4: ${p.newReplicas} ` +
            `replicas, ${p.newLeaders} leaders, ${p.newDiskMiB} MiB on disk, RSS ${p.newRssMiB} MiB`,
        );
      }
      if (
        status !== null &&
        status.health === 'green' &&
        status.transitions === 0 &&
        mine?.state === 'active' &&
        mine.replicas >= share
      ) {
        converged = true;
        finalStatus = status;
        break;
      }
      const key = `${p.newReplicas}/${p.mapVersion}/${Math.floor(disk / 2 ** 20)}`;
      if (key !== lastKey) {
        lastKey = key;
        lastChange = now;
      }
      if (now - lastChange > o.stallS * 1_000) {
        stalled = true;
        finalStatus = status;
        break;
      }
      if (left() < 40_000) {
        finalStatus = status;
        break;
      }
      await sleep(250);
    }
    marks.moveEnd = performance.now();
    finalMap = await getJson<MapBody>(http0, '/v1/map');
    learnersLeft = (finalMap?.buckets ?? [])
      .filter((b) => b.learners.length > 0)
      .map((b) => b.bucket);
    if (!converged) {
      const why = stalled
        ? `the move stalled: nothing changed for ${o.stallS} s`
        : `the move did not finish within --timeout ${o.timeoutS} s`;
      failure = `${why}; status ${JSON.stringify(finalStatus)}; buckets with learners: ${JSON.stringify(learnersLeft)}`;
      log(failure);
      for (let i = 0; i < c.servers.length; i += 1) {
        log(`node ${i + 1}, last lines:\n${c.logTail(i, 15)}`);
      }
    } else {
      log(`balanced after ${((marks.moveEnd - marks.join) / 1_000).toFixed(1)} s`);
      if (o.afterS > 0) await sleep(Math.min(o.afterS * 1_000, Math.max(0, left() - 40_000)));
    }
    marks.end = performance.now();
    checkNodes();
    diskEnd = c.servers.map((_, i) => diskBytes(path.join(c.dataDir(i), 'buckets')));
    fgStop.abort();
    fg = await fgRun;
  } catch (error) {
    failure = error instanceof Error ? error.message : String(error);
    log(`failed: ${failure}`);
    if (cluster !== null) {
      for (let i = 0; i < cluster.servers.length; i += 1) {
        log(`node ${i + 1}, last lines:\n${cluster.logTail(i, 15)}`);
      }
    }
    if (marks.join !== undefined) marks.moveEnd ??= performance.now();
    fgStop.abort();
    // The foreground's figures up to the failure still say what clients saw.
    if (fgRun !== null) fg = await fgRun.catch(() => null);
  } finally {
    if (sampler !== null) clearInterval(sampler);
    sampleNow();
    if (cluster !== null) {
      log('stopping the nodes');
      await cluster.stop();
    }
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  if (interrupted) return;

  // Figures.
  const slices = fg?.slices ?? [];
  const sliceStart = (k: number): number => fgMeasureFrom + k * SLICE_MS;
  const within = (from: number | undefined, to: number | undefined, partial: boolean) =>
    slices.filter((_, k) => {
      if (from === undefined || to === undefined) return false;
      const a = sliceStart(k);
      const b = a + SLICE_MS;
      return partial ? a < to && b > from : a >= from && b <= to;
    });
  const nearest = (t: number | undefined): Sample | null => {
    if (t === undefined || !Number.isFinite(t)) return null;
    let best: Sample | null = null;
    for (const s of samples) {
      if (best === null || Math.abs(s.t - t) < Math.abs(best.t - t)) best = s;
    }
    return best;
  };
  /** How busy the machine's cores were between two marks, in % of all of them. */
  const busyPct = (from?: number, to?: number): number => {
    const a = nearest(from);
    const b = nearest(to);
    return a === null || b === null || a === b
      ? NaN
      : round(machineShares(a.machine, b.machine).busyPct, 0);
  };
  const foreground = {
    baseline: {
      ...phaseOf(within(marks.baselineStart, marks.join, false)),
      machineBusyPct: busyPct(marks.baselineStart, marks.baselineEnd),
    },
    move: {
      ...phaseOf(within(marks.join, marks.moveEnd, true)),
      machineBusyPct: busyPct(marks.join, marks.moveEnd),
    },
    after: converged
      ? {
          ...phaseOf(within(marks.moveEnd, marks.end, false)),
          machineBusyPct: busyPct(marks.moveEnd, marks.end),
        }
      : null,
  };
  const moveSeconds =
    marks.join !== undefined && marks.moveEnd !== undefined
      ? (marks.moveEnd - marks.join) / 1_000
      : NaN;

  // Logical bytes on the new node: the keys written that hash into the buckets it holds.
  const newId = 4;
  const held = new Set(
    (finalMap?.buckets ?? [])
      .filter(
        (b) => b.leader === newId || b.followers.includes(newId) || b.learners.includes(newId),
      )
      .map((b) => b.bucket),
  );
  const encoder = new TextEncoder();
  let movedKeys = 0;
  let movedBytes = 0;
  const count = (prefix: string, keys: number, size: number): void => {
    for (let i = 0; i < keys; i += 1) {
      const key = encoder.encode(keyName(prefix, i));
      if (held.has(bucketOf(key, o.buckets))) {
        movedKeys += 1;
        movedBytes += key.length + size;
      }
    }
  };
  if (held.size > 0) {
    count(DATA_PREFIX, load?.ops === dataKeys ? dataKeys : 0, valueBytes);
    count(FG_PREFIX, fgPreload?.ops === o.fgKeys ? o.fgKeys : 0, FG_VALUE_BYTES);
  }
  const newDisk = diskEnd[3] ?? NaN;
  // The transfer proper: the time during which the new node's disk grew (the sum of the polling
  // intervals, about 250 ms each, at whose end it held more than at their start), and the growth
  // over that time. Pauses in the move (no backfill running) do not count.
  let transferSeconds = 0;
  let transferBytes = 0;
  for (let k = 1; k < progress.length; k += 1) {
    const a = progress[k - 1] as Progress;
    const b = progress[k] as Progress;
    if (b.newDiskMiB > a.newDiskMiB) {
      transferSeconds += b.t - a.t;
      transferBytes += (b.newDiskMiB - a.newDiskMiB) * 2 ** 20;
    }
  }

  const procAt = (t: number | undefined, i: number): ProcSample | null =>
    nearest(t)?.procs[i] ?? null;
  const cpuPct = (i: number, from?: number, to?: number): number => {
    const a = procAt(from, i);
    const b = procAt(to, i);
    if (a === null || b === null || from === undefined || to === undefined) return NaN;
    return round((100 * (b.cpuSeconds - a.cpuSeconds)) / ((to - from) / 1_000), 0);
  };
  const rssPeak = (i: number, from?: number, to?: number): number => {
    let peak = NaN;
    for (const s of samples) {
      if (from === undefined || to === undefined || s.t < from || s.t > to) continue;
      const r = s.procs[i]?.rssBytes ?? NaN;
      if (!(peak >= r)) peak = r;
    }
    return round(peak / 2 ** 20, 0);
  };
  const mib = (p: ProcSample | null): number => round((p?.rssBytes ?? NaN) / 2 ** 20, 0);
  const lagMaxMs = (i: number, from?: number, to?: number): number => {
    let max = NaN;
    for (const l of lags) {
      if (from === undefined || to === undefined || l.t < from || l.t > to + 1_000) continue;
      const x = l.lagS[i] ?? NaN;
      if (!(max >= x)) max = x;
    }
    return round(max * 1_000, 0);
  };
  const servers = cluster?.servers ?? [];
  const nodes: NodeFigures[] = servers.map((s, i) => ({
    name: s.name,
    pid: s.pid,
    loadCpuPct: cpuPct(i, marks.loadStart, marks.loadEnd),
    baselineCpuPct: cpuPct(i, marks.baselineStart, marks.baselineEnd),
    moveCpuPct:
      i === 3 ? cpuPct(i, marks.join + 1_000, marks.moveEnd) : cpuPct(i, marks.join, marks.moveEnd),
    rssAfterLoadMiB: mib(procAt(marks.loadEnd, i)),
    rssBeforeJoinMiB: mib(procAt(marks.baselineEnd, i)),
    rssPeakMoveMiB: rssPeak(i, marks.join, marks.moveEnd),
    rssEndMiB: mib(procAt(marks.end, i)),
    lagMaxBaselineMs: i >= 3 ? NaN : lagMaxMs(i, marks.baselineStart, marks.baselineEnd),
    lagMaxMoveMs: lagMaxMs(i, marks.join, marks.moveEnd),
    diskEndMiB: round((diskEnd[i] ?? NaN) / 2 ** 20, 0),
  }));
  const loadH = load === null ? null : Histogram.from(load.histogram);
  const memLow = Math.min(...samples.map((s) => s.memAvailable).filter(Number.isFinite));

  const report = {
    benchmark: 'rebalance',
    at: new Date().toISOString(),
    code,
    ok: converged && failure === null,
    failure,
    config: {
      dataMiB: o.dataMiB,
      valueKiB: o.valueKiB,
      dataKeys,
      buckets: o.buckets,
      replicas: REPLICAS,
      loadClients: o.loadClients,
      fgClients: o.fgClients,
      fgKeys: o.fgKeys,
      timeoutS: o.timeoutS,
    },
    load:
      load === null || loadH === null
        ? null
        : {
            keys: load.ops,
            seconds: round(load.seconds, 1),
            putsPerSec: round(load.ops / load.seconds, 0),
            mibPerSec: round((load.ops * valueBytes) / 2 ** 20 / load.seconds, 1),
            p50Ms: ms(loadH.percentile(50)),
            p99Ms: ms(loadH.percentile(99)),
            errors: load.errors,
          },
    join: {
      serveMs: round(joinServeMs, 0),
      converged,
      stalled,
      moveSeconds: round(moveSeconds, 1),
      share,
      finalStatus,
      bucketsWithLearners: learnersLeft,
    },
    moved: {
      buckets: held.size,
      keys: movedKeys,
      logicalMiB: round(movedBytes / 2 ** 20, 1),
      logicalMBps: round(movedBytes / 1e6 / moveSeconds, 1),
      diskMiB: round(newDisk / 2 ** 20, 1),
      diskMBps: round(newDisk / 1e6 / moveSeconds, 1),
      transferSeconds: round(transferSeconds, 1),
      transferMBps: round(transferBytes / 1e6 / transferSeconds, 1),
      newNodeEmptiedAtS: newNodeEmptied,
      diskBeforeJoinMiB: diskBeforeJoin.map((b) => round(b / 2 ** 20, 0)),
    },
    foreground,
    nodes,
    memAvailableLowMiB: round(memLow / 2 ** 20, 0),
    // One progress sample per second of the move (they are taken every 250 ms).
    progress: progress.filter(
      (p, k) => k === 0 || Math.floor(p.t) > Math.floor(progress[k - 1]?.t ?? 0),
    ),
  };
  if (o.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } else {
    printReport(report);
  }
  if (!report.ok) process.exitCode = 1;
}

function fillSpec(
  endpoints: readonly string[],
  prefix: string,
  keys: number,
  valueSize: number,
  clients: number,
  deadlineMs: number,
): LoadSpec {
  return {
    target: 'edict-client',
    endpoints,
    op: 'fill',
    clients,
    clientOffset: 0,
    valueSize,
    keys,
    keyPrefix: prefix,
    warmupMs: 0,
    durationMs: 0,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    fill: { from: 0, to: keys, deadlineMs: Math.max(10_000, deadlineMs) },
  };
}

function lastRss(samples: readonly Sample[], i: number): number {
  for (let k = samples.length - 1; k >= 0; k -= 1) {
    const r = samples[k]?.procs[i]?.rssBytes;
    if (r !== undefined && Number.isFinite(r)) return r;
  }
  return NaN;
}

type Report = {
  readonly ok: boolean;
  readonly failure: string | null;
  readonly at: string;
  readonly code: string;
  readonly config: { dataMiB: number; valueKiB: number; dataKeys: number; buckets: number };
  readonly load: {
    keys: number;
    seconds: number;
    putsPerSec: number;
    mibPerSec: number;
    p50Ms: number;
    p99Ms: number;
    errors: Record<string, number>;
  } | null;
  readonly join: {
    serveMs: number;
    converged: boolean;
    stalled: boolean;
    moveSeconds: number;
    share: number;
    finalStatus: StatusBody | null;
  };
  readonly moved: {
    buckets: number;
    keys: number;
    logicalMiB: number;
    logicalMBps: number;
    diskMiB: number;
    diskMBps: number;
    transferSeconds: number;
    transferMBps: number;
    newNodeEmptiedAtS: readonly number[];
  };
  readonly foreground: { baseline: Phase; move: Phase; after: Phase | null };
  readonly nodes: readonly NodeFigures[];
  readonly memAvailableLowMiB: number;
};

function printReport(r: Report): void {
  const out: string[] = [];
  const mine = r.join.finalStatus?.nodes.find((n) => n.id === 4);
  out.push(
    `\nrebalance, ${r.at}: ${r.config.dataMiB} MiB in ${r.config.dataKeys} values of ` +
      `${r.config.valueKiB} KiB, ${r.config.buckets} buckets × 3 replicas, 3 nodes + 1 joining; ` +
      `code ${r.code}\n`,
  );
  out.push(
    markdown(
      ['figure', 'value'],
      [
        [
          'load (client library)',
          r.load === null
            ? '—'
            : `${r.load.keys} puts in ${r.load.seconds} s: ${fmt(r.load.putsPerSec)} puts/s, ` +
              `${fmt(r.load.mibPerSec)} MiB/s, p50 ${fmt(r.load.p50Ms)} ms, p99 ${fmt(r.load.p99Ms)} ms, ` +
              `errors ${errorText(r.load.errors)}`,
        ],
        ['node 4 serving its status after', `${fmt(r.join.serveMs)} ms`],
        [
          'join to balanced (green, 0 transitions, node 4 ≥ share)',
          r.join.converged
            ? `${fmt(r.join.moveSeconds)} s`
            : `not reached (${r.join.stalled ? 'stalled' : 'timeout'}) after ${fmt(r.join.moveSeconds)} s`,
        ],
        [
          'node 4 at the end',
          mine === undefined
            ? '—'
            : `${mine.replicas} replicas (share ${r.join.share}), ${mine.leaders} leaders, ${mine.state}`,
        ],
        [
          'moved, logical (keys + values in its buckets)',
          `${fmt(r.moved.logicalMiB)} MiB, ${fmt(r.moved.keys)} keys, ${r.moved.buckets} buckets: ` +
            `${fmt(r.moved.logicalMBps)} MB/s over the move`,
        ],
        [
          'moved, on disk (node 4 bucket log)',
          `${fmt(r.moved.diskMiB)} MiB: ${fmt(r.moved.diskMBps)} MB/s over the move, ` +
            `${fmt(r.moved.transferMBps)} MB/s over the ${fmt(r.moved.transferSeconds)} s in which it grew`,
        ],
        [
          'node 4 lost all its replicas at once',
          r.moved.newNodeEmptiedAtS.length === 0
            ? 'never'
            : `${r.moved.newNodeEmptiedAtS.length} times, at ` +
              `${r.moved.newNodeEmptiedAtS.map((t) => `${fmt(t)} s`).join(', ')} after its start`,
        ],
        ['lowest MemAvailable on the machine', `${fmt(r.memAvailableLowMiB)} MiB`],
      ],
    ),
  );
  out.push('\nForeground: 90/10 get/put of 100 B, client library\n');
  const phases: Array<[string, Phase | null]> = [
    ['baseline', r.foreground.baseline],
    ['during the move', r.foreground.move],
    ['after', r.foreground.after],
  ];
  out.push(
    markdown(
      ['phase', 's', 'ops/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'errors', 'machine busy %'],
      phases
        .filter((x): x is [string, Phase] => x[1] !== null)
        .map(([name, p]) => [
          name,
          fmt(p.seconds),
          fmt(p.opsPerSec),
          fmt(p.p50Ms),
          fmt(p.p99Ms),
          fmt(p.p999Ms),
          fmt(p.maxMs),
          errorText(p.errors),
          fmt(p.machineBusyPct ?? NaN),
        ]),
    ),
  );
  out.push('\nNodes: CPU in % of one core; RSS and disk (bucket log) in MiB\n');
  out.push(
    markdown(
      [
        'node',
        'CPU load',
        'CPU baseline',
        'CPU move',
        'RSS after load',
        'RSS before join',
        'RSS peak in move',
        'RSS end',
        'disk end',
        'loop stall max ms: baseline / move',
      ],
      r.nodes.map((n) => [
        n.name,
        fmt(n.loadCpuPct),
        fmt(n.baselineCpuPct),
        fmt(n.moveCpuPct),
        fmt(n.rssAfterLoadMiB),
        fmt(n.rssBeforeJoinMiB),
        fmt(n.rssPeakMoveMiB),
        fmt(n.rssEndMiB),
        fmt(n.diskEndMiB),
        `${fmt(n.lagMaxBaselineMs)} / ${fmt(n.lagMaxMoveMs)}`,
      ]),
    ),
  );
  if (r.failure !== null) out.push(`\nFAILED: ${r.failure}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

function errorText(errors: Record<string, number>): string {
  const n = Object.values(errors).reduce((a, b) => a + b, 0);
  return n === 0 ? '0' : `${n} ${JSON.stringify(errors)}`;
}

const ms = (us: number): number => round(us / 1_000, 2);
const fmt = (x: number): string =>
  !Number.isFinite(x)
    ? '—'
    : Math.abs(x) >= 1_000
      ? Math.round(x).toLocaleString('en-US')
      : Math.abs(x) >= 100
        ? x.toFixed(0)
        : Math.abs(x) >= 10
          ? x.toFixed(1)
          : x.toFixed(2);
