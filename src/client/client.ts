/**
 * The Edict client: `connect()` returns an {@link EdictClient} that routes each key to its
 * bucket's leader by a cached routing table and retries what is safe to retry.
 *
 * Retries (docs/client.md). An operation has an overall deadline (`timeoutMs`) and at most
 * `attemptsMax` attempts, each with its own deadline (`attemptTimeoutMs`). After `WRONG_LEADER`
 * or `STALE_MAP` the client refreshes its routing table (from the node that answered first) and
 * retries at once at the leader it names; after `UNAVAILABLE`, `QUEUE_FULL`, `TIMEOUT` or
 * `CONNECTION_CLOSED` it refreshes and retries after an exponential backoff with full jitter. Any
 * other error is final.
 *
 * Exactly-once. The first write opens a session (`session.open`: the cluster allocates the client
 * id; one open at a time, concurrent writers wait for it). Every write carries the session stamp
 * (clientId, seq, ackedBelow); a retry reuses the seq, so a write whose first attempt did reach the
 * leader is answered with its first result, not applied twice. If an operation gives up after any
 * attempt whose outcome is unknown, it rejects with `TIMEOUT` (outcome unknown), never with a code
 * that would claim it was not executed.
 *
 * Sessions. `SESSION_EXPIRED` means the key's bucket no longer knows the session (this attempt was
 * not applied). The session is then dropped for every later write. If no earlier attempt of the
 * write may have been applied, the write is sent again at once under a new session with a fresh
 * seq; otherwise its outcome is unknown and it rejects with `TIMEOUT`. `STALE_SEQ` (outcome
 * unknown) is final.
 */
import { randomBytes } from 'node:crypto';
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from '../core/lib/limits.js';
import { EdictError } from '../errors.js';
import type { ClusterStatus, RoutingTable } from '../cluster-types.js';
import { Links } from './links.js';
import {
  resolveComponents,
  resolveOptions,
  type ClientComponents,
  type ClientOptions,
  type ConnectOptions,
  type ResolvedComponents,
} from './options.js';
import { RouteCache } from './routes.js';
import { SessionSeqs } from './session.js';

/** A key: UTF-8 text or raw bytes, 1 to `KEY_BYTES_MAX` bytes. */
export type Key = string | Uint8Array;
/** A value: UTF-8 text or raw bytes, at most `VALUE_BYTES_MAX` bytes. */
export type Value = string | Uint8Array;

/** A value read, with the version of the write that stored it. */
export interface Entry {
  readonly value: Uint8Array;
  readonly version: number;
  /** The value decoded as UTF-8 (invalid sequences become U+FFFD). */
  text(): string;
}

export interface PutOptions {
  /** Compare-and-set: write only if the key's current version is this one. */
  readonly ifVersion?: number;
  /** Create only: write only if the key does not exist. */
  readonly ifAbsent?: boolean;
}

export interface DeleteOptions {
  /** Delete only if the key's current version is this one. */
  readonly ifVersion?: number;
}

export type { ConnectOptions } from './options.js';

/** A session the cluster opened for this client, and the seqs of its writes. */
interface Session {
  readonly clientId: number;
  readonly seqs: SessionSeqs;
  /** A bucket answered SESSION_EXPIRED: later writes open a new session. */
  expired: boolean;
}

/** A write's place in its session: the stamp of every attempt under that session. */
interface Stamped {
  readonly session: Session;
  readonly seq: number;
}

/** Codes after which the client refreshes its routing table and retries. */
const REDIRECTS = new Set(['WRONG_LEADER', 'STALE_MAP']);
const NOT_EXECUTED_RETRIES = new Set(['UNAVAILABLE', 'QUEUE_FULL']);
const UNKNOWN_RETRIES = new Set(['TIMEOUT', 'CONNECTION_CLOSED']);
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();
/** A UTF-16 surrogate without its pair: such a string has no UTF-8 form. */
const LONE_SURROGATE = /\p{Surrogate}/u;

interface Operation {
  readonly type: string;
  readonly key: Uint8Array | null;
  readonly body: Record<string, unknown>;
  /** Whether it changes data (and so carries a session stamp). */
  readonly write: boolean;
}

