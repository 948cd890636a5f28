/**
 * Scenario `cluster`: the whole stack — the real NodeCore (metadata Raft, directory, failure
 * detector, conductor and bucket replicas) — on 5 simulated nodes with 64 buckets × 3 replicas.
 * Three founding nodes bootstrap; a fourth joins at once and a fifth later; one node is drained
 * (and then removed by the conductor); the nemesis partitions, clogs, drops, duplicates, delays,
 * crashes and skews clocks; a targeted fault cuts a bucket leader off from the metadata leader
 * only (its followers still renew its lease: the case the lease fence exists for). Clients with
 * sessions read, write and compare-and-set keys spread over the buckets throughout.
 *
 * Checks:
 * - linearizability of every key's history (so no acknowledged write is lost or reordered);
 * - per bucket, the replication invariants of sim/bucket/checkers.ts: one leader per epoch,
 *   epochs never go back, committed logs agree, a session's write applies once;
 * - leases: at no instant do two leaders of one bucket both hold a valid read lease;
 * - after the faults stop: within `CONVERGE_MS` every bucket is back at its replica count with an
 *   activated leader, no transition is left (the conductor's next round proposes nothing: the map
 *   is the planner's target), every node applied the same directory, and every client completes
 *   operations again.
 *
 * Replay a failure with `npm run sim -- --scenario cluster --seed N [--bug conductor-no-fence]`.
 */
import { conduct } from '../../src/core/conductor/conductor.js';
import { voters } from '../../src/core/directory/types.js';
import { nodeId, type NodeId } from '../../src/core/lib/ids.js';
import { defaultNodeOptions, nodeBugs, type NodeBug } from '../../src/core/node/index.js';
import type { NodeMessage } from '../../src/core/node/messages.js';
import { BucketChecker } from '../bucket/checkers.js';
import { ClusterClient } from '../cluster/client.js';
import { SimClusterNode, type ClientWire, type ClusterObserver } from '../cluster/node.js';
import { SimDisk } from '../disk.js';
import { History } from '../history.js';
import { SimHost, defaultSimHostOptions } from '../host.js';
import { checkKv } from '../linearizability.js';
import { Nemesis, defaultNemesisOptions } from '../nemesis.js';
import { SimNetwork } from '../network.js';
import type { Scenario, ScenarioOutcome, ScenarioRun } from '../scenario.js';
import { Simulator } from '../simulator.js';

const BUCKETS = 64;
const REPLICAS = 3;
const NODES = 5;
const FOUNDERS = [nodeId(1), nodeId(2), nodeId(3)];
const FIRST_CLIENT = 101;
const KEYS = Array.from({ length: 48 }, (_, i) => `key-${i}`);
const SAFETY_MS = 12_000;
const LATE_JOIN_MS = 4000;
const DRAIN_MS = 6000;
/** After the faults stop, the time the cluster has to heal and rebalance completely. */
const CONVERGE_MS = 8000;
/** Clients keep going after convergence for this long, and must complete operations. */
const TAIL_MS = 1000;
const LEASE_SAMPLE_MS = 5;
/** From a crash to its peers' refused connection attempts. */
const REFUSED_AFTER_MS = 30;
const VIOLATIONS_MAX = 8;

export const clusterScenario: Scenario = {
  name: 'cluster',
  description:
    '5 nodes, 64 buckets: joins, a drain, crashes, partitions; linearizable, heals and rebalances',
  bugs: [...nodeBugs],
  run: runCluster,
};

interface World {
  readonly sim: Simulator;
  readonly network: SimNetwork<NodeMessage>;
  readonly clients: SimNetwork<ClientWire>;
  readonly hosts: Map<NodeId, SimHost>;
  readonly nodes: Map<NodeId, SimClusterNode>;
  readonly checkers: BucketChecker[];
  readonly violations: string[];
}

function violation(w: World, text: string): void {
  if (w.violations.length < VIOLATIONS_MAX) w.violations.push(text);
}

