/**
 * Scenario `raft`: the metadata log's Raft core (src/core/raft) on 3 or 5 voters plus learners and
 * spare nodes, each on a SimHost with a SimDisk, running a key-value state machine that clients read
 * (through ReadIndex), write and compare-and-set (sim/raft/).
 *
 * Faults: the nemesis injects every kind it has on the Raft network and the hosts — partitions,
 * one-way clogs, drop, duplicate, delay (reordering), crash/restart with loss of unsynced writes and
 * torn tails, clock skew. Meanwhile a membership driver adds learners, promotes them, removes voters
 * (the leader too) and learners, and transfers leadership; and an adversary strikes leaders at the
 * moments Raft's safety argument is about (sim/raft/leader-faults.ts). Clients reach nodes over a
 * second network with latency but no faults, so that an answer such as NOT_LEADER means exactly
 * what it says (a duplicated request could otherwise be proposed twice and answered twice); a
 * node's crash still cuts its clients off, leaving their operations unknown.
 *
 * Phases: safety (faults and changes) for SAFETY_MS; then liveness: heal everything and restart
 * every host; a leader must then commit a fresh probe entry within LIVENESS_BOUND_MS (200 ticks).
 *
 * Checks: election safety, leader completeness, state-machine safety and commit durability
 * (sim/raft/checker.ts) as the run goes; the core's own assertions; log matching at the end of each
 * phase; linearizability of the client history (sim/linearizability.ts); liveness.
 */
import { nodeId } from '../../src/core/lib/ids.js';
import type { Prng } from '../../src/core/lib/prng.js';
import {
  defaultRaftOptions,
  raftBugs,
  type RaftBug,
  type RaftOptions,
} from '../../src/core/raft/index.js';
import { History } from '../history.js';
import { checkKv } from '../linearizability.js';
import { Nemesis, defaultNemesisOptions } from '../nemesis.js';
import { startClient } from '../raft/client.js';
import { RaftSimCluster, type Shape } from '../raft/cluster.js';
import { startMembershipDriver, startProbes, type MembershipStats } from '../raft/drivers.js';
import type { Scenario, ScenarioOutcome, ScenarioRun } from '../scenario.js';
import { Simulator } from '../simulator.js';

const SAFETY_MS = 20_000;
const LIVENESS_MS = 2_500;
/** After healing, a leader must commit a probe within this long: 200 ticks of 10 ms. */
const LIVENESS_BOUND_MS = 2_000;
const CLIENTS = 4;
const CLIENT_ID_BASE = 1000;
/** Keys in use at a time, and how long before clients move on to fresh ones. */
const KEYS = 3;
const KEY_EPOCH_MS = 2_000;
const CLIENT_TIMEOUT_MS = 250;
const CHANGE_INTERVAL_MS = 250;
const PROBE_INTERVAL_MS = 20;
const COMPACT_EVERY = 40;

export const raftScenario: Scenario = {
  name: 'raft',
  description:
    'the metadata log (Raft) with a KV state machine under every fault and membership changes',
  bugs: raftBugs,
  run: runRaft,
};

function drawShape(prng: Prng): Shape {
  const voterCount = prng.chance(0.5) ? 3 : 5;
  const learnerCount = prng.int(2);
  const spareCount = 1 + prng.int(2);
  const ids = Array.from({ length: voterCount + learnerCount + spareCount }, (_, i) =>
    nodeId(i + 1),
  );
  return {
    voters: ids.slice(0, voterCount),
    learners: ids.slice(voterCount, voterCount + learnerCount),
    spares: ids.slice(voterCount + learnerCount),
  };
}

/**
 * The core's options for one seed. Flow-control limits are drawn per seed, from a window of one
 * message (strictly sequential replication, which stretches the time a new leader spends sending an
 * old tail before its own no-op) to a wide pipeline, and messages of one entry to many.
 */
function drawRaftOptions(prng: Prng, bug: string | null): RaftOptions {
  return {
    ...defaultRaftOptions,
    electionTicks: 10,
    heartbeatTicks: 2,
    maxInflightMessages: prng.pick([1, 2, 4, 8]),
    maxMessageBytes: prng.pick([128, 512, 4096]),
    maxInflightBytes: 8192,
    maxPendingReads: 64,
    snapshotRetryTicks: 20,
    bugs: new Set(bug === null ? [] : [bug as RaftBug]),
  };
}

