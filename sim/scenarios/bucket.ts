/**
 * Scenario `bucket`: one bucket replicated by the half-Paxos (src/core/bucket) on 3–5 nodes, a test
 * conductor issuing random edicts (failover, planned handover, expand, promote, demote, contract) and
 * cutting nodes off from the metadata, 3–5 clients with sessions pipelining reads, puts, deletes,
 * conditional writes (ifVersion, ifExists) and CAS, and
 * the nemesis injecting every fault: partitions, clogs, loss, duplication, delay, crashes (with lost
 * unsynced writes) and clock drift within the bound the leases assume.
 *
 * A safety phase with faults, then a liveness phase (heal, restart, no more random edicts) in which
 * every client must complete operations. Checks: linearizability of the client history, and the
 * protocol invariants of sim/bucket/checkers.ts (one leader per epoch, epochs never go back, no lost
 * acknowledged write, committed logs agree, sessions applied at most once).
 *
 * Replay a failure with `npm run sim -- --scenario bucket --seed N [--bug NAME]`.
 */
import { bucketId, nodeId } from '../../src/core/lib/ids.js';
import {
  MemoryBucketStore,
  bucketBugs,
  defaultReplicaOptions,
  type BucketBug,
  type NodeId,
  type ReplicaOptions,
} from '../../src/core/bucket/index.js';
import { BucketChecker } from '../bucket/checkers.js';
import { SimClient, defaultClientOptions, type AckedWrite } from '../bucket/client.js';
import { TestConductor } from '../bucket/conductor.js';
import { SimBucketNode, type BucketSimMessage } from '../bucket/node.js';
import { SimDisk } from '../disk.js';
import { History } from '../history.js';
import { SimHost, defaultSimHostOptions } from '../host.js';
import { checkKv } from '../linearizability.js';
import { Nemesis, defaultNemesisOptions } from '../nemesis.js';
import { SimNetwork } from '../network.js';
import type { Scenario, ScenarioOutcome, ScenarioRun } from '../scenario.js';
import { Simulator } from '../simulator.js';

const BUCKET = bucketId(0);
const CONDUCTOR = 900;
const FIRST_CLIENT = 101;
/** Sessions opened after an eviction get ids above this (and above every node and the conductor). */
const FIRST_SESSION_ID = 1000;
const SAFETY_MS = 10_000;
const LIVENESS_MS = 2000;
/** After healing, time for failover and lease expiry before clients must make progress. */
const SETTLE_MS = 700;

export const bucketScenario: Scenario = {
  name: 'bucket',
  description:
    'one bucket on 3-5 nodes under random edicts and every fault; linearizable, no lost write',
  bugs: [...bucketBugs],
  run: runBucket,
};

interface Cluster {
  readonly sim: Simulator;
  readonly network: SimNetwork<BucketSimMessage>;
  readonly hosts: Map<NodeId, SimHost>;
  readonly nodes: Map<NodeId, SimBucketNode>;
  readonly checker: BucketChecker;
  readonly acked: AckedWrite[];
  readonly tightSessions: boolean;
}

function build(run: ScenarioRun): Cluster {
  const sim = new Simulator(run.seed);
  const shape = sim.prng.fork();
  const nodeCount = 3 + shape.int(3);
  // A third of the seeds run a session table small enough to evict sessions and overflow windows.
  const tightSessions = shape.int(3) === 0;
  const network = new SimNetwork<BucketSimMessage>(sim, sim.prng.fork());
  const diskPrng = sim.prng.fork();
  const fsyncPrng = sim.prng.fork();
  const crashPrng = sim.prng.fork();
  const acked: AckedWrite[] = [];
  const checker = new BucketChecker(acked);
  const bugs = new Set(run.bug === null ? [] : [run.bug as BucketBug]);
  // One key per snapshot chunk, so that every backfill streams several chunks.
  const sessions = tightSessions
    ? { sessionsMax: 8, sessionResultsMax: 6, sessionResultsTotalMax: 16 }
    : {};
  const options: ReplicaOptions = {
    ...defaultReplicaOptions,
    ...sessions,
    snapshotChunkItemsMax: 1,
    // A tiny in-memory log, compacted all the time: members that fall behind get snapshots.
    logRetainEntries: 2,
    logRetainBytes: 512,
    logLaggardBytesMax: 4096,
    bugs,
  };
  // The leases assume the hosts' drift bound: keep them in step.
  const hostOptions = { ...defaultSimHostOptions, maxDrift: options.clockDriftMax };
  const env = {
    bucket: BUCKET,
    network,
    options,
    conductor: CONDUCTOR,
    fsyncMs: () => fsyncPrng.range(1, 4),
    crashPrng,
    observer: checker,
  };
  const hosts = new Map<NodeId, SimHost>();
  const nodes = new Map<NodeId, SimBucketNode>();
  for (let i = 1; i <= nodeCount; i++) {
    const id = nodeId(i);
    let node: SimBucketNode | null = null;
    const host = new SimHost(
      sim,
      id,
      new SimDisk(diskPrng.fork()),
      { boot: () => node?.boot(), halt: () => node?.halt() },
      hostOptions,
    );
    node = new SimBucketNode(id, host, new MemoryBucketStore(), env);
    hosts.set(id, host);
    nodes.set(id, node);
  }
  return { sim, network, hosts, nodes, checker, acked, tightSessions };
}

