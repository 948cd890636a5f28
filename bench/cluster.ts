/**
 * `npm run bench -- cluster [--target edict|etcd|both] [--json] [--duration S] [--warmup S]
 *                           [--workloads put:1,get:64,...] [--keys N] [--workers N] [--buckets N]
 *                           [--modes http,client] [--edict-endpoints H:P,...]`
 *
 * Edict against etcd 3.4 on the same machine, in one run, with the same closed-loop load generator
 * (`_loadgen.ts`, in `--workers` processes): a 3-member etcd cluster from Debian's `etcd-server`
 * driven through its v3 JSON gateway (`_etcd.ts`), and a 3-node Edict cluster of `edict start`
 * processes (`_edict.ts`) driven through its HTTP API and through the client library. Each system
 * is started in a fresh directory under /tmp, preloaded with `--keys` keys of 100 B when a workload
 * reads, run through the workloads, and stopped (only the processes the benchmark started, by PID).
 * Until `edict start` exists the Edict half is skipped with a message and etcd still runs.
 *
 * Workloads are `op:clients`: `put` (100 B values over `--keys` keys), `get` (linearizable reads of
 * preloaded keys), `mixed` (90 % gets, 10 % puts), `put64k` (64 KiB values, over their own keys).
 * Each runs `--warmup` seconds unmeasured and then `--duration` seconds measured, and reports ops/s,
 * p50/p99/p99.9 latency, errors by code, CPU (% of one core) and RSS of every server process, the
 * load generator's CPU, and the CPU other processes on the machine used meanwhile (*other*: the box
 * is shared, and a large figure there means the run competed for the two cores). A table is printed
 * at the end, with the ratio Edict / etcd of each workload from this same run; `--json` prints one
 * JSON object per workload and system instead, as soon as it is measured.
 *
 * Every step is bounded: cluster start and health (30–60 s), the preload (`--preload-timeout`),
 * every request (`--request-timeout`), every workload (warm-up + duration + margin; a worker that
 * overstays is killed), and the stop (SIGTERM, SIGKILL after 10–15 s).
 */
import { startEtcd, type RunningCluster } from './_etcd.js';
import { detectEdictStart, startEdict } from './_edict.js';
import { Histogram } from './_histogram.js';
import { markdown, round } from './_table.js';
import { runWorkers, type LoadSpec, type MergedResult, type Target } from './_loadgen.js';
import {
  machineShares,
  sampleMachine,
  sampleProc,
  sleep,
  type MachineSample,
  type ProcSample,
} from './_procs.js';

type System = 'etcd' | 'edict';
type Mode = 'http' | 'client';

interface Workload {
  /** As given: `op:clients`. */
  readonly name: string;
  readonly op: 'put' | 'get' | 'mixed';
  readonly clients: number;
  readonly valueSize: number;
  readonly keyPrefix: string;
}

interface Config {
  readonly systems: readonly System[];
  readonly modes: readonly Mode[];
  readonly json: boolean;
  readonly durationS: number;
  readonly warmupS: number;
  readonly workloads: readonly Workload[];
  readonly keys: number;
  readonly workers: number;
  /** Buckets of the Edict cluster the benchmark starts. */
  readonly buckets: number;
  readonly requestTimeoutMs: number;
  readonly preloadTimeoutS: number;
  readonly quietWaitS: number;
  /** An Edict cluster already running (HTTP addresses): used instead of starting one. */
  readonly edictEndpoints: readonly string[] | null;
  /** Its client-protocol addresses, for the client mode. */
  readonly edictClientEndpoints: readonly string[] | null;
}

const DEFAULT_WORKLOADS =
  'put:1,put:16,put:64,put:256,get:1,get:16,get:64,get:256,mixed:64,put64k:16';

export interface ServerFigures {
  readonly name: string;
  readonly pid: number;
  /** CPU during the measured window, in % of one core. */
  readonly cpuPct: number;
  /** RSS at the end of the window and the largest seen during it, in MiB. */
  readonly rssMiB: number;
  readonly rssPeakMiB: number;
}