function runRaft(run: ScenarioRun): ScenarioOutcome {
  const sim = new Simulator(run.seed);
  const shapePrng = sim.prng.fork();
  const shape = drawShape(shapePrng);
  const raft = drawRaftOptions(shapePrng, run.bug);
  const maxCrashed = shape.voters.length === 3 ? 1 : 2;
  const cluster = new RaftSimCluster(sim, shape, {
    raft,
    maxCrashed,
    faultsUntilMs: SAFETY_MS,
    compactEvery: COMPACT_EVERY,
  });
  cluster.start();
  const history = new History();
  const stopAt = SAFETY_MS + LIVENESS_MS;
  const clientPrng = sim.prng.fork();
  for (let c = 1; c <= CLIENTS; c++) {
    startClient(CLIENT_ID_BASE + c, {
      sim,
      net: cluster.clientNet,
      history,
      prng: clientPrng.fork(),
      nodes: cluster.ids(),
      keys: KEYS,
      keyEpochMs: KEY_EPOCH_MS,
      timeoutMs: CLIENT_TIMEOUT_MS,
      stopAtMs: stopAt - CLIENT_TIMEOUT_MS,
    });
  }
  const nemesis = new Nemesis(sim, sim.prng.fork(), cluster.raftNet, cluster.hosts, {
    ...defaultNemesisOptions,
    maxCrashed,
  });
  nemesis.start(SAFETY_MS);
  const changes = startMembershipDriver(
    sim,
    sim.prng.fork(),
    cluster,
    CHANGE_INTERVAL_MS,
    SAFETY_MS,
  );

  const stepLimit = run.steps ?? Infinity;
  sim.run({ untilMs: SAFETY_MS, maxSteps: stepLimit });
  cluster.checker.checkLogs(cluster.sorted());
  nemesis.healAll();
  const healedAt = sim.now;
  startProbes(sim, cluster, PROBE_INTERVAL_MS, stopAt);
  sim.run({ untilMs: stopAt + CLIENT_TIMEOUT_MS, maxSteps: Math.max(0, stepLimit - sim.steps) });
  cluster.checker.checkLogs(cluster.sorted());
  history.finish();
  const verdict = judge(cluster, history, changes, healedAt, run.steps === null);
  return {
    steps: sim.steps,
    faults: nemesis.faults + cluster.leaderFaults.strikes,
    ops: history.ops.length,
    ...verdict,
    trace: sim.traceHex(),
  };
}

/** Gathers the checkers' violations and the run's notes. */
function judge(
  cluster: RaftSimCluster,
  history: History,
  changes: MembershipStats,
  healedAt: number,
  checkLiveness: boolean,
): { violations: string[]; notes: string[] } {
  const { shape, options } = cluster;
  const violations = [...cluster.checker.violations];
  const notes = [
    `voters=${shape.voters.length} learners=${shape.learners.length} spares=${shape.spares.length} ` +
      `inflight=${options.raft.maxInflightMessages} messageBytes=${options.raft.maxMessageBytes}`,
    `elections=${cluster.checker.elections} leaderStrikes=${cluster.leaderFaults.strikes} ` +
      `configChanges=${changes.accepted} refused=${changes.refused} transfers=${changes.transfers}`,
  ];
  const result = checkKv(history.ops);
  for (const key of result.keys) {
    if (key.verdict === 'violation') violations.push(`linearizability ${key.key}: ${key.detail}`);
    if (key.verdict === 'unknown') notes.push(`linearizability ${key.key}: ${key.detail}`);
  }
  if (!checkLiveness) return { violations, notes };
  const at = cluster.probeAppliedAt;
  if (at === null)
    violations.push(`liveness: no probe committed in ${LIVENESS_MS} ms after healing`);
  else if (at - healedAt > LIVENESS_BOUND_MS) {
    violations.push(`liveness: the first probe committed ${at - healedAt} ms after healing`);
  } else notes.push(`liveness: a probe committed ${at - healedAt} ms after healing`);
  return { violations, notes };
}
