/**
 * An outbound link to one server address that keeps itself connected: it connects, runs the
 * handshake, and after any failure or loss reconnects with exponential backoff and full jitter
 * (delay drawn uniformly from [0, min(backoffMaxMs, backoffBaseMs * 2^attempt)]). Nodes use one
 * Peer per other node; the client library uses one per node it talks to.
 *
 * While there is no open connection, `request()` waits in a bounded FIFO (`waitingMax`) until a
 * connection opens or its deadline passes (then `UNAVAILABLE`: it was never sent). A full FIFO
 * answers `QUEUE_FULL`. One-way `send()` does not wait: with no open connection it throws
 * `UNAVAILABLE` (replication traffic is resent by its protocol, not by the transport).
 * Requests in flight when a connection drops fail with `CONNECTION_CLOSED` and are not retried
 * here: only the caller knows whether a request is safe to repeat.
 *
 * A `PROTOCOL_VERSION` refusal fails the waiting requests at once (waiting will not help), but
 * reconnection goes on: during a rolling upgrade the other end may soon speak our version.
 */
import { connect } from 'node:net';
import { assert } from '../core/lib/assert.js';
import { EdictError } from '../errors.js';
import { Connection, type RequestOptions } from './connection.js';
import type { MessageHandler, RequestHandler } from './handlers.js';
import {
  defaultConnectionOptions,
  validateConnectionOptions,
  type ConnectionOptions,
  type Logger,
} from './options.js';

export interface PeerOptions extends ConnectionOptions {
  readonly host: string;
  readonly port: number;
  /** Time allowed for the TCP connect and the handshake together, in milliseconds. */
  readonly connectTimeoutMs: number;
  /** Ceiling of the first backoff delay, in milliseconds; it doubles with each failed attempt. */
  readonly backoffBaseMs: number;
  /** Largest backoff delay, in milliseconds. */
  readonly backoffMaxMs: number;
  /** Failed attempts in a row after which the peer gives up ('failed'); Infinity never does. */
  readonly attemptsMax: number;
  /** Most requests waiting for a connection. */
  readonly waitingMax: number;
}

export const defaultPeerOptions: Omit<PeerOptions, 'host' | 'port'> = {
  ...defaultConnectionOptions,
  // A loopback or LAN connect takes under a millisecond; 2 s allows a loaded peer's accept queue.
  connectTimeoutMs: 2_000,
  // A restarted node is usually back within tens of milliseconds to seconds: start fast...
  backoffBaseMs: 50,
  // ...and cap the delay so a returning node is found within about a second of the failure
  // detector's horizon, while a dead one costs at most one attempt per second.
  backoffMaxMs: 1_000,
  // Nodes never give up on each other; the membership layer decides when a node is gone.
  attemptsMax: Number.POSITIVE_INFINITY,
  // As many as a client usually has in flight; beyond, callers learn at once that the node is away.
  waitingMax: 1_024,
};

export type PeerState = 'idle' | 'connecting' | 'open' | 'backoff' | 'failed' | 'stopped';

export interface PeerComponents {
  readonly logger: Logger;
  /** Serves requests the server sends over this link. */
  readonly onRequest?: RequestHandler;
  /** Receives one-way messages the server sends over this link. */
  readonly onMessage?: MessageHandler;
  /** Told of every state change, with the error that caused it if any. */
  readonly onStateChange?: (state: PeerState, reason: EdictError | null) => void;
  /** Uniform in [0, 1); drives the backoff jitter. Defaults to `Math.random`. */
  readonly random?: () => number;
}

export interface PeerInit {
  /** This end's id, sent in the hello. */
  readonly localId: string;
  readonly options: PeerOptions;
}

/** Counters for metrics; they only grow. */
export interface PeerStats {
  /** Handshakes completed. */
  connects: number;
  /** Attempts that failed before the handshake completed. */
  attemptsFailed: number;
  /** Open connections that were lost. */
  disconnects: number;
}

interface Waiting {
  readonly type: string;
  readonly body: unknown;
  /** `performance.now()` time at which the request gives up. */
  readonly deadline: number;
  readonly timer: NodeJS.Timeout;
  readonly resolve: (body: unknown) => void;
  readonly reject: (error: EdictError) => void;
}