export interface Row {
  readonly system: System;
  readonly mode: Mode;
  readonly target: Target;
  readonly software: string;
  readonly workload: string;
  readonly op: string;
  readonly clients: number;
  readonly valueSize: number;
  readonly keys: number;
  readonly seconds: number;
  readonly ops: number;
  readonly opsPerSec: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly errorCount: number;
  readonly errors: Record<string, number>;
  readonly notFound: number;
  readonly servers: readonly ServerFigures[];
  /**
   * CPU time of all the servers together per operation, in µs: steadier than ops/s when other
   * processes compete for the cores. NaN when the servers are not known.
   */
  readonly serverCpuUsPerOp: number;
  readonly loadgen: { readonly workers: number; readonly cpuPct: number };
  readonly machine: {
    readonly busyPct: number;
    readonly stealPct: number;
    /** CPU used by processes other than the servers and the load generator, in % of one core. */
    readonly otherCpuPct: number;
    /** How busy the machine was just before the workload (after waiting for quiet), in %. */
    readonly busyBeforePct: number;
  };
  readonly preload: {
    readonly keys: number;
    readonly seconds: number;
    readonly errors: number;
  } | null;
  /** This row's throughput and p99 over etcd's for the same workload in this run. */
  readonly vsEtcd?: {
    readonly opsRatio: number;
    readonly p99Ratio: number;
    /** Server CPU per operation over etcd's (lower is better). */
    readonly cpuPerOpRatio: number;
  };
  readonly at: string;
}

