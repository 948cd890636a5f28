/**
 * An in-memory KvService for testing the front ends: one global version counter, conditions
 * checked like the real service, and per-session deduplication of writes (DESIGN.md 4.5), with the
 * rules of a bucket's session table:
 *
 * - `openSession()` allocates client ids 1, 2, 3, ...;
 * - a write stamped (clientId, seq) is applied at most once and a repeat is answered with the first
 *   result, error included; the results of every seq at or above the session's `ackedBelow` are
 *   kept (pipelined writes may arrive in any order), those below it are forgotten, and a seq below
 *   it is answered `STALE_SEQ`;
 * - `expireSession(id)` evicts a session as a full session table would, raising the eviction floor
 *   to at least `id`: a write under an unknown id at or below the floor is answered
 *   `SESSION_EXPIRED` and not applied.
 *
 * Not a cluster: it has one copy and no durability.
 */
import type {
  ClientSession,
  ClusterStatus,
  KvCallContext,
  KvService,
  RoutingTable,
  Versioned,
  WriteConditions,
} from '../../src/server/kv-service.js';
import { EdictError, type ErrorCode } from '../../src/errors.js';

type Outcome = { ok: true; value: { version: number } | null } | { ok: false; error: unknown };

/** What the service remembers of one client: the results of its writes not yet acknowledged. */
interface SessionState {
  ackedBelow: number;
  readonly results: Map<number, Outcome>;
}

export class MemoryKv implements KvService {
  private readonly data = new Map<string, Versioned>();
  private readonly sessions = new Map<number, SessionState>();
  private version = 0;
  /** The last client id allocated. */
  private lastClientId = 0;
  /** The largest evicted client id (0 when none). */
  evictionFloor = 0;
  /** Sessions opened, for tests. */
  sessionsOpened = 0;
  /** When set, every call rejects with this code (to test error mapping). */
  failWith: string | null = null;
  /** Details of the injected error. */
  failWithDetails: Record<string, unknown> | undefined = undefined;
  /** Writes applied (not answered from the session table); for exactly-once tests. */
  writesApplied = 0;

  private check(key: Uint8Array, c: WriteConditions): Versioned | undefined {
    if (this.failWith !== null)
      throw new EdictError(
        this.failWith as ErrorCode,
        `injected ${this.failWith}`,
        this.failWithDetails,
      );
    const current = this.data.get(Buffer.from(key).toString('hex'));
    if (c.ifExists === true && current === undefined)
      throw new EdictError('CONDITION_FAILED', 'absent');
    if (c.ifExists === false && current !== undefined)
      throw new EdictError('CONDITION_FAILED', 'exists');
    if (c.ifVersion !== undefined && current?.version !== c.ifVersion) {
      throw new EdictError('CONDITION_FAILED', `version is ${current?.version ?? 'none'}`);
    }
    return current;
  }

  /** Applies `write` once per session seq; a repeat gets the recorded outcome. */
  private once<T extends { version: number } | null>(
    session: ClientSession | undefined,
    write: () => T,
  ): T {
    if (session === undefined) return write();
    let state = this.sessions.get(session.clientId);
    if (state === undefined) {
      if (session.clientId <= this.evictionFloor) {
        throw new EdictError('SESSION_EXPIRED', `session ${session.clientId} is unknown here`, {
          clientId: session.clientId,
        });
      }
      state = { ackedBelow: 1, results: new Map() };
      this.sessions.set(session.clientId, state);
    }
    if (session.seq < state.ackedBelow) {
      throw new EdictError('STALE_SEQ', `seq ${session.seq} is below ${state.ackedBelow}`, {
        ackedBelow: state.ackedBelow,
      });
    }
    if (session.ackedBelow > state.ackedBelow) {
      state.ackedBelow = session.ackedBelow;
      for (const seq of [...state.results.keys()]) {
        if (seq < state.ackedBelow) state.results.delete(seq);
      }
    }
    const seen = state.results.get(session.seq);
    if (seen !== undefined) {
      if (seen.ok) return seen.value as T;
      throw seen.error;
    }
    try {
      const value = write();
      state.results.set(session.seq, { ok: true, value });
      return value;
    } catch (error) {
      state.results.set(session.seq, { ok: false, error });
      throw error;
    }
  }

  /** Results remembered for `clientId` (to check that acknowledged ones are forgotten). */
  sessionResults(clientId: number): number {
    return this.sessions.get(clientId)?.results.size ?? 0;
  }

  /** Forgets session `clientId` as an eviction would: the floor rises to at least `clientId`. */
  expireSession(clientId: number): void {
    this.sessions.delete(clientId);
    this.evictionFloor = Math.max(this.evictionFloor, clientId);
  }

  async openSession(): Promise<{ clientId: number }> {
    if (this.failWith !== null) {
      throw new EdictError(
        this.failWith as ErrorCode,
        `injected ${this.failWith}`,
        this.failWithDetails,
      );
    }
    this.lastClientId += 1;
    this.sessionsOpened += 1;
    return { clientId: this.lastClientId };
  }

  async get(key: Uint8Array): Promise<Versioned | null> {
    this.check(key, {});
    return this.data.get(Buffer.from(key).toString('hex')) ?? null;
  }

  async put(
    key: Uint8Array,
    value: Uint8Array,
    c: WriteConditions,
    context?: KvCallContext,
  ): Promise<{ version: number }> {
    return this.once(context?.session, () => {
      this.check(key, c);
      this.version += 1;
      this.writesApplied += 1;
      this.data.set(Buffer.from(key).toString('hex'), { value, version: this.version });
      return { version: this.version };
    });
  }

  async delete(
    key: Uint8Array,
    c: WriteConditions,
    context?: KvCallContext,
  ): Promise<{ version: number } | null> {
    return this.once(context?.session, () => {
      const current = this.check(key, c);
      if (current === undefined) return null;
      this.data.delete(Buffer.from(key).toString('hex'));
      this.version += 1;
      this.writesApplied += 1;
      return { version: this.version };
    });
  }

  async status(): Promise<ClusterStatus> {
    return { health: 'green', mapVersion: 1, nodes: [], buckets: 0, transitions: 0 };
  }

  readonly drained: number[] = [];

  async drain(node: number): Promise<void> {
    if (node > 100) throw new EdictError('UNKNOWN_NODE', `no node ${node}`);
    this.drained.push(node);
  }

  async map(): Promise<RoutingTable> {
    return { mapVersion: 1, nodes: [], buckets: [] };
  }
}
