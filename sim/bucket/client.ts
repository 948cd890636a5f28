/**
 * A client of the `bucket` scenario: one session (its endpoint is its ClientId), one operation at a
 * time — read, write or CAS on a few keys — recorded in the History for the linearizability checker.
 *
 * An operation is retried with the same (clientId, seq) until it is answered or its deadline passes
 * (then its outcome is unknown and the client moves on to the next seq). Like the client library,
 * it caches the routing table (the leader it last learnt from the conductor's directory) and
 * refreshes it only when an attempt goes unanswered or is refused, so after a failover it keeps
 * talking to the old leader for a while — exactly what the fencing and the leases must make safe.
 * Every other retry goes to a random node instead, which hops it. Error answers mean "not
 * applied", so the client simply retries.
 */
import type { Prng } from '../../src/core/lib/prng.js';
import {
  clientId,
  type BucketId,
  type ClientReply,
  type ClientRequest,
  type NodeId,
  type Position,
} from '../../src/core/bucket/index.js';
import type { History, KvInput, KvOutput, KvValue } from '../history.js';
import type { SimNetwork } from '../network.js';
import type { Simulator } from '../simulator.js';
import type { BucketSimMessage } from './node.js';

export interface ClientOptions {
  readonly keys: readonly string[];
  /** Resend an unanswered attempt after this long. */
  readonly attemptMs: number;
  /** Give up on an operation after this long (its outcome is then unknown). */
  readonly deadlineMs: number;
}

export const defaultClientOptions: ClientOptions = {
  keys: ['k0', 'k1', 'k2', 'k3', 'k4'],
  attemptMs: 60,
  deadlineMs: 1000,
};

/** An acknowledged write: where it sits in the bucket log. */
export interface AckedWrite {
  readonly client: number;
  readonly seq: number;
  readonly at: Position;
}

interface Current {
  readonly op: number;
  readonly request: ClientRequest;
  readonly deadline: number;
  attempt: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class SimClient {
  private seq = 0;
  private requestId = 0;
  private current: Current | null = null;
  private readonly lastSeen = new Map<string, KvValue>();
  /** The cached routing table: the leader this client believes in. */
  private routed: NodeId | null = null;
  /** Operations that completed ok (for the liveness check). */
  completed = 0;
  /** Answers that a correct replica never gives. */
  readonly anomalies: string[] = [];

  constructor(
    readonly id: number,
    private readonly sim: Simulator,
    private readonly network: SimNetwork<BucketSimMessage>,
    private readonly history: History,
    private readonly prng: Prng,
    private readonly bucket: BucketId,
    private readonly nodes: readonly NodeId[],
    private readonly leader: () => NodeId | null,
    private readonly acked: AckedWrite[],
    private readonly options: ClientOptions = defaultClientOptions,
  ) {
    network.attach(id, (_from, m) => {
      if (m.t === 'reply') this.onReply(m.reply);
    });
  }

  /** Issues operations until `stopAt`. */
  start(stopAt: number): void {
    const next = (): void => {
      if (this.sim.now >= stopAt) return;
      if (this.current === null) this.issue();
      this.sim.schedule(1 + this.prng.int(8), `client ${this.id} think`, next);
    };
    this.sim.schedule(this.prng.int(10), `client ${this.id} think`, next);
  }

  private issue(): void {
    const key = this.prng.pick(this.options.keys);
    const roll = this.prng.int(10);
    const value = `${this.id}.${this.seq + 1}`;
    const input: KvInput =
      roll < 4
        ? { f: 'read' }
        : roll < 8
          ? { f: 'write', value }
          : { f: 'cas', expected: this.lastSeen.get(key) ?? null, value };
    const request = this.request(key, input);
    const op = this.history.invoke(this.id, key, input, this.sim.now);
    this.current = { op, request, deadline: this.sim.now + this.options.deadlineMs, attempt: 0 };
    this.send();
  }

  private request(key: string, input: KvInput): ClientRequest {
    const client = clientId(this.id);
    if (input.f === 'read') {
      this.requestId += 1;
      return {
        kind: 'read',
        bucket: this.bucket,
        clientId: client,
        requestId: this.requestId,
        key,
      };
    }
    this.seq += 1;
    const value = encoder.encode(input.value);
    const command =
      input.f === 'write'
        ? ({ op: 'put', key, value } as const)
        : ({
            op: 'cas',
            key,
            expected: input.expected === null ? null : encoder.encode(input.expected),
            value,
          } as const);
    const { seq } = this;
    return { kind: 'write', bucket: this.bucket, clientId: client, seq, ackedBelow: seq, command };
  }

  private send(): void {
    const current = this.current;
    if (current === null) return;
    if (this.sim.now >= current.deadline) {
      this.history.unknown(current.op);
      this.current = null;
      return;
    }
    if (this.routed === null) this.routed = this.leader();
    const routed = this.routed;
    const to = routed !== null && current.attempt % 2 === 0 ? routed : this.prng.pick(this.nodes);
    current.attempt += 1;
    const attempt = current.attempt;
    this.network.send(
      this.id,
      to,
      { t: 'request', request: current.request },
      `request ${current.request.kind}`,
    );
    this.sim.schedule(this.options.attemptMs, `client ${this.id} retry`, () => {
      if (this.current !== current || current.attempt !== attempt) return;
      this.routed = null; // unanswered: look the leader up again
      this.send();
    });
  }

  private onReply(reply: ClientReply): void {
    const current = this.current;
    if (current === null) return;
    const request = current.request;
    const requestId = request.kind === 'read' ? request.requestId : request.seq;
    if (reply.kind !== request.kind || reply.requestId !== requestId) return;
    const body = reply.body;
    if (!body.ok) {
      if (body.code === 'STALE_SEQ' || body.code === 'SESSION_EXPIRED') {
        // The session's newest seq can never be stale, and the table never fills up here.
        this.anomalies.push(`client ${this.id}: ${body.code} for its current seq ${requestId}`);
      }
      // Not applied: retry soon, where the hint says.
      this.routed = body.leaderHint;
      const attempt = current.attempt;
      this.sim.schedule(5 + this.prng.int(10), `client ${this.id} retry`, () => {
        if (this.current === current && current.attempt === attempt) this.send();
      });
      return;
    }
    const output = this.output(body);
    this.history.ok(current.op, output, this.sim.now);
    const op = this.history.ops[current.op];
    if (op !== undefined && output.f === 'read') this.lastSeen.set(op.key, output.value);
    if (body.kind === 'write' && request.kind === 'write') {
      this.acked.push({ client: this.id, seq: request.seq, at: body.result.at });
      if (op !== undefined && (output.f === 'write' || (output.f === 'cas' && output.ok))) {
        const command = request.command;
        this.lastSeen.set(op.key, command.op === 'delete' ? null : decoder.decode(command.value));
      }
    }
    this.completed += 1;
    this.current = null;
  }

  private output(body: Extract<ClientReply['body'], { ok: true }>): KvOutput {
    if (body.kind === 'read') {
      return { f: 'read', value: body.value === null ? null : decoder.decode(body.value.value) };
    }
    const result = body.result;
    return result.op === 'cas' ? { f: 'cas', ok: result.ok } : { f: 'write' };
  }
}