/**
 * Connects to a cluster: fetches the routing table from the first seed that answers (within
 * `timeoutMs`) and resolves with a client, or rejects with `UNAVAILABLE`. Invalid options reject
 * with `BAD_REQUEST`.
 */
export async function connect(
  options: ConnectOptions,
  components: ClientComponents = {},
): Promise<EdictClient> {
  const client = new EdictClient(resolveOptions(options), resolveComponents(components));
  try {
    await client.refreshMap(null, performance.now() + client.options.timeoutMs, true);
  } catch (error) {
    await client.close();
    throw error;
  }
  return client;
}

/** A connection to an Edict cluster. Safe to share; close it with {@link EdictClient.close}. */
export class EdictClient {
  /** The name this client gives itself in each connection's hello: random, for the nodes' logs. */
  readonly peerId: string;
  private readonly routes = new RouteCache();
  private readonly links: Links;
  /** The session new writes use; null before the first write. An expired one is replaced next. */
  private session: Session | null = null;
  /** The `session.open` in progress, shared by every writer waiting for a session. */
  private opening: Promise<Session> | null = null;
  /** Writes started and not done, across sessions (bounded by `writesInFlightMax`). */
  private writesInFlight = 0;
  private readonly sleeps = new Set<() => void>();
  private refreshing: Promise<void> | null = null;
  private closing: Promise<void> | null = null;

  /** Use {@link connect}. */
  constructor(
    readonly options: ClientOptions,
    private readonly components: ResolvedComponents,
  ) {
    this.peerId = `client-${randomBytes(9).toString('base64url')}`;
    this.links = new Links(components, {
      localId: this.peerId,
      connectionsMax: options.connectionsMax,
      peer: options.peer,
    });
  }

  /**
   * The id of the session new writes use: allocated by the cluster when the first write opens it,
   * replaced when a bucket no longer knows it. Null before the first write.
   */
  get clientId(): number | null {
    return this.session?.clientId ?? null;
  }

  /** The version of the cached routing table. */
  get mapVersion(): number {
    return this.routes.mapVersion;
  }

  /** The cached routing table. */
  get routingTable(): RoutingTable | null {
    return this.routes.current;
  }

  /** Connections open or opening now. */
  get connectionCount(): number {
    return this.links.size;
  }

  /** Reads `key`: its value and version, or null when it does not exist. Linearizable. */
  async get(key: Key): Promise<Entry | null> {
    const bytes = encodeKey(key);
    const body = await this.run({ type: 'kv.get', key: bytes, body: { key: bytes }, write: false });
    if (body === null) return null;
    const { value, version } = (body ?? {}) as Record<string, unknown>;
    if (!(value instanceof Uint8Array)) throw malformed('kv.get');
    return entryOf(value, versionOf(version, 'kv.get'));
  }

  /**
   * Writes `value` under `key` and resolves with the new version. With `ifVersion` or `ifAbsent`,
   * rejects with `CONDITION_FAILED` when the condition does not hold (nothing written).
   */
  async put(key: Key, value: Value, options: PutOptions = {}): Promise<{ version: number }> {
    const bytes = encodeKey(key);
    const data = encodeValue(value);
    const body: Record<string, unknown> = { key: bytes, value: data };
    const ifVersion = checkVersionOption(options.ifVersion);
    if (ifVersion !== undefined) body.ifVersion = ifVersion;
    if (options.ifAbsent === true) {
      if (ifVersion !== undefined) {
        throw new EdictError('BAD_REQUEST', 'ifVersion and ifAbsent never hold together');
      }
      body.ifExists = false;
    }
    const answer = await this.run({ type: 'kv.put', key: bytes, body, write: true });
    return { version: versionOf((answer as Record<string, unknown> | null)?.version, 'kv.put') };
  }

  /**
   * Deletes `key`; resolves with the version of the deletion, or null when the key did not exist.
   * With `ifVersion`, rejects with `CONDITION_FAILED` unless the current version is that one.
   */
  async delete(key: Key, options: DeleteOptions = {}): Promise<{ version: number } | null> {
    const bytes = encodeKey(key);
    const body: Record<string, unknown> = { key: bytes };
    const ifVersion = checkVersionOption(options.ifVersion);
    if (ifVersion !== undefined) body.ifVersion = ifVersion;
    const answer = await this.run({ type: 'kv.delete', key: bytes, body, write: true });
    if (answer === null) return null;
    return { version: versionOf((answer as Record<string, unknown>).version, 'kv.delete') };
  }

