/**
 * A client of the `raft` scenario's key-value store: one operation at a time (read, write or CAS on
 * a few keys), recorded in the History. It sends writes to the node it believes leads, following
 * NOT_LEADER hints; reads go there too, or to any node (exercising ReadIndex forwarded by followers).
 * A `fail` answer means the operation certainly did not take effect; a timeout leaves it unknown.
 */
import type { NodeId } from '../../src/core/lib/ids.js';
import type { Prng } from '../../src/core/lib/prng.js';
import type { History, KvInput, KvValue } from '../history.js';
import type { SimNetwork } from '../network.js';
import type { Simulator } from '../simulator.js';
import type { ClientWire } from './node.js';

export interface ClientEnv {
  readonly sim: Simulator;
  readonly net: SimNetwork<ClientWire>;
  readonly history: History;
  readonly prng: Prng;
  readonly nodes: readonly NodeId[];
  /** Keys per epoch; a new set of keys every `keyEpochMs`, so each key's history stays short. */
  readonly keys: number;
  readonly keyEpochMs: number;
  /** Give up on an operation after this long (it stays unknown). */
  readonly timeoutMs: number;
  /** Issue no operation at or after this time. */
  readonly stopAtMs: number;
}

export function startClient(id: number, env: ClientEnv): void {
  const { sim, net, history, prng } = env;
  let reqId = 0;
  let guess: NodeId | null = null;
  let current: { reqId: number; op: number } | null = null;
  const lastSeen = new Map<string, KvValue>();

  const next = (delayMs: number): void => {
    sim.schedule(delayMs, `client ${id} think`, issue);
  };

  net.attach(id, (_from, m) => {
    if (m.t === 'req' || current === null || m.reqId !== current.reqId) return;
    const { op } = current;
    current = null;
    if (m.t === 'fail') {
      history.fail(op, sim.now);
      guess = m.leaderHint;
      next(5 + prng.int(10));
      return;
    }
    history.ok(op, m.output, sim.now);
    const key = history.ops[op]?.key;
    if (key !== undefined && m.output.f === 'read') lastSeen.set(key, m.output.value);
    next(prng.int(5));
  });

  const issue = (): void => {
    if (sim.now >= env.stopAtMs) return;
    const key = `e${Math.floor(sim.now / env.keyEpochMs)}.k${prng.int(env.keys)}`;
    const roll = prng.int(10);
    reqId += 1;
    const value = `${id}.${reqId}`;
    const input: KvInput =
      roll < 4
        ? { f: 'read' }
        : roll < 7
          ? { f: 'write', value }
          : { f: 'cas', expected: lastSeen.get(key) ?? null, value };
    const op = history.invoke(id, key, input, sim.now);
    current = { reqId, op };
    const anyNode = input.f === 'read' && prng.chance(0.3);
    const to = guess === null || anyNode ? prng.pick(env.nodes) : guess;
    net.send(id, to, { t: 'req', reqId, key, input }, `req ${input.f}`);
    const mine = reqId;
    sim.schedule(env.timeoutMs, `client ${id} timeout`, () => {
      if (current === null || current.reqId !== mine) return;
      history.unknown(current.op);
      current = null;
      guess = null;
      next(0);
    });
  };
  next(prng.int(20));
}