function build(run: ScenarioRun): World {
  const sim = new Simulator(run.seed);
  const network = new SimNetwork<NodeMessage>(sim, sim.prng.fork());
  const clients = new SimNetwork<ClientWire>(sim, sim.prng.fork());
  const diskPrng = sim.prng.fork();
  const fsyncPrng = sim.prng.fork();
  const crashPrng = sim.prng.fork();
  const nodePrng = sim.prng.fork();
  const bugs = new Set(run.bug === null ? [] : [run.bug as NodeBug]);
  // Bucket logs compacted to a few entries, so that lagging and returning members get snapshots.
  const replica = {
    ...defaultNodeOptions.replica,
    logRetainEntries: 8,
    logRetainBytes: 2048,
    logLaggardBytesMax: 16 * 1024,
  };
  const options = { ...defaultNodeOptions, replica, bugs };
  const hostOptions = { ...defaultSimHostOptions, maxDrift: options.replica.clockDriftMax };
  const checkers = Array.from({ length: BUCKETS }, () => new BucketChecker([]));
  const observer: ClusterObserver = {
    onReady: (node, ready) => {
      for (const { bucket, ready: r } of ready.buckets) {
        const replica = node.core?.replicaOf(bucket);
        if (replica !== undefined) checkers[bucket]?.onReady(node.id, replica, r);
      }
    },
    onDurable: (node, ready) => {
      for (const { bucket, ready: r } of ready.buckets) checkers[bucket]?.onDurable(node.id, r);
    },
  };
  const hosts = new Map<NodeId, SimHost>();
  const nodes = new Map<NodeId, SimClusterNode>();
  for (let i = 1; i <= NODES; i++) {
    const id = nodeId(i);
    let node: SimClusterNode | null = null;
    const host = new SimHost(
      sim,
      id,
      new SimDisk(diskPrng.fork()),
      {
        boot: () => node?.boot(),
        halt: () => {
          node?.halt();
          refuseAfterCrash(sim, network, nodes, id);
        },
      },
      hostOptions,
    );
    node = new SimClusterNode(id, host, {
      network,
      clients,
      options,
      seeds: FOUNDERS,
      founding: FOUNDERS.includes(id)
        ? { voters: FOUNDERS, bucketCount: BUCKETS, replicas: REPLICAS }
        : null,
      zone: `z${i % 3}`,
      fsyncMs: () => fsyncPrng.range(1, 4),
      crashPrng,
      prng: nodePrng.fork(),
      observer,
    });
    hosts.set(id, host);
    nodes.set(id, node);
  }
  return { sim, network, clients, hosts, nodes, checkers, violations: [] };
}

function runCluster(run: ScenarioRun): ScenarioOutcome {
  const w = build(run);
  const { sim, hosts } = w;
  const stepLimit = run.steps ?? Infinity;
  const late = hosts.get(nodeId(NODES)) as SimHost;
  for (const host of hosts.values()) if (host !== late) host.start();
  sim.schedule(LATE_JOIN_MS, 'join late node', () => late.start());
  const upNodes = (): number[] => [...hosts.values()].filter((h) => h.up).map((h) => h.id);

  const history = new History();
  const clientPrng = sim.prng.fork();
  const clientsNet = w.clients;
  const stopAt = SAFETY_MS + CONVERGE_MS + TAIL_MS;
  const clients = Array.from({ length: 4 }, (_, i) => {
    const client = new ClusterClient(
      FIRST_CLIENT + i,
      sim,
      clientsNet,
      history,
      clientPrng.fork(),
      upNodes,
      { keys: KEYS, attemptMs: 400, deadlineMs: 2500, versionCas: true },
    );
    client.start(stopAt);
    return client;
  });

  const faulty = [...hosts.values()].filter((h) => h !== late);
  const nemesis = new Nemesis(sim, sim.prng.fork(), w.network, faulty, {
    ...defaultNemesisOptions,
    meanIntervalMs: 250,
    maxCrashed: 1,
  });
  nemesis.start(SAFETY_MS);
  const drained = startDrain(w, sim.prng.fork().int(NODES) + 1, clientsNet);
  startLeaderCuts(w, SAFETY_MS);
  startLeaseChecks(w, stopAt);

  sim.run({ untilMs: SAFETY_MS, maxSteps: stepLimit });
  nemesis.healAll();
  sim.run({ untilMs: SAFETY_MS + CONVERGE_MS, maxSteps: Math.max(0, stepLimit - sim.steps) });
  const converged = run.steps === null ? checkConverged(w) : [];
  if (converged.length > 0) converged.push(...describeNodes(w));
  const before = clients.map((c) => c.completed);
  sim.run({ untilMs: stopAt + 500, maxSteps: Math.max(0, stepLimit - sim.steps) });
  history.finish();

  const violations = [...w.violations, ...converged];
  const notes: string[] = [];
  const result = checkKv(history.ops);
  for (const key of result.keys) {
    if (key.verdict === 'violation') violations.push(`linearizability ${key.key}: ${key.detail}`);
    if (key.verdict === 'unknown') notes.push(`linearizability ${key.key}: ${key.detail}`);
  }
  w.checkers.forEach((checker, bucket) => {
    for (const v of checker.violations) violations.push(`bucket ${bucket}: ${v}`);
  });
  for (const client of clients) violations.push(...client.anomalies.slice(0, 3));
  if (run.steps === null) {
    clients.forEach((client, i) => {
      if (client.completed === before[i]) {
        violations.push(`liveness: client ${client.id} completed nothing after convergence`);
      }
    });
  }
  const ok = history.ops.filter((o) => o.status === 'ok').length;
  notes.push(`ops ok=${ok} drained=${drained.node}${drained.done ? '' : ' (not recorded)'}`);
  return {
    steps: sim.steps,
    faults: nemesis.faults,
    ops: history.ops.length,
    violations: violations.slice(0, VIOLATIONS_MAX * 2),
    notes,
    trace: sim.traceHex(),
  };
}