/** The backoff before attempt `attempt` (0-based): full jitter under an exponential ceiling. */
export function backoffDelayMs(
  attempt: number,
  options: Pick<PeerOptions, 'backoffBaseMs' | 'backoffMaxMs'>,
  random: () => number,
): number {
  const ceiling = Math.min(
    options.backoffMaxMs,
    options.backoffBaseMs * 2 ** Math.min(attempt, 30),
  );
  return Math.floor(random() * ceiling);
}

export class Peer {
  readonly stats: PeerStats = { connects: 0, attemptsFailed: 0, disconnects: 0 };
  private stateValue: PeerState = 'idle';
  private connectionValue: Connection | null = null;
  /** Failed attempts since the last open connection. */
  private attempts = 0;
  private lastError: EdictError | null = null;
  private readonly waiting = new Map<number, Waiting>();
  private waitingSeq = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  /** Abandons the connection attempt in progress, if any. */
  private abandonAttempt: (() => void) | null = null;
  private readonly random: () => number;
  private readonly address: string;

  constructor(
    private readonly components: PeerComponents,
    private readonly init: PeerInit,
  ) {
    const options = init.options;
    validateConnectionOptions(options);
    assert(options.connectTimeoutMs > 0, 'connectTimeoutMs is positive');
    assert(options.backoffBaseMs > 0, 'backoffBaseMs is positive');
    assert(options.backoffMaxMs >= options.backoffBaseMs, 'backoffMaxMs >= backoffBaseMs');
    assert(options.attemptsMax >= 1, 'attemptsMax is at least 1');
    assert(Number.isSafeInteger(options.waitingMax) && options.waitingMax >= 0, 'waitingMax');
    this.random = components.random ?? Math.random;
    this.address = `${options.host}:${options.port}`;
  }

  get state(): PeerState {
    return this.stateValue;
  }

  /** The open connection, or null. */
  get connection(): Connection | null {
    return this.connectionValue?.state === 'open' ? this.connectionValue : null;
  }

  /** Starts connecting. */
  start(): void {
    assert(this.stateValue === 'idle', `start() of a peer that is ${this.stateValue}`);
    this.attempt();
  }

  /**
   * Stops reconnecting, fails waiting requests with `UNAVAILABLE`, and closes the connection after
   * its pending requests are answered (for up to `closeTimeoutMs`).
   */
  async stop(): Promise<void> {
    if (this.stateValue === 'stopped') return;
    this.setState('stopped', null);
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.abandonAttempt?.();
    this.failWaiting(new EdictError('UNAVAILABLE', `the link to ${this.address} was stopped`));
    const connection = this.connectionValue;
    this.connectionValue = null;
    if (connection !== null) {
      await connection.shutdown();
      await connection.closed;
    }
  }

