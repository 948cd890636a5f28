/**
 * A client of the `bucket` scenario: one session (its endpoint is its ClientId) with up to
 * `pipelineMax` operations in flight at once — reads, puts, deletes, conditional puts and deletes
 * (`ifVersion`, `ifExists`) and CAS on a few keys — recorded in the History for the
 * linearizability checker.
 *
 * Writes take their seqs from the client library's SessionSeqs (src/client/session.ts), so every
 * attempt carries `ackedBelow`: the lowest seq still in flight. With `tightSessions`, a session
 * the replicas evicted answers SESSION_EXPIRED: the write's outcome is unknown, and the client
 * opens a new session with a fresh, larger id (its new network endpoint). A write is retried with the same seq
 * until it is answered or its deadline passes (then its outcome is unknown and the seq is given
 * up on, which lets the floor pass it). Like the client library, the client caches the routing
 * table (the leader it last learnt from the conductor's directory) and refreshes it only when an
 * attempt goes unanswered or is refused, so after a failover it keeps talking to the old leader for
 * a while — exactly what the fencing and the leases must make safe. Every other retry goes to a
 * random node instead, which hops it. Error answers mean "not applied", so the client retries.
 *
 * Conditions in the history: every written value is unique (`client.seq`), so "the key's version is
 * v" is "the key holds the value written at v", and a write with `ifVersion: v` is recorded as a
 * CAS expecting that value (`ifExists: false` as a CAS expecting absence). A delete is a write of
 * null whose answer says whether the key existed. The version a condition names comes from the
 * client's last read of the key or its last acknowledged put of it.
 */
import type { Prng } from '../../src/core/lib/prng.js';
import { SessionSeqs } from '../../src/client/session.js';
import {
  clientId,
  type BucketId,
  type ClientReply,
  type ClientRequest,
  type KvCommand,
  type NodeId,
  type Position,
  type WriteResult,
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
  /** Operations in flight at once. */
  readonly pipelineMax: number;
  /**
   * The replicas' session table is small enough to evict sessions and overflow result windows:
   * SESSION_EXPIRED (then a new session) and STALE_SEQ are expected answers, with unknown outcome.
   * Otherwise they are anomalies.
   */
  readonly tightSessions: boolean;
}

export const defaultClientOptions: ClientOptions = {
  keys: ['k0', 'k1', 'k2', 'k3', 'k4'],
  attemptMs: 60,
  deadlineMs: 1000,
  pipelineMax: 3,
  tightSessions: false,
};

/** An acknowledged write: where it sits in the bucket log. */
export interface AckedWrite {
  readonly client: number;
  readonly seq: number;
  readonly at: Position;
}

/** What the client last saw of a key: its value, and its version when known. */
interface Seen {
  readonly value: KvValue;
  readonly version: number | null;
}

/** A session: its id (also the client's network endpoint for its replies) and its seqs. */
interface Session {
  readonly id: number;
  readonly seqs: SessionSeqs;
}

type Pending =
  | { readonly kind: 'read'; readonly requestId: number; readonly key: string }
  | { readonly kind: 'write'; readonly seq: number; readonly command: KvCommand };

interface Current {
  readonly op: number;
  readonly session: Session;
  readonly pending: Pending;
  readonly deadline: number;
  attempt: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class SimClient {
  private session: Session;
  private requestId = 0;
  /** Operations in flight, by `<session>:r<requestId>` or `<session>:w<seq>`. */
  private readonly inFlight = new Map<string, Current>();
  private readonly lastSeen = new Map<string, Seen>();
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
    /** Allocates a new session id, larger than every id allocated before (cluster-wide). */
    private readonly newSessionId: () => number,
    private readonly options: ClientOptions = defaultClientOptions,
  ) {
    this.session = this.open(id);
  }

  /** Sessions opened (the first one included). */
  sessions = 0;
  /** STALE_SEQ answers (only with tightSessions). */
  staleAnswers = 0;

  private open(sessionId: number): Session {
    this.sessions += 1;
    this.network.attach(sessionId, (_from, m) => {
      if (m.t === 'reply') this.onReply(m.reply);
    });
    return { id: sessionId, seqs: new SessionSeqs(this.options.pipelineMax) };
  }

  /** Issues operations until `stopAt`. */
  start(stopAt: number): void {
    const next = (): void => {
      if (this.sim.now >= stopAt) return;
      if (this.inFlight.size < this.options.pipelineMax) this.issue();
      this.sim.schedule(1 + this.prng.int(8), `client ${this.id} think`, next);
    };
    this.sim.schedule(this.prng.int(10), `client ${this.id} think`, next);
  }

  private issue(): void {
    const key = this.prng.pick(this.options.keys);
    const roll = this.prng.int(20);
    if (roll < 7) {
      this.requestId += 1;
      const pending = { kind: 'read', requestId: this.requestId, key } as const;
      return this.begin(`r${this.requestId}`, key, { f: 'read' }, pending);
    }
    const seq = this.session.seqs.begin();
    const value = `${this.id}.${seq}`;
    const bytes = encoder.encode(value);
    const seen = this.lastSeen.get(key);
    const version = seen?.version ?? null;
    let input: KvInput;
    let command: KvCommand;
    if (roll < 11) {
      input = { f: 'write', value };
      command = { op: 'put', key, value: bytes };
    } else if (roll < 14 && seen !== undefined && version !== null) {
      input = { f: 'cas', expected: seen.value, value };
      command = { op: 'put', key, value: bytes, ifVersion: version };
    } else if (roll < 15) {
      input = { f: 'cas', expected: null, value };
      command = { op: 'put', key, value: bytes, ifExists: false };
    } else if (roll < 16 && seen !== undefined && version !== null) {
      input = { f: 'cas', expected: seen.value, value: null };
      command = { op: 'delete', key, ifVersion: version };
    } else if (roll < 17) {
      input = { f: 'write', value: null };
      command = { op: 'delete', key };
    } else {
      const expected = seen?.value ?? null;
      input = { f: 'cas', expected, value };
      command = {
        op: 'cas',
        key,
        expected: expected === null ? null : encoder.encode(expected),
        value: bytes,
      };
    }
    this.begin(`w${seq}`, key, input, { kind: 'write', seq, command });
  }

