/**
 * Scenario `register`: the single-leader replicated register of sim/register/replica.ts on three
 * nodes, four clients doing reads, writes and CAS on three keys, and the nemesis injecting every
 * fault kind. A safety phase with faults is followed by a liveness phase with none, which must
 * complete operations. Checks: the client history is linearizable (sim/linearizability.ts), the
 * followers' logs are prefixes of the leader's, and progress after healing.
 */
import type { KvInput, KvValue } from '../history.js';
import { History } from '../history.js';
import { SimDisk } from '../disk.js';
import { SimHost } from '../host.js';
import { checkKv } from '../linearizability.js';
import { Nemesis, defaultNemesisOptions } from '../nemesis.js';
import { SimNetwork } from '../network.js';
import type { Scenario, ScenarioOutcome, ScenarioRun } from '../scenario.js';
import { Simulator } from '../simulator.js';
import { LEADER, Replica, type RegisterMessage } from '../register/replica.js';
import type { Prng } from '../../src/core/lib/prng.js';

const NODES = [1, 2, 3];
const CLIENTS = [101, 102, 103, 104];
const KEYS = ['k0', 'k1', 'k2'];
const SAFETY_MS = 3000;
const LIVENESS_MS = 1500;
const CLIENT_TIMEOUT_MS = 120;

export const registerScenario: Scenario = {
  name: 'register',
  description: 'a single-leader replicated register under every fault; checks linearizability',
  bugs: ['stale-read'],
  run: runRegister,
};

function runRegister(run: ScenarioRun): ScenarioOutcome {
  const sim = new Simulator(run.seed);
  const network = new SimNetwork<RegisterMessage>(sim, sim.prng.fork());
  const replicas = new Map<number, Replica>();
  const diskPrng = sim.prng.fork();
  const fsyncPrng = sim.prng.fork();
  const hosts = NODES.map(
    (id) =>
      new SimHost(sim, id, new SimDisk(diskPrng.fork()), {
        boot: (host) => {
          replicas.set(
            id,
            new Replica({
              host,
              network,
              followers: NODES.filter((n) => n !== LEADER),
              staleReadBug: run.bug === 'stale-read',
              fsyncMs: () => fsyncPrng.range(1, 4),
            }),
          );
        },
        halt: () => {
          network.detach(id);
          replicas.delete(id);
        },
      }),
  );
  for (const host of hosts) host.start();

  const history = new History();
  const clientPrng = sim.prng.fork();
  const stopAt = SAFETY_MS + LIVENESS_MS;
  for (const client of CLIENTS) {
    startClient(client, sim, network, history, clientPrng.fork(), run.bug === 'stale-read', stopAt);
  }
  const nemesis = new Nemesis(sim, sim.prng.fork(), network, hosts, defaultNemesisOptions);
  nemesis.start(SAFETY_MS);
  const stepLimit = run.steps ?? Infinity;
  sim.run({ untilMs: SAFETY_MS, maxSteps: stepLimit });
  nemesis.healAll();
  const opsBeforeLiveness = history.ops.length;
  sim.run({ untilMs: stopAt + CLIENT_TIMEOUT_MS, maxSteps: Math.max(0, stepLimit - sim.steps) });
  history.finish();

  const violations: string[] = [];
  const notes: string[] = [];
  const result = checkKv(history.ops);
  for (const key of result.keys) {
    if (key.verdict === 'violation') violations.push(`linearizability ${key.key}: ${key.detail}`);
    if (key.verdict === 'unknown') notes.push(`linearizability ${key.key}: ${key.detail}`);
  }
  violations.push(...checkLogsAgree(replicas));
  const livenessOk = history.ops.slice(opsBeforeLiveness).some((op) => op.status === 'ok');
  if (run.steps === null && !livenessOk)
    violations.push('liveness: no operation completed after healing');
  return {
    steps: sim.steps,
    faults: nemesis.faults,
    ops: history.ops.length,
    violations,
    notes,
    trace: sim.traceHex(),
  };
}

function checkLogsAgree(replicas: ReadonlyMap<number, Replica>): string[] {
  const leader = replicas.get(LEADER);
  if (leader === undefined) return [];
  const violations: string[] = [];
  for (const [id, replica] of [...replicas].sort((a, b) => a[0] - b[0])) {
    replica.log.forEach((entry, i) => {
      if (JSON.stringify(entry) !== JSON.stringify(leader.log[i])) {
        violations.push(`logs: node ${id} entry ${i + 1} differs from the leader's`);
      }
    });
  }
  return violations.slice(0, 1);
}

/** A client doing one operation at a time, with a timeout after which the outcome is unknown. */
function startClient(
  client: number,
  sim: Simulator,
  network: SimNetwork<RegisterMessage>,
  history: History,
  prng: Prng,
  readAnywhere: boolean,
  stopAt: number,
): void {
  let reqId = 0;
  let current: { reqId: number; op: number } | null = null;
  const lastSeen = new Map<string, KvValue>();
  network.attach(client, (_from, m) => {
    if (current === null || (m.t !== 'res' && m.t !== 'err') || m.reqId !== current.reqId) return;
    const { op } = current;
    current = null;
    if (m.t === 'err') history.fail(op, sim.now);
    else {
      history.ok(op, m.output, sim.now);
      const done = history.ops[op];
      if (done !== undefined && m.output.f === 'read') lastSeen.set(done.key, m.output.value);
    }
    sim.trace(`client ${client} done ${op}`);
    next();
  });
  const next = (): void => {
    sim.schedule(prng.int(6), `client ${client} think`, issue);
  };
  const issue = (): void => {
    if (sim.now >= stopAt) return;
    const key = prng.pick(KEYS);
    const roll = prng.int(10);
    const value = `${client}.${reqId + 1}`;
    const input: KvInput =
      roll < 5
        ? { f: 'read' }
        : roll < 8
          ? { f: 'write', value }
          : { f: 'cas', expected: lastSeen.get(key) ?? null, value };
    reqId += 1;
    const op = history.invoke(client, key, input, sim.now);
    current = { reqId, op };
    const to = readAnywhere && input.f === 'read' ? prng.pick(NODES) : LEADER;
    network.send(client, to, { t: 'req', reqId, key, input }, `req ${input.f} ${key}`);
    const mine = reqId;
    sim.schedule(CLIENT_TIMEOUT_MS, `client ${client} timeout`, () => {
      if (current === null || current.reqId !== mine) return;
      history.unknown(current.op);
      current = null;
      next();
    });
  };
  next();
}