  /**
   * Sends a request on the open connection, or waits for one (see the module comment). Rejects as
   * `Connection.request()` does, and with `UNAVAILABLE` or `QUEUE_FULL` while disconnected.
   */
  request(type: string, body: unknown, options: RequestOptions = {}): Promise<unknown> {
    const open = this.connection;
    if (open !== null) return open.request(type, body, options);
    // 'open' with no open connection: it has just closed and the reconnection is being scheduled.
    if (
      this.stateValue === 'idle' ||
      this.stateValue === 'failed' ||
      this.stateValue === 'stopped'
    ) {
      return Promise.reject(this.unavailable());
    }
    if (this.waiting.size >= this.init.options.waitingMax) {
      return Promise.reject(
        new EdictError('QUEUE_FULL', `${this.waiting.size} requests wait for ${this.address}`),
      );
    }
    const timeoutMs = options.timeoutMs ?? this.init.options.requestTimeoutMs;
    assert(Number.isFinite(timeoutMs) && timeoutMs > 0, 'request timeout must be positive');
    const seq = this.waitingSeq++;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(seq);
        reject(this.unavailable());
      }, timeoutMs);
      const deadline = performance.now() + timeoutMs;
      this.waiting.set(seq, { type, body, deadline, timer, resolve, reject });
    });
  }

  /** Sends a one-way message on the open connection; throws `UNAVAILABLE` when there is none. */
  send(type: string, body: unknown): void {
    const open = this.connection;
    if (open === null) throw this.unavailable();
    open.send(type, body);
  }

  private attempt(): void {
    this.reconnectTimer = null;
    if (this.stateValue === 'stopped') return;
    this.setState('connecting', null);
    const options = this.init.options;
    const socket = connect({ host: options.host, port: options.port, noDelay: true });
    let connection: Connection | null = null;
    let settled = false;
    const settle = (reason: EdictError | null): void => {
      if (settled) return;
      settled = true;
      this.abandonAttempt = null;
      clearTimeout(timer);
      if (reason === null && connection !== null) return this.opened(connection);
      if (connection !== null) connection.close();
      socket.destroy();
      this.attemptFailed(reason ?? new EdictError('UNAVAILABLE'));
    };
    const timer = setTimeout(() => {
      settle(
        new EdictError(
          'UNAVAILABLE',
          `no connection to ${this.address} within ${options.connectTimeoutMs} ms`,
        ),
      );
    }, options.connectTimeoutMs);
    this.abandonAttempt = () => settle(new EdictError('UNAVAILABLE', 'the link was stopped'));
    socket.once('error', (error) => {
      // The system error code (ECONNREFUSED: nothing listens there) is kept for the caller.
      const cause = (error as NodeJS.ErrnoException).code ?? null;
      settle(
        new EdictError('UNAVAILABLE', `cannot connect to ${this.address}: ${error.message}`, {
          cause,
        }),
      );
    });
    socket.once('connect', () => {
      const { logger, onRequest, onMessage } = this.components;
      connection = new Connection(
        { socket, logger, onRequest, onMessage },
        { role: 'client', localId: this.init.localId, options },
      );
      connection.opened.then(
        () => settle(null),
        (reason: EdictError) => settle(reason),
      );
    });
  }

  private opened(connection: Connection): void {
    if (this.stateValue === 'stopped') {
      connection.close();
      return;
    }
    this.stats.connects += 1;
    this.attempts = 0;
    this.lastError = null;
    this.connectionValue = connection;
    this.setState('open', null);
    void connection.closed.then((reason) => this.lost(connection, reason));
    this.releaseWaiting(connection);
  }

  /** Sends the waiting requests, in order, each with what is left of its deadline. */
  private releaseWaiting(connection: Connection): void {
    const now = performance.now();
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      const timeoutMs = w.deadline - now;
      if (timeoutMs <= 0) w.reject(this.unavailable());
      else connection.request(w.type, w.body, { timeoutMs }).then(w.resolve, w.reject);
    }
    this.waiting.clear();
  }

  private lost(connection: Connection, reason: EdictError): void {
    if (this.connectionValue !== connection) return;
    this.connectionValue = null;
    this.stats.disconnects += 1;
    this.lastError = reason;
    this.components.logger.info({ peer: this.address, code: reason.code }, 'connection lost');
    this.scheduleReconnect(reason);
  }

  private attemptFailed(reason: EdictError): void {
    this.stats.attemptsFailed += 1;
    this.attempts += 1;
    this.lastError = reason;
    if (this.stateValue === 'stopped') return;
    if (reason.code === 'PROTOCOL_VERSION') this.failWaiting(reason);
    if (this.attempts >= this.init.options.attemptsMax) {
      this.setState('failed', reason);
      this.failWaiting(this.unavailable());
      return;
    }
    this.scheduleReconnect(reason);
  }

  private scheduleReconnect(reason: EdictError): void {
    if (this.stateValue === 'stopped') return;
    this.setState('backoff', reason);
    const delayMs = backoffDelayMs(this.attempts, this.init.options, this.random);
    this.components.logger.debug(
      { peer: this.address, attempt: this.attempts, delayMs, code: reason.code },
      'reconnecting after a backoff',
    );
    this.reconnectTimer = setTimeout(() => this.attempt(), delayMs);
  }

  private failWaiting(error: EdictError): void {
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.reject(error);
    }
    this.waiting.clear();
  }

  private unavailable(): EdictError {
    const why = this.lastError === null ? this.stateValue : this.lastError.message;
    return new EdictError('UNAVAILABLE', `no connection to ${this.address} (${why})`, {
      peer: this.address,
      ...(this.lastError === null ? {} : { lastCode: this.lastError.code }),
    });
  }

  private setState(state: PeerState, reason: EdictError | null): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    this.components.onStateChange?.(state, reason);
  }
}
