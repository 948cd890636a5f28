/**
 * A client of the `cluster` scenario: it opens a session through any node, then issues one
 * operation at a time on a small set of keys spread over the buckets — reads, writes and
 * compare-and-sets — each sent to a random node (which hops it to the bucket's leader) and retried
 * under the same (clientId, seq) until answered or until its deadline.
 *
 * A delete answers whether the key existed (a version, or null), which the history checks.
 * A compare-and-set is expressed the way the client library expresses it: on the version of the
 * value last seen (`ifVersion`), or create-only (`ifExists: false`) when the key was seen absent.
 * Every written value is unique, so "the current version is v" is the same as "the current value
 * is the one written at v", and the history records it as a CAS on values.
 *
 * Outcomes: a write given up on is `unknown` (an attempt may have applied); a write answered with
 * CONDITION_FAILED is a CAS that did not hold; reads given up on `fail` (they change nothing).
 */
import type { KvReply, KvRequest } from '../../src/core/node/messages.js';
import type { Prng } from '../../src/core/lib/prng.js';
import type { History, KvInput, KvOutput } from '../history.js';
import type { SimNetwork } from '../network.js';
import type { Simulator } from '../simulator.js';
import type { ClientWire } from './node.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface ClusterClientOptions {
  readonly keys: readonly string[];
  /** How long one attempt waits for an answer before trying another node. */
  readonly attemptMs: number;
  /** How long an operation may take before the client gives up on it. */
  readonly deadlineMs: number;
  /** Whether version conditions (`ifVersion`) are exercised. */
  readonly versionCas: boolean;
}

interface Current {
  readonly op: number | null;
  readonly input: KvInput | null;
  readonly request: KvRequest;
  readonly deadline: number;
  reqId: number;
}

export class ClusterClient {
  completed = 0;
  readonly anomalies: string[] = [];
  private clientId: number | null = null;
  private seq = 0;
  private nextReqId = 1;
  private current: Current | null = null;
  private readonly lastSeen = new Map<string, { value: string; version: number } | null>();

  constructor(
    readonly id: number,
    private readonly sim: Simulator,
    private readonly network: SimNetwork<ClientWire>,
    private readonly history: History,
    private readonly prng: Prng,
    private readonly nodes: () => readonly number[],
    private readonly options: ClusterClientOptions,
  ) {
    network.attach(id, (_from, m) => {
      if (m.t === 'res') this.onReply(m.reqId, m.reply);
    });
  }

  start(stopAt: number): void {
    const next = (): void => {
      if (this.sim.now >= stopAt) return;
      if (this.current === null) this.issue();
      this.sim.schedule(1 + this.prng.int(8), `client ${this.id} think`, next);
    };
    this.sim.schedule(this.prng.int(10), `client ${this.id} think`, next);
  }

  private issue(): void {
    const deadline = this.sim.now + this.options.deadlineMs;
    if (this.clientId === null) {
      this.current = { op: null, input: null, request: { op: 'open-session' }, deadline, reqId: 0 };
      return this.send();
    }
    const key = this.prng.pick(this.options.keys);
    const roll = this.prng.int(10);
    const seen = this.lastSeen.get(key);
    const value = `${this.id}.${this.seq + 1}`;
    let input: KvInput;
    let request: KvRequest;
    const bytes = encoder.encode(key);
    if (roll < 4) {
      input = { f: 'read' };
      request = { op: 'get', key: bytes };
    } else {
      this.seq += 1;
      const session = { clientId: this.clientId, seq: this.seq, ackedBelow: this.seq };
      const cas = roll >= 8 && seen !== undefined && (seen === null || this.options.versionCas);
      if (roll === 4) {
        input = { f: 'write', value: null };
        request = { op: 'delete', key: bytes, conditions: {}, session };
      } else if (cas) {
        input = { f: 'cas', expected: seen?.value ?? null, value };
        const conditions = seen === null ? { ifExists: false } : { ifVersion: seen.version };
        request = { op: 'put', key: bytes, value: encoder.encode(value), conditions, session };
      } else {
        input = { f: 'write', value };
        request = { op: 'put', key: bytes, value: encoder.encode(value), conditions: {}, session };
      }
    }
    const op = this.history.invoke(this.id, key, input, this.sim.now);
    this.current = { op, input, request, deadline, reqId: 0 };
    this.send();
  }

  private send(): void {
    const current = this.current;
    if (current === null) return;
    if (this.sim.now >= current.deadline) return this.giveUp(current);
    const nodes = this.nodes();
    if (nodes.length === 0) return;
    current.reqId = this.nextReqId++;
    const reqId = current.reqId;
    const to = this.prng.pick(nodes);
    this.network.send(this.id, to, { t: 'req', reqId, request: current.request }, 'req');
    this.sim.schedule(this.options.attemptMs, `client ${this.id} retry`, () => {
      if (this.current === current && current.reqId === reqId) this.send();
    });
  }

  private giveUp(current: Current): void {
    this.current = null;
    if (current.op === null) return;
    if (current.input?.f === 'read') this.history.fail(current.op, this.sim.now);
    else this.history.unknown(current.op);
  }

  private onReply(reqId: number, reply: KvReply): void {
    const current = this.current;
    if (current === null || current.reqId !== reqId) return;
    if (!reply.ok) {
      if (reply.code === 'CONDITION_FAILED' && current.op !== null) {
        return this.done(current, { f: 'cas', ok: false });
      }
      if (reply.code === 'STALE_SEQ' || reply.code === 'SESSION_EXPIRED') {
        this.anomalies.push(`client ${this.id}: ${reply.code} for its current seq ${this.seq}`);
      }
      if (reply.code === 'BAD_REQUEST') {
        this.anomalies.push(`client ${this.id}: BAD_REQUEST ${reply.message}`);
      }
      current.reqId = -1;
      this.sim.schedule(5 + this.prng.int(20), `client ${this.id} retry`, () => {
        if (this.current === current) this.send();
      });
      return;
    }
    if (reply.op === 'open-session') {
      this.clientId = reply.clientId;
      this.current = null;
      return;
    }
    if (reply.op === 'get') {
      const value = reply.value === null ? null : decoder.decode(reply.value);
      const op = this.history.ops[current.op ?? -1];
      if (op !== undefined) {
        this.lastSeen.set(op.key, value === null ? null : { value, version: reply.version });
      }
      return this.done(current, { f: 'read', value });
    }
    if (reply.op === 'delete' && current.input?.f === 'write') {
      const op = this.history.ops[current.op ?? -1];
      if (op !== undefined) this.lastSeen.set(op.key, null);
      return this.done(current, { f: 'write', existed: reply.version !== null });
    }
    if (reply.op === 'put' && current.input !== null && current.input.f !== 'read') {
      const op = this.history.ops[current.op ?? -1];
      const value = current.input.value;
      if (op !== undefined && reply.version !== null && value !== null) {
        this.lastSeen.set(op.key, { value, version: reply.version });
      }
      return this.done(
        current,
        current.input.f === 'cas' ? { f: 'cas', ok: true } : { f: 'write' },
      );
    }
    this.anomalies.push(`client ${this.id}: unexpected reply ${reply.op}`);
  }

  private done(current: Current, output: KvOutput): void {
    if (current.op !== null) this.history.ok(current.op, output, this.sim.now);
    this.completed += 1;
    this.current = null;
  }
}