function runBucket(run: ScenarioRun): ScenarioOutcome {
  const c = build(run);
  const { sim, network, hosts } = c;
  const ids = [...hosts.keys()];
  const conductor = new TestConductor(sim, network, CONDUCTOR, hosts, sim.prng.fork(), BUCKET, {
    leader: nodeId(1),
    followers: [nodeId(2), nodeId(3)],
  });
  for (const host of hosts.values()) host.start();
  const history = new History();
  const clientPrng = sim.prng.fork();
  const clientCount = 3 + clientPrng.int(3);
  const stopAt = SAFETY_MS + LIVENESS_MS;
  // Session ids are allocated increasing, as the metadata log does: new ones above every first one.
  let lastSessionId = FIRST_SESSION_ID;
  const newSessionId = (): number => ++lastSessionId;
  const clientOptions = { ...defaultClientOptions, tightSessions: c.tightSessions };
  const clients = Array.from({ length: clientCount }, (_, i) => {
    const client = new SimClient(
      FIRST_CLIENT + i,
      sim,
      network,
      history,
      clientPrng.fork(),
      BUCKET,
      ids,
      () => conductor.government.leader,
      c.acked,
      newSessionId,
      clientOptions,
    );
    client.start(stopAt);
    return client;
  });
  const nemesis = new Nemesis(sim, sim.prng.fork(), network, [...hosts.values()], {
    ...defaultNemesisOptions,
    meanIntervalMs: 150,
    maxCrashed: ids.length >= 5 ? 2 : 1,
  });
  nemesis.start(SAFETY_MS);
  conductor.start(SAFETY_MS);
  const stepLimit = run.steps ?? Infinity;
  sim.run({ untilMs: SAFETY_MS, maxSteps: stepLimit });
  nemesis.healAll();
  conductor.enterLiveness();
  sim.run({ untilMs: SAFETY_MS + SETTLE_MS, maxSteps: Math.max(0, stepLimit - sim.steps) });
  const before = clients.map((cl) => cl.completed);
  sim.run({ untilMs: stopAt + 1000, maxSteps: Math.max(0, stepLimit - sim.steps) });
  history.finish();
  return {
    steps: sim.steps,
    faults: nemesis.faults,
    ops: history.ops.length,
    ...check(c, conductor, history, clients, before, run.steps === null),
    trace: sim.traceHex(),
  };
}

function check(
  c: Cluster,
  conductor: TestConductor,
  history: History,
  clients: readonly SimClient[],
  before: readonly number[],
  complete: boolean,
): { violations: string[]; notes: string[] } {
  const notes: string[] = [];
  const violations: string[] = [];
  const result = checkKv(history.ops);
  for (const key of result.keys) {
    if (key.verdict === 'violation') violations.push(`linearizability ${key.key}: ${key.detail}`);
    if (key.verdict === 'unknown') notes.push(`linearizability ${key.key}: ${key.detail}`);
  }
  c.checker.checkAckedCommitted();
  for (const id of [...conductor.complete].sort((a, b) => a - b)) {
    const replica = c.nodes.get(id)?.replica;
    if (replica !== null && replica !== undefined)
      c.checker.checkHolds(id, replica.log, 'at the end');
  }
  violations.push(...c.checker.violations);
  for (const client of clients) violations.push(...client.anomalies.slice(0, 3));
  if (complete) {
    clients.forEach((client, i) => {
      if (client.completed === before[i]) {
        violations.push(`liveness: client ${client.id} completed nothing after healing`);
      }
    });
    violations.push(...checkConverged(c, conductor));
  }
  const counts = (m: ReadonlyMap<string, number>): string =>
    [...m.entries()]
      .sort()
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
  const w = c.checker.writes;
  notes.push(
    `edicts=${conductor.edicts} activations=${c.checker.activations} acked=${c.acked.length} ` +
      `${counts(conductor.counts)} ${counts(c.checker.persisted)}`,
    `writes committed=${w.committed} pipelined=${w.pipelined} conditional=${w.conditional} ` +
      `condition-failed=${w.conditionFailed} tight-sessions=${c.tightSessions} ` +
      `sessions=${clients.reduce((n, cl) => n + cl.sessions, 0)} ` +
      `stale-answers=${clients.reduce((n, cl) => n + cl.staleAnswers, 0)}`,
    `final government ${JSON.stringify(conductor.government)}`,
  );
  return { violations, notes };
}

/**
 * Liveness: clients stopped a second before the end, so by then every member of the final
 * government (learners too: a backfill must finish) has caught up with its leader's commit index.
 */
function checkConverged(c: Cluster, conductor: TestConductor): string[] {
  const g = conductor.government;
  const leader = g.leader === null ? null : c.nodes.get(g.leader)?.replica;
  if (leader === null || leader === undefined)
    return [`liveness: the final leader ${g.leader} is down`];
  const violations: string[] = [];
  for (const id of [...g.followers, ...g.learners]) {
    const member = c.nodes.get(id)?.replica;
    if (member === null || member === undefined) violations.push(`liveness: member ${id} is down`);
    else if (member.commitIndex < leader.commitIndex) {
      violations.push(
        `liveness: member ${id} of epoch ${g.epoch} is at commit ${member.commitIndex}, ` +
          `its leader at ${leader.commitIndex}`,
      );
    }
  }
  return violations;
}