/** An operator drains one node at DRAIN_MS, retrying through any node until it is recorded. */
function startDrain(
  w: World,
  node: number,
  clients: SimNetwork<ClientWire>,
): { node: number; done: boolean } {
  const state = { node, done: false };
  const admin = 99;
  let reqId = 0;
  clients.attach(admin, (_from, m) => {
    if (m.t === 'res' && m.reply.ok) state.done = true;
  });
  const attempt = (): void => {
    if (state.done || w.sim.now >= SAFETY_MS) return;
    const up = [...w.hosts.values()].filter((h) => h.up);
    if (up.length > 0) {
      const to = w.sim.prng.pick(up).id;
      reqId += 1;
      clients.send(
        admin,
        to,
        { t: 'req', reqId, request: { op: 'drain', node: nodeId(node) } },
        'req',
      );
    }
    w.sim.schedule(300, 'drain retry', attempt);
  };
  w.sim.schedule(DRAIN_MS, 'drain', attempt);
  return state;
}

/**
 * Cuts a node that leads buckets off from the metadata leader (both ways) for a while, leaving its
 * links to everyone else: the metadata leader declares it dead and appoints new leaders while its
 * followers may still be renewing its lease.
 */
function startLeaderCuts(w: World, untilMs: number): void {
  const prng = w.sim.prng.fork();
  const next = (): void => {
    if (w.sim.now >= untilMs) return;
    const meta = [...w.nodes.values()].find((n) => n.host.up && n.core?.isMetaLeader === true);
    const candidates = [...w.nodes.values()].filter(
      (n) => n !== meta && n.host.up && n.core !== null && leads(n),
    );
    if (meta !== undefined && candidates.length > 0) {
      const victim = prng.pick(candidates);
      w.network.clog(victim.id, meta.id);
      w.network.clog(meta.id, victim.id);
      w.sim.trace(`cut ${victim.id} from metadata leader ${meta.id}`);
      w.sim.schedule(400 + prng.int(800), 'uncut', () => {
        w.network.unclog(victim.id, meta.id);
        w.network.unclog(meta.id, victim.id);
      });
    }
    w.sim.schedule(800 + prng.int(1200), 'leader cut', next);
  };
  w.sim.schedule(2000, 'leader cut', next);
}

function leads(n: SimClusterNode): boolean {
  for (let b = 0; b < BUCKETS; b++) if (n.core?.replicaOf(b)?.role === 'leader') return true;
  return false;
}

/** Samples every bucket: never two leaders with a valid lease at once. */
function startLeaseChecks(w: World, untilMs: number): void {
  const sample = (): void => {
    for (let b = 0; b < BUCKETS; b++) {
      const holders: string[] = [];
      for (const n of w.nodes.values()) {
        const replica = n.host.up ? n.core?.replicaOf(b) : undefined;
        if (replica === undefined || replica.role !== 'leader') continue;
        const s = replica.status();
        if (s.activated && s.leaseValid) holders.push(`node ${n.id} epoch ${s.epoch}`);
      }
      if (holders.length > 1) {
        violation(
          w,
          `leases: bucket ${b} has two valid leases at ${w.sim.now} ms: ${holders.join(', ')}`,
        );
      }
    }
    if (w.sim.now < untilMs) w.sim.schedule(LEASE_SAMPLE_MS, 'lease check', sample);
  };
  w.sim.schedule(LEASE_SAMPLE_MS, 'lease check', sample);
}