  /** The cluster's health, nodes and buckets, as one node sees them. */
  async status(): Promise<ClusterStatus> {
    return (await this.run({
      type: 'cluster.status',
      key: null,
      body: {},
      write: false,
    })) as ClusterStatus;
  }

  /**
   * Fails new operations with `UNAVAILABLE`, ends the backoff of those retrying, and closes every
   * connection once the requests in flight on it are answered. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const wake of [...this.sleeps]) wake();
      await this.links.close();
    })();
    return this.closing;
  }

  /** Runs `operation` with the retry rules of the module comment. */
  private async run(operation: Operation): Promise<unknown> {
    this.throwIfClosed();
    const { options } = this;
    const deadline = performance.now() + options.timeoutMs;
    if (operation.write) this.reserveWrite();
    let stamped: Stamped | null = null;
    let unknown: EdictError | null = null;
    let last: EdictError = new EdictError('TIMEOUT', `no attempt within ${options.timeoutMs} ms`);
    let hint: string | null = null;
    let backoffs = 0;
    try {
      for (let attempt = 0; attempt < options.attemptsMax; attempt += 1) {
        if (deadline - performance.now() < 1 || this.closing !== null) break;
        // Failing to get a session is final: nothing of this write may have been applied.
        if (operation.write && stamped === null) stamped = await this.beginWrite(deadline);
        const remainingMs = Math.floor(deadline - performance.now());
        if (remainingMs <= 0 || this.closing !== null) break;
        const target: string | null = hint ?? this.targetOf(operation.key, attempt);
        hint = null;
        try {
          if (target === null) throw new EdictError('UNAVAILABLE', 'the bucket has no leader');
          const body: Record<string, unknown> = {
            ...operation.body,
            mapVersion: this.routes.mapVersion,
          };
          if (stamped !== null) {
            const { session, seq } = stamped;
            body.session = { clientId: session.clientId, ...session.seqs.stamp(seq) };
          }
          const timeoutMs = Math.min(remainingMs, options.attemptTimeoutMs);
          return await this.links.request(target, operation.type, body, timeoutMs);
        } catch (caught) {
          last = asEdictError(caught);
        }
        if (last.code === 'SESSION_EXPIRED' && stamped !== null) {
          stamped.session.expired = true;
          // An earlier attempt may have been applied before the session was evicted.
          if (unknown !== null) throw giveUp(unknown, last);
          this.components.logger.debug(
            { type: operation.type, attempt, target, clientId: stamped.session.clientId },
            'session expired: retrying under a new session',
          );
          stamped.session.seqs.end(stamped.seq);
          stamped = null;
          hint = target; // it leads the bucket: it knew the session was gone
          continue;
        }
        if (UNKNOWN_RETRIES.has(last.code)) unknown ??= last;
        else if (!REDIRECTS.has(last.code) && !NOT_EXECUTED_RETRIES.has(last.code)) {
          // A node's own answer: for a write retried under its session stamp, the first result.
          throw last;
        }
        this.components.logger.debug(
          { type: operation.type, attempt, target, code: last.code },
          'retrying',
        );
        const details = last.details ?? {};
        if (REDIRECTS.has(last.code)) {
          const newer = typeof details.mapVersion === 'number' ? details.mapVersion : Infinity;
          if (newer > this.routes.mapVersion) await this.refreshMap(target, deadline, false);
          if (typeof details.leaderHint === 'number') {
            const address = this.routes.addressOf(details.leaderHint);
            if (address !== target) hint = address;
          }
          if (hint !== null && attempt === 0) continue; // a fresh lead: go at once, once
        } else {
          void this.refreshMap(null, deadline, false);
        }
        await this.sleep(this.backoffMs(backoffs++), deadline);
      }
    } finally {
      if (stamped !== null) stamped.session.seqs.end(stamped.seq);
      if (operation.write) this.writesInFlight -= 1;
    }
    this.throwIfClosed(unknown);
    throw giveUp(unknown, last);
  }