export async function main(args: string[]): Promise<void> {
  const config = parseArgs(args);
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  const running = new Set<RunningCluster>();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupted = true;
    log(`cluster bench: ${signal}, stopping what it started`);
    void Promise.allSettled([...running].map((c) => c.stop())).then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const rows: Row[] = [];
  const notes: string[] = [];
  const emit = (row: Row): void => {
    if (interrupted) return; // the run was cut short: its figures mean nothing
    rows.push(row);
    if (config.json) process.stdout.write(`${JSON.stringify(row)}\n`);
    log(
      `  ${row.system}/${row.mode} ${row.workload}: ${fmtInt(row.opsPerSec)} ops/s, ` +
        `p99 ${fmtMs(row.p99Ms)} ms, errors ${row.errorCount}`,
    );
  };
  /** A failure that ends one system's (or one workload's) part of the run, not the whole run. */
  const failed = (what: string, error: unknown): void => {
    const note = `${what} failed: ${error instanceof Error ? error.message : String(error)}`;
    log(note);
    notes.push(note);
  };
  try {
    for (const system of config.systems) {
      if (interrupted) break;
      let cluster: RunningCluster & { clientEndpoints?: readonly string[] };
      try {
        cluster = await startSystem(system, config, log);
      } catch (error) {
        if (error instanceof Skipped) {
          log(error.message);
          notes.push(error.message);
        } else failed(`${system}: starting the cluster`, error);
        continue;
      }
      running.add(cluster);
      try {
        log(`${system}: ${cluster.version}; endpoints ${cluster.endpoints.join(', ')}`);
        const modes: Mode[] = system === 'etcd' ? ['http'] : [...config.modes];
        let preload: Row['preload'] = null;
        for (const mode of modes) {
          const target: Target =
            system === 'etcd' ? 'etcd' : mode === 'http' ? 'edict-http' : 'edict-client';
          const endpoints =
            mode === 'client' ? (cluster.clientEndpoints ?? cluster.endpoints) : cluster.endpoints;
          for (const workload of config.workloads) {
            if (interrupted) break;
            try {
              if (preload === null && workload.op !== 'put') {
                preload = await runPreload(config, target, endpoints, log);
              }
              const baseline = rows.find(
                (r) => r.system === 'etcd' && r.workload === workload.name,
              );
              emit(
                await runWorkload(
                  config,
                  system,
                  mode,
                  target,
                  endpoints,
                  cluster,
                  workload,
                  preload,
                  baseline,
                ),
              );
            } catch (error) {
              failed(`${system}/${mode} ${workload.name}`, error);
            }
          }
        }
      } finally {
        log(`${system}: stopping`);
        await cluster.stop();
        running.delete(cluster);
      }
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  if (!config.json && !interrupted) printTables(rows, config, notes);
}

/** Thrown when a system cannot be benchmarked yet (not a failure). */
class Skipped extends Error {}

async function startSystem(
  system: System,
  config: Config,
  log: (line: string) => void,
): Promise<RunningCluster & { clientEndpoints?: readonly string[] }> {
  if (system === 'etcd') {
    log('etcd: starting 3 members');
    return startEtcd(3);
  }
  if (config.edictEndpoints !== null) {
    return {
      endpoints: config.edictEndpoints,
      clientEndpoints: config.edictClientEndpoints ?? config.edictEndpoints,
      servers: [],
      version: 'edict (already running; its CPU counts as other)',
      stop: async () => {},
    };
  }
  const found = detectEdictStart();
  if (!found.ok) {
    const rest = config.systems.includes('etcd') ? ' The etcd half ran on its own.' : '';
    throw new Skipped(`edict: skipped: ${found.reason}.${rest}`);
  }
  log('edict: starting 3 nodes');
  return startEdict(3, 60_000, undefined, config.buckets);
}

async function runPreload(
  config: Config,
  target: Target,
  endpoints: readonly string[],
  log: (line: string) => void,
): Promise<NonNullable<Row['preload']>> {
  log(`preloading ${config.keys} keys of 100 B (64 clients)`);
  const result = await runWorkers(
    {
      target,
      endpoints,
      op: 'fill',
      clients: 64,
      clientOffset: 0,
      valueSize: 100,
      keys: config.keys,
      keyPrefix: 'bench/',
      warmupMs: 0,
      durationMs: 0,
      requestTimeoutMs: config.requestTimeoutMs,
      fill: { from: 0, to: config.keys, deadlineMs: config.preloadTimeoutS * 1_000 },
    },
    config.workers,
  );
  const errors = Object.values(result.errors).reduce((a, b) => a + b, 0);
  log(
    `preloaded ${result.ops} of ${config.keys} keys in ${result.seconds.toFixed(1)} s ` +
      `(${fmtInt(result.ops / result.seconds)} puts/s), ${errors} errors ${JSON.stringify(result.errors)}`,
  );
  if (result.ops < config.keys) {
    log(`warning: the preload is incomplete; reads of missing keys count as notFound`);
  }
  return { keys: result.ops, seconds: round(result.seconds, 2), errors };
}

async function runWorkload(
  config: Config,
  system: System,
  mode: Mode,
  target: Target,
  endpoints: readonly string[],
  cluster: RunningCluster,
  workload: Workload,
  preload: Row['preload'],
  baseline: Row | undefined,
): Promise<Row> {
  const busyBeforePct = await waitForQuiet(config.quietWaitS * 1_000);
  const spec: LoadSpec = {
    target,
    endpoints,
    op: workload.op,
    clients: workload.clients,
    clientOffset: 0,
    valueSize: workload.valueSize,
    keys: config.keys,
    keyPrefix: workload.keyPrefix,
    warmupMs: config.warmupS * 1_000,
    durationMs: config.durationS * 1_000,
    requestTimeoutMs: config.requestTimeoutMs,
  };
  // Server and machine figures over the measured window, which begins when the workers start.
  const marks: { before: Snapshot | null; after: Snapshot | null } = { before: null, after: null };
  const peaks = cluster.servers.map(() => 0);
  const snapshot = (): Snapshot => {
    const procs = cluster.servers.map((s) => sampleProc(s.pid));
    procs.forEach((p, i) => (peaks[i] = Math.max(peaks[i] as number, p.rssBytes || 0)));
    const cpu = process.cpuUsage();
    return { procs, machine: sampleMachine(), self: (cpu.user + cpu.system) / 1e6 };
  };
  const timers: NodeJS.Timeout[] = [];
  const onStart = (): void => {
    timers.push(setTimeout(() => (marks.before = snapshot()), spec.warmupMs));
    timers.push(setTimeout(() => (marks.after = snapshot()), spec.warmupMs + spec.durationMs));
    for (let t = spec.warmupMs + 500; t < spec.warmupMs + spec.durationMs; t += 500) {
      timers.push(setTimeout(() => snapshot(), t));
    }
  };
  let result: MergedResult;
  try {
    result = await runWorkers(spec, config.workers, onStart);
  } finally {
    for (const timer of timers) clearTimeout(timer);
  }
  const b = marks.before;
  const a = marks.after ?? snapshot();
  const window = spec.durationMs / 1_000;
  const servers: ServerFigures[] = cluster.servers.map((s, i) => ({
    name: s.name,
    pid: s.pid,
    cpuPct:
      b === null
        ? NaN
        : round(
            (100 * ((a.procs[i]?.cpuSeconds ?? NaN) - (b.procs[i]?.cpuSeconds ?? NaN))) / window,
            1,
          ),
    rssMiB: round((a.procs[i]?.rssBytes ?? NaN) / 2 ** 20, 1),
    rssPeakMiB: round((peaks[i] ?? NaN) / 2 ** 20, 1),
  }));
  const shares = b === null ? null : machineShares(b.machine, a.machine);
  const ours =
    servers.reduce((sum, s) => sum + (Number.isFinite(s.cpuPct) ? s.cpuPct : 0), 0) +
    result.loadgenCpuPct +
    (b === null ? 0 : (100 * (a.self - b.self)) / window);
  const otherCpuPct =
    shares === null ? NaN : Math.max(0, (100 * shares.busySeconds) / window - ours);
  const h = Histogram.from(result.histogram);
  const ms = (us: number): number => round(us / 1_000, 3);
  const opsPerSec = Math.round(result.ops / window);
  const p99Ms = ms(h.percentile(99));
  const row: Row = {
    system,
    mode,
    target,
    software: cluster.version,
    workload: workload.name,
    op: workload.op,
    clients: workload.clients,
    valueSize: workload.valueSize,
    keys: config.keys,
    seconds: window,
    ops: result.ops,
    opsPerSec,
    meanMs: ms(h.meanUs()),
    p50Ms: ms(h.percentile(50)),
    p99Ms,
    p999Ms: ms(h.percentile(99.9)),
    maxMs: ms(h.maxUs),
    errorCount: Object.values(result.errors).reduce((x, y) => x + y, 0),
    errors: result.errors,
    notFound: result.notFound,
    servers,
    serverCpuUsPerOp:
      servers.length === 0 || result.ops === 0
        ? NaN
        : round((servers.reduce((sum, x) => sum + x.cpuPct, 0) * 1e4 * window) / result.ops, 1),
    loadgen: { workers: result.workers, cpuPct: round(result.loadgenCpuPct, 1) },
    machine: {
      busyPct: round(shares?.busyPct ?? NaN, 1),
      stealPct: round(shares?.stealPct ?? NaN, 1),
      otherCpuPct: round(otherCpuPct, 1),
      busyBeforePct: round(busyBeforePct, 1),
    },
    preload: workload.op === 'put' ? null : preload,
    at: new Date().toISOString(),
  };
  if (baseline !== undefined && system !== 'etcd') {
    return {
      ...row,
      vsEtcd: {
        opsRatio: round(opsPerSec / baseline.opsPerSec, 2),
        p99Ratio: round(p99Ms / baseline.p99Ms, 2),
        cpuPerOpRatio: round(row.serverCpuUsPerOp / baseline.serverCpuUsPerOp, 2),
      },
    };
  }
  return row;
}

interface Snapshot {
  readonly procs: readonly ProcSample[];
  readonly machine: MachineSample;
  /** This process's CPU time, in seconds. */
  readonly self: number;
}

/** Waits (at most `maxMs`) for the machine to be under 15 % busy; returns the last busy %. */
async function waitForQuiet(maxMs: number): Promise<number> {
  const deadline = performance.now() + maxMs;
  let busy: number;
  do {
    const a = sampleMachine();
    await sleep(500);
    busy = machineShares(a, sampleMachine()).busyPct;
  } while (busy >= 15 && performance.now() < deadline);
  return busy;
}

function parseArgs(argv: readonly string[]): Config {
  const known = new Set([
    'target',
    'json',
    'duration',
    'warmup',
    'workloads',
    'keys',
    'workers',
    'buckets',
    'modes',
    'request-timeout',
    'preload-timeout',
    'quiet-wait',
    'edict-endpoints',
    'edict-client-endpoints',
  ]);
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (match === null || !known.has(match[1] as string)) throw usage(`unknown argument ${arg}`);
    const name = match[1] as string;
    if (name === 'json') {
      values.set(name, 'true');
      continue;
    }
    const value = match[2] ?? argv[(i += 1)];
    if (value === undefined) throw usage(`--${name} needs a value`);
    values.set(name, value);
  }
  const number = (name: string, fallback: number, min: number, max: number): number => {
    const value = Number(values.get(name) ?? fallback);
    if (!(value >= min && value <= max)) throw usage(`--${name} must be in [${min}, ${max}]`);
    return value;
  };
  const target = values.get('target') ?? 'both';
  if (!['edict', 'etcd', 'both'].includes(target)) throw usage('--target is edict, etcd or both');
  const modes = (values.get('modes') ?? 'http,client').split(',').filter(Boolean);
  if (modes.length === 0 || modes.some((m) => m !== 'http' && m !== 'client')) {
    throw usage('--modes is a list of http and client');
  }
  const workloads = (values.get('workloads') ?? DEFAULT_WORKLOADS)
    .split(',')
    .filter(Boolean)
    .map(parseWorkload);
  if (workloads.length === 0) throw usage('--workloads is empty');
  const list = (name: string): string[] | null => {
    const text = values.get(name);
    return text === undefined ? null : text.split(',').filter(Boolean);
  };
  return {
    systems: target === 'both' ? ['etcd', 'edict'] : [target as System],
    modes: [...new Set(modes)] as Mode[],
    json: values.has('json'),
    durationS: number('duration', 10, 0.5, 600),
    warmupS: number('warmup', 2, 0, 120),
    workloads,
    keys: number('keys', 100_000, 100, 10_000_000),
    workers: number('workers', 2, 1, 16),
    // 64, as `edict dev`: at 1,024 an idle node spends up to a third of a core on per-bucket
    // heartbeats (docs/benchmarks.md), which this benchmark would measure too.
    buckets: number('buckets', 64, 1, 65_536),
    requestTimeoutMs: number('request-timeout', 10_000, 100, 60_000),
    preloadTimeoutS: number('preload-timeout', 180, 1, 3_600),
    quietWaitS: number('quiet-wait', 5, 0, 300),
    edictEndpoints: list('edict-endpoints'),
    edictClientEndpoints: list('edict-client-endpoints'),
  };
}

function parseWorkload(text: string): Workload {
  const match = /^(put|get|mixed|put64k):(\d{1,4})$/.exec(text.trim());
  const clients = Number(match?.[2]);
  if (match === null || !(clients >= 1 && clients <= 4_096)) {
    throw usage(`bad workload ${text}: op:clients, op one of put, get, mixed, put64k`);
  }
  const large = match[1] === 'put64k';
  return {
    name: `${match[1]}:${clients}`,
    op: large ? 'put' : (match[1] as Workload['op']),
    clients,
    valueSize: large ? 65_536 : 100,
    keyPrefix: large ? 'bench64k/' : 'bench/',
  };
}

function usage(message: string): Error {
  return new Error(
    `${message}\nusage: npm run bench -- cluster [--target edict|etcd|both] [--json] ` +
      `[--duration S] [--warmup S] [--workloads ${DEFAULT_WORKLOADS}] [--keys N] [--workers N] [--buckets N] ` +
      `[--modes http,client] [--request-timeout MS] [--preload-timeout S] [--quiet-wait S] ` +
      `[--edict-endpoints H:P,...] [--edict-client-endpoints H:P,...]`,
  );
}

const fmtInt = (x: number): string =>
  Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—';
const fmtRatio = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '—');
const fmtMs = (x: number): string =>
  !Number.isFinite(x) ? '—' : x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0);