/** After the faults: back at full strength, at the planner's target, one directory everywhere. */
function checkConverged(w: World): string[] {
  const out: string[] = [];
  const up = [...w.nodes.values()].filter((n) => n.host.up && n.core !== null);
  const meta = up.find((n) => n.core?.isMetaLeader === true);
  if (meta?.core == null) return ['liveness: no metadata leader after the faults stopped'];
  const directory = meta.core.view.state();
  // A removed node (drained, then taken out) is outside the cluster: it hears nothing more.
  const members = up.filter((n) => directory.nodes.find((x) => x.id === n.id)?.state !== 'removed');
  const versions = new Set(members.map((n) => n.core?.view.mapVersion));
  if (versions.size > 1)
    out.push(`convergence: nodes hold map versions ${[...versions].join(', ')}`);
  const live = new Set(
    directory.nodes.filter((n) => n.state === 'active' || n.state === 'draining').map((n) => n.id),
  );
  directory.buckets.forEach((g, bucket) => {
    if (out.length >= VIOLATIONS_MAX) return;
    const vs = voters(g);
    if (g.leader === null || vs.length !== directory.replicas || g.learners.length > 0) {
      out.push(`convergence: bucket ${bucket} has government ${JSON.stringify(g)}`);
      return;
    }
    if (vs.some((id) => !live.has(id)))
      out.push(`convergence: bucket ${bucket} keeps a dead member`);
    const replica = w.nodes.get(g.leader)?.core?.replicaOf(bucket);
    if (replica?.status().activated !== true) {
      out.push(`convergence: the leader ${g.leader} of bucket ${bucket} is not serving`);
    }
  });
  const core = meta.core;
  const round = conduct({
    directory,
    dead: [],
    damped: (id) => core.isDamped(id),
    drained: () => true,
  });
  if (round.commands.length > 0 || round.transitions > 0) {
    out.push(
      `convergence: ${round.transitions} transitions left; next round ${round.commands.length} commands`,
    );
  }
  return out;
}

/**
 * A crashed process's port refuses connections: its peers learn it when they next try to connect
 * (the server's links retry within 50 ms), if the network lets them reach its host at all and the
 * process has not come back meanwhile.
 */
function refuseAfterCrash(
  sim: Simulator,
  network: SimNetwork<NodeMessage>,
  nodes: ReadonlyMap<NodeId, SimClusterNode>,
  crashed: NodeId,
): void {
  sim.schedule(REFUSED_AFTER_MS, 'refused', () => {
    const gone = nodes.get(crashed);
    if (gone === undefined || gone.host.up) return;
    for (const n of [...nodes.values()].sort((a, b) => a.id - b.id)) {
      if (n.id !== crashed && !network.cut(n.id, crashed)) n.peerRefused(crashed);
    }
  });
}

/** One line per node, for the report of a failed convergence. */
function describeNodes(w: World): string[] {
  return [...w.nodes.values()].map((n) => {
    const core = n.core;
    if (!n.host.up || core === null) return `state: node ${n.id} down`;
    const r = core.raftStatus();
    const me = core.view.node(n.id);
    return (
      `state: node ${n.id} ${r.role} term=${r.term} leader=${r.leader} commit=${r.commit} ` +
      `applied=${r.applied} voters=${r.config.voters.join(',')} learners=${r.config.learners.join(',')} ` +
      `map=${core.view.mapVersion} self=${me?.state}/${me?.incarnation} inc=${core.currentIncarnation}` +
      (core.isMetaLeader
        ? ` nodes=${core.view
            .state()
            .nodes.map((x) => `${x.id}:${x.state}/${x.incarnation}`)
            .join(' ')} round=${JSON.stringify(core.lastRound())} progress=${[1, 2, 3, 4, 5]
            .map((id) => `${id}:${JSON.stringify(core.raftProgress(nodeId(id)) ?? null)}`)
            .join(' ')}`
        : '')
    );
  });
}