  private begin(name: string, key: string, input: KvInput, pending: Pending): void {
    const op = this.history.invoke(this.id, key, input, this.sim.now);
    const session = this.session;
    const deadline = this.sim.now + this.options.deadlineMs;
    const current = { op, session, pending, deadline, attempt: 0 };
    const id = `${session.id}:${name}`;
    this.inFlight.set(id, current);
    this.send(id, current);
  }

  /** The request for the next attempt: a write carries the session's current stamp. */
  private request(current: Current): ClientRequest {
    const { pending, session } = current;
    const client = clientId(session.id);
    if (pending.kind === 'read') {
      const { requestId, key } = pending;
      return { kind: 'read', bucket: this.bucket, clientId: client, requestId, key };
    }
    const { seq, ackedBelow } = session.seqs.stamp(pending.seq);
    const command = pending.command;
    return { kind: 'write', bucket: this.bucket, clientId: client, seq, ackedBelow, command };
  }

  private finish(id: string, current: Current): void {
    this.inFlight.delete(id);
    if (current.pending.kind === 'write') current.session.seqs.end(current.pending.seq);
  }

  private send(id: string, current: Current): void {
    if (this.inFlight.get(id) !== current) return;
    if (this.sim.now >= current.deadline) {
      this.history.unknown(current.op);
      this.finish(id, current);
      return;
    }
    if (this.routed === null) this.routed = this.leader();
    const routed = this.routed;
    const to = routed !== null && current.attempt % 2 === 0 ? routed : this.prng.pick(this.nodes);
    current.attempt += 1;
    const attempt = current.attempt;
    const request = this.request(current);
    this.network.send(this.id, to, { t: 'request', request }, `request ${request.kind}`);
    this.sim.schedule(this.options.attemptMs, `client ${this.id} retry`, () => {
      if (this.inFlight.get(id) !== current || current.attempt !== attempt) return;
      this.routed = null; // unanswered: look the leader up again
      this.send(id, current);
    });
  }

  private onReply(reply: ClientReply): void {
    const id = `${reply.clientId}:${reply.kind === 'read' ? 'r' : 'w'}${reply.requestId}`;
    const current = this.inFlight.get(id);
    if (current === undefined) return;
    const body = reply.body;
    if (!body.ok) {
      if (body.code === 'STALE_SEQ' || body.code === 'SESSION_EXPIRED') {
        if (!this.options.tightSessions) {
          // A seq in flight is never below the floor (ackedBelow never passes it, and the result
          // window is far larger than the pipeline), and the table never fills up here.
          this.anomalies.push(`client ${this.id}: ${body.code} for ${id}`);
        } else {
          // Evicted, or below a floor the result window raised: the outcome is unknown.
          if (body.code === 'STALE_SEQ') this.staleAnswers += 1;
          if (body.code === 'SESSION_EXPIRED' && current.session === this.session) {
            this.session = this.open(this.newSessionId());
          }
          this.history.unknown(current.op);
          this.finish(id, current);
          return;
        }
      }
      // Not applied: retry soon, where the hint says.
      this.routed = body.leaderHint;
      const attempt = current.attempt;
      this.sim.schedule(5 + this.prng.int(10), `client ${this.id} retry`, () => {
        if (current.attempt === attempt) this.send(id, current);
      });
      return;
    }
    const pending = current.pending;
    const op = this.history.ops[current.op];
    if (body.kind === 'read' && pending.kind === 'read') {
      const value = body.value === null ? null : decoder.decode(body.value.value);
      this.history.ok(current.op, { f: 'read', value }, this.sim.now);
      this.lastSeen.set(pending.key, { value, version: body.value?.version ?? null });
    } else if (body.kind === 'write' && pending.kind === 'write' && op !== undefined) {
      const output = this.output(pending.command, body.result);
      if (output === null) return;
      this.history.ok(current.op, output, this.sim.now);
      this.acked.push({ client: current.session.id, seq: pending.seq, at: body.result.at });
      if (body.result.ok) this.sawWrite(pending.command, body.result);
    } else {
      this.anomalies.push(`client ${this.id}: a ${body.kind} answer to ${id}`);
      return;
    }
    this.completed += 1;
    this.finish(id, current);
  }

  /** The history's output for a write's result; null (and an anomaly) when it cannot be. */
  private output(command: KvCommand, result: WriteResult): KvOutput | null {
    if (result.op !== command.op) {
      this.anomalies.push(`client ${this.id}: a ${result.op} result for a ${command.op}`);
      return null;
    }
    const conditional =
      command.op === 'cas' || command.ifVersion !== undefined || command.ifExists !== undefined;
    if (conditional) return { f: 'cas', ok: result.ok };
    if (!result.ok) {
      this.anomalies.push(`client ${this.id}: an unconditional ${command.op} was refused`);
      return null;
    }
    return result.op === 'delete' ? { f: 'write', existed: result.existed } : { f: 'write' };
  }

  /** Remembers what an acknowledged, successful write left in its key. */
  private sawWrite(command: KvCommand, result: WriteResult): void {
    if (command.op === 'delete') this.lastSeen.set(command.key, { value: null, version: null });
    else
      this.lastSeen.set(command.key, {
        value: decoder.decode(command.value),
        version: result.at.index,
      });
  }
}