const WORKLOAD_LABEL: Record<string, string> = {
  put: 'put 100 B',
  get: 'get (linearizable)',
  mixed: '90/10 get/put',
  put64k: 'put 64 KiB',
};

function label(workload: string): string {
  const [op, clients] = workload.split(':');
  return `${WORKLOAD_LABEL[op as string] ?? op}, c=${clients}`;
}

function printTables(rows: readonly Row[], config: Config, notes: readonly string[]): void {
  const out: string[] = [];
  out.push(
    `\n${config.durationS} s measured per workload after ${config.warmupS} s of warm-up; ` +
      `${config.keys.toLocaleString('en-US')} keys; load from ${config.workers} worker processes. ` +
      `CPU in % of one core; *other* is CPU used by other processes on the machine.\n`,
  );
  out.push(
    markdown(
      [
        'system',
        'workload',
        'ops/s',
        'p50 ms',
        'p99 ms',
        'p99.9 ms',
        'errors',
        'server CPU %',
        'server RSS MiB',
        'server CPU µs/op',
        'loadgen CPU %',
        'other CPU %',
      ],
      rows.map((r) => [
        `${r.system}${r.system === 'edict' ? ` (${r.mode})` : ''}`,
        label(r.workload),
        fmtInt(r.opsPerSec),
        fmtMs(r.p50Ms),
        fmtMs(r.p99Ms),
        fmtMs(r.p999Ms),
        r.errorCount === 0 ? '0' : `${r.errorCount} ${JSON.stringify(r.errors)}`,
        r.servers.map((s) => fmtInt(s.cpuPct)).join(' / ') || '—',
        r.servers.map((s) => fmtInt(s.rssMiB)).join(' / ') || '—',
        fmtInt(r.serverCpuUsPerOp),
        fmtInt(r.loadgen.cpuPct),
        fmtInt(r.machine.otherCpuPct),
      ]),
    ),
  );
  const edictModes = [...new Set(rows.filter((r) => r.system === 'edict').map((r) => r.mode))];
  const etcdRows = rows.filter((r) => r.system === 'etcd');
  if (etcdRows.length > 0 && edictModes.length > 0) {
    out.push(
      '\nEdict / etcd, same run (ratios of ops/s, higher is better; of p99 and of server CPU ' +
        'per op, lower is better):\n',
    );
    out.push(
      markdown(
        [
          'workload',
          'etcd ops/s',
          ...edictModes.flatMap((m) => [
            `edict ${m} ops/s`,
            `${m} / etcd`,
            `${m} p99 / etcd`,
            `${m} CPU/op / etcd`,
          ]),
        ],
        etcdRows.map((e) => [
          label(e.workload),
          fmtInt(e.opsPerSec),
          ...edictModes.flatMap((m) => {
            const r = rows.find(
              (x) => x.system === 'edict' && x.mode === m && x.workload === e.workload,
            );
            if (r?.vsEtcd === undefined) return ['—', '—', '—', '—'];
            const { opsRatio, p99Ratio, cpuPerOpRatio } = r.vsEtcd;
            return [
              fmtInt(r.opsPerSec),
              fmtRatio(opsRatio),
              fmtRatio(p99Ratio),
              fmtRatio(cpuPerOpRatio),
            ];
          }),
        ]),
      ),
    );
  }
  for (const note of notes) out.push(`\n${note}`);
  process.stdout.write(`${out.join('\n')}\n`);
}