  /** Counts a write in flight; `QUEUE_FULL` when `writesInFlightMax` already are. */
  private reserveWrite(): void {
    const max = this.options.writesInFlightMax;
    if (this.writesInFlight >= max) {
      throw new EdictError('QUEUE_FULL', `${this.writesInFlight} writes in flight`, {
        writesInFlightMax: max,
      });
    }
    this.writesInFlight += 1;
  }

  /**
   * Gives a write its seq in the current session, opening one first when there is none (or it
   * expired). One `session.open` at a time: concurrent writers wait for the same one. Rejects with
   * `UNAVAILABLE` (the write was not sent) when no session opens before `deadline`.
   */
  private async beginWrite(deadline: number): Promise<Stamped> {
    let session = this.session;
    if (session === null || session.expired) {
      this.opening ??= this.openSession().finally(() => {
        this.opening = null;
      });
      session = await this.untilDeadline(this.opening, deadline);
    }
    return { session, seq: session.seqs.begin() };
  }

  /** Asks any node to open a session, with the retry rules of {@link run}, and installs it. */
  private async openSession(): Promise<Session> {
    let answer: unknown;
    try {
      answer = await this.run({ type: 'session.open', key: null, body: {}, write: false });
    } catch (caught) {
      const error = asEdictError(caught);
      throw new EdictError(
        'UNAVAILABLE',
        `could not open a session: ${error.message}`,
        { sessionCode: error.code },
        { cause: error },
      );
    }
    const { clientId } = (answer ?? {}) as Record<string, unknown>;
    if (typeof clientId !== 'number' || !Number.isSafeInteger(clientId) || clientId < 1) {
      throw new EdictError('UNAVAILABLE', 'could not open a session: malformed answer', {
        sessionCode: 'INTERNAL',
      });
    }
    const session: Session = {
      clientId,
      seqs: new SessionSeqs(this.options.writesInFlightMax),
      expired: false,
    };
    this.session = session;
    return session;
  }

  /** `promise`, or `UNAVAILABLE` if it has not settled by `deadline`. */
  private untilDeadline<T>(promise: Promise<T>, deadline: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new EdictError('UNAVAILABLE', 'no session opened within the deadline')),
        Math.max(0, deadline - performance.now()),
      );
      promise.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  /** The node for attempt `attempt` of an operation on `key`: its bucket's leader, or a seed. */
  private targetOf(key: Uint8Array | null, attempt: number): string | null {
    const route = key === null ? null : this.routes.leaderAddress(key);
    if (route !== null) return route.address;
    const nodes = this.routes.nodeAddresses();
    const pool = nodes.length > 0 ? nodes : this.options.endpoints;
    return pool[attempt % pool.length] as string;
  }

  /**
   * Fetches the routing table, trying `preferred` first, then the nodes of the cached table, then
   * the seeds, until one answers or `deadline`. Concurrent calls share one fetch. Resolves quietly
   * when none answers, unless `mustSucceed` (then `UNAVAILABLE`).
   */
  async refreshMap(
    preferred: string | null,
    deadline: number,
    mustSucceed: boolean,
  ): Promise<void> {
    this.refreshing ??= this.fetchMap(preferred, deadline).finally(() => {
      this.refreshing = null;
    });
    const fetched = this.refreshing;
    try {
      await fetched;
    } catch (error) {
      if (mustSucceed) throw error;
      this.components.logger.debug({ error }, 'routing table refresh failed');
    }
  }

  private async fetchMap(preferred: string | null, deadline: number): Promise<void> {
    const candidates = [
      ...new Set([
        ...(preferred === null ? [] : [preferred]),
        ...this.routes.nodeAddresses(),
        ...this.options.endpoints,
      ]),
    ];
    let last = new EdictError('UNAVAILABLE', 'no node answered with the routing table');
    for (let round = 0; round < this.options.attemptsMax; round += 1) {
      for (const address of candidates) {
        const remainingMs = Math.floor(deadline - performance.now());
        if (remainingMs <= 0 || this.closing !== null) throw last;
        try {
          const timeoutMs = Math.min(remainingMs, this.options.attemptTimeoutMs);
          const table = await this.links.request(address, 'cluster.map', {}, timeoutMs);
          if (this.routes.maybeInstall(table)) {
            this.links.retain(new Set([...this.routes.nodeAddresses(), ...this.options.endpoints]));
          }
          return;
        } catch (error) {
          last = asEdictError(error);
        }
      }
      await this.sleep(this.backoffMs(round), deadline);
    }
    throw new EdictError(
      'UNAVAILABLE',
      `no node answered with the routing table: ${last.message}`,
      {
        lastCode: last.code,
      },
    );
  }

  /** Full jitter under an exponential ceiling (the transport's reconnection rule). */
  private backoffMs(retry: number): number {
    const { backoffBaseMs, backoffMaxMs } = this.options;
    const ceiling = Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.min(retry, 30));
    return Math.floor(this.components.random() * ceiling);
  }

  /** Waits `ms`, but not past `deadline`, and not after `close()`. */
  private sleep(ms: number, deadline: number): Promise<void> {
    const waitMs = Math.max(0, Math.min(ms, deadline - performance.now()));
    if (waitMs === 0 || this.closing !== null) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleeps.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, waitMs);
      this.sleeps.add(wake);
    });
  }

  private throwIfClosed(unknown: EdictError | null = null): void {
    if (this.closing === null) return;
    if (unknown !== null) {
      throw new EdictError('TIMEOUT', 'the client closed with the outcome unknown', {
        unknownCode: unknown.code,
      });
    }
    throw new EdictError('UNAVAILABLE', 'the client is closed');
  }
}

/**
 * The error of an operation out of time or attempts. An earlier attempt may have taken effect even
 * if the last one certainly did not: then the caller must hear "outcome unknown" (`TIMEOUT`).
 */
function giveUp(unknown: EdictError | null, last: EdictError): EdictError {
  if (unknown === null || UNKNOWN_RETRIES.has(last.code)) return last;
  return new EdictError(
    'TIMEOUT',
    `gave up with the outcome unknown: an attempt failed with ${unknown.code}, the last with ${last.code}`,
    { lastCode: last.code, unknownCode: unknown.code },
    { cause: last },
  );
}

function encodeKey(key: Key): Uint8Array {
  const bytes = encodeBytes(key, 'key');
  if (bytes.length === 0) throw new EdictError('BAD_KEY', 'empty key');
  if (bytes.length > KEY_BYTES_MAX) {
    throw new EdictError('KEY_TOO_LARGE', `keys are at most ${KEY_BYTES_MAX} bytes`, {
      keyBytesMax: KEY_BYTES_MAX,
    });
  }
  return bytes;
}

function encodeValue(value: Value): Uint8Array {
  const bytes = encodeBytes(value, 'value');
  if (bytes.length > VALUE_BYTES_MAX) {
    throw new EdictError('VALUE_TOO_LARGE', `values are at most ${VALUE_BYTES_MAX} bytes`, {
      valueBytesMax: VALUE_BYTES_MAX,
    });
  }
  return bytes;
}

function encodeBytes(value: unknown, what: string): Uint8Array {
  if (typeof value === 'string') {
    // TextEncoder would turn a lone surrogate into U+FFFD: two different strings, one key.
    if (LONE_SURROGATE.test(value)) {
      throw new EdictError(
        what === 'key' ? 'BAD_KEY' : 'BAD_REQUEST',
        `the ${what} is not valid UTF-16`,
      );
    }
    return utf8Encoder.encode(value);
  }
  if (value instanceof Uint8Array) return value;
  throw new EdictError('BAD_REQUEST', `the ${what} must be a string or a Uint8Array`);
}

function checkVersionOption(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new EdictError('BAD_REQUEST', 'ifVersion must be a non-negative integer');
  }
  return value;
}

function versionOf(value: unknown, type: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw malformed(type);
  }
  return value;
}

function malformed(type: string): EdictError {
  return new EdictError('INTERNAL', `malformed ${type} response`);
}

function entryOf(value: Uint8Array, version: number): Entry {
  // A plain view, not the transport's Buffer: callers get the type they were promised.
  const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return { value: bytes, version, text: () => utf8Decoder.decode(bytes) };
}

function asEdictError(error: unknown): EdictError {
  if (error instanceof EdictError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new EdictError('INTERNAL', message, undefined, { cause: error });
}
