/**
 * One established TCP connection speaking Edict's wire protocol (docs/protocols.md). Both ends are
 * the same class: either end may send requests and one-way messages, and either may serve them. The
 * end that connected ('client' role) sends its hello first; the end that accepted ('server') answers
 * with the negotiated version, or with a goodbye and a close.
 *
 * Contracts:
 * - Requests are pipelined: any number up to `requestsPendingMax` may be outstanding; responses are
 *   matched by id and may arrive in any order. Each request has a deadline (`TIMEOUT`).
 * - Incoming requests and messages are handed to the handlers in arrival order. Responses are sent
 *   as handlers finish, in any order. One-way messages are handled in order; a message handler that
 *   returns a promise counts against `handlingMax` until it settles.
 * - Back-pressure, sending: the outbound queue is bounded by bytes. `request()` and `send()` fail
 *   fast with `QUEUE_FULL` when a frame does not fit; nothing is queued then, so the request
 *   certainly had no effect. A caller that prefers to wait calls `whenDrained()` and tries again.
 * - Back-pressure, receiving: when `handlingMax` handlers are running, or the outbound queue is
 *   over its bound (the peer is not reading our responses), the connection stops reading the
 *   socket; TCP flow control then slows the sender. Frames already read wait in arrival order.
 * - A malformed or oversized frame, or a protocol violation, closes the connection after a goodbye
 *   frame carrying the typed error. Requests still pending when a connection closes fail with
 *   `CONNECTION_CLOSED` (outcome unknown), or with the handshake's error if it never opened (then
 *   nothing was executed).
 */
import type { Socket } from 'node:net';
import { AssertionError, assert } from '../core/lib/assert.js';
import { EdictError } from '../errors.js';
import {
  decodeEnvelope,
  encodeFrameOf,
  PEER_ID_LENGTH_MAX,
  PROTOCOL_VERSION_MAX,
  PROTOCOL_VERSION_MIN,
  TYPE_LENGTH_MAX,
  type Envelope,
  type GoodbyeEnvelope,
  type HelloEnvelope,
  type MessageEnvelope,
  type RequestEnvelope,
} from './codec.js';
import { FRAME_HEADER_BYTES, FrameDecoder } from './frame.js';
import { validateConnectionOptions, type ConnectionOptions, type Logger } from './options.js';
import { negotiateVersion } from './handshake.js';
import type { MessageHandler, RequestContext, RequestHandler } from './handlers.js';
import { Outbox } from './outbox.js';
import { PendingRequests } from './pending.js';

export interface ConnectionComponents {
  /** A connected socket; the connection owns it from now on. */
  readonly socket: Socket;
  readonly logger: Logger;
  /** Serves incoming requests; without it, every request is answered `BAD_REQUEST`. */
  readonly onRequest?: RequestHandler;
  /** Receives one-way messages; without it, they are counted and dropped. */
  readonly onMessage?: MessageHandler;
  /** Called when the handshake completes, before any request or message is dispatched. */
  readonly onOpen?: (connection: Connection) => void;
}

export interface ConnectionInit {
  /** 'client' sends the first hello; 'server' waits for it. */
  readonly role: 'client' | 'server';
  /** This end's id, sent in the hello. */
  readonly localId: string;
  readonly options: ConnectionOptions;
}

export interface RequestOptions {
  /** Deadline in milliseconds; defaults to the connection's `requestTimeoutMs`. */
  readonly timeoutMs?: number;
}

export type ConnectionState = 'handshaking' | 'open' | 'closing' | 'closed';

/** Counters for metrics; they only grow. */
export interface ConnectionStats {
  requestsSent: number;
  requestsTimedOut: number;
  /** Responses whose request had already timed out. */
  responsesLate: number;
  requestsHandled: number;
  messagesSent: number;
  messagesReceived: number;
  /** Messages dropped because no message handler was given. */
  messagesDropped: number;
  /** Times reading was paused for back-pressure. */
  readPauses: number;
}

export class Connection {
  readonly remoteAddress: string;
  readonly stats: ConnectionStats = {
    requestsSent: 0,
    requestsTimedOut: 0,
    responsesLate: 0,
    requestsHandled: 0,
    messagesSent: 0,
    messagesReceived: 0,
    messagesDropped: 0,
    readPauses: 0,
  };
  /** Resolves when the handshake completes; rejects with the reason if the connection closes first. */
  readonly opened: Promise<void>;
  /** Resolves, never rejects, once the connection is closed, with the reason. */
  readonly closed: Promise<EdictError>;

  private stateValue: ConnectionState = 'handshaking';
  private peer: { readonly id: string; readonly version: number } | null = null;
  private context: RequestContext | null = null;
  private readonly socket: Socket;
  private readonly logger: Logger;
  private readonly options: ConnectionOptions;
  private readonly decoder: FrameDecoder;
  private readonly outbox: Outbox;
  private readonly pending: PendingRequests;
  private handling = 0;
  /** Incoming requests and messages read while at capacity, in arrival order. */
  private deferred: Array<RequestEnvelope | MessageEnvelope> = [];
  /** Index of the first deferred envelope not yet dispatched. */
  private deferredHead = 0;
  private readingPaused = false;
  private readonly abort = new AbortController();
  private helloTimer: NodeJS.Timeout | null = null;
  /** Set while `shutdown()` waits for in-flight work to end. */
  private onIdle: (() => void) | null = null;
  private destroyTimer: NodeJS.Timeout | null = null;
  private settleOpened!: (error: EdictError | null) => void;
  private resolveClosed!: (reason: EdictError) => void;

  constructor(
    private readonly components: ConnectionComponents,
    private readonly init: ConnectionInit,
  ) {
    validateConnectionOptions(init.options);
    assert(init.localId.length <= PEER_ID_LENGTH_MAX, 'localId is at most 256 characters');
    this.socket = components.socket;
    this.logger = components.logger;
    this.options = init.options;
    this.remoteAddress = `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}`;
    this.decoder = new FrameDecoder(this.options.helloBytesMax);
    this.outbox = new Outbox(this.socket, this.options.outboundBytesMax, () => this.maybeResume());
    this.pending = new PendingRequests(this.options.requestsPendingMax, this.stats, () =>
      this.maybeIdle(),
    );
    this.opened = new Promise<void>((resolve, reject) => {
      this.settleOpened = (error) => (error === null ? resolve() : reject(error));
    });
    this.opened.catch(() => undefined); // awaiting it is optional
    this.closed = new Promise<EdictError>((resolve) => (this.resolveClosed = resolve));
    this.attach();
    if (init.role === 'client') {
      this.sendFrame({
        kind: 'hello',
        versionMin: PROTOCOL_VERSION_MIN,
        versionMax: PROTOCOL_VERSION_MAX,
        peerId: init.localId,
      });
    }
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  /** The peer's id from its hello, or null before the handshake. */
  get peerId(): string | null {
    return this.peer?.id ?? null;
  }

  /** The negotiated protocol version, or null before the handshake. */
  get protocolVersion(): number | null {
    return this.peer?.version ?? null;
  }

  /** Requests sent and not yet answered. */
  get pendingRequests(): number {
    return this.pending.size;
  }

  /** Incoming requests and messages being handled or waiting for a slot. */
  get handlingRequests(): number {
    return this.handling + this.deferredCount();
  }

  /** Bytes in the outbound queue, including the socket's write buffer. */
  get outboundBytes(): number {
    return this.outbox.bytes;
  }

  /**
   * Sends a request and resolves with the response body. Rejects with `QUEUE_FULL` (too many
   * pending requests, or the outbound queue is full), `BAD_REQUEST` (the body is not plain data),
   * `FRAME_TOO_LARGE`, `UNAVAILABLE` (the connection is closing or closed): in all these the
   * request was not sent. Rejects with `TIMEOUT` or `CONNECTION_CLOSED` when the outcome is unknown,
   * or with the error the peer answered.
   */
  request(type: string, body: unknown, options: RequestOptions = {}): Promise<unknown> {
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    assert(Number.isFinite(timeoutMs) && timeoutMs > 0, 'request timeout must be positive');
    assertType(type);
    if (this.pending.full) {
      return Promise.reject(
        new EdictError('QUEUE_FULL', `${this.pending.size} requests pending`, {
          requestsPendingMax: this.options.requestsPendingMax,
        }),
      );
    }
    const id = this.pending.nextFreeId();
    try {
      this.queueBounded({ kind: 'request', id, type, body });
    } catch (error) {
      return Promise.reject(error);
    }
    this.stats.requestsSent += 1;
    return this.pending.add(id, type, timeoutMs);
  }

  /**
   * Sends a one-way message. Throws `QUEUE_FULL`, `BAD_REQUEST`, `FRAME_TOO_LARGE` or `UNAVAILABLE`
   * as `request()` does; a message that did not throw is queued, but delivery is not confirmed.
   */
  send(type: string, body: unknown): void {
    assertType(type);
    this.queueBounded({ kind: 'message', type, body });
    this.stats.messagesSent += 1;
  }

  /**
   * Resolves when the outbound queue is empty (everything handed to the kernel): the moment to
   * retry after `QUEUE_FULL`. Rejects if the connection closes first.
   */
  whenDrained(): Promise<void> {
    return this.outbox.whenDrained();
  }

  /**
   * Closes now. With `reason`, the peer is told why in a goodbye frame first. Pending requests
   * fail; frames already queued are still written, for up to `closeTimeoutMs`.
   */
  close(reason?: EdictError): void {
    this.shut(
      reason ?? new EdictError('CONNECTION_CLOSED', 'closed by this end'),
      reason !== undefined,
    );
  }

  /**
   * Closes gracefully: new incoming requests are answered `UNAVAILABLE`; once running handlers and
   * this end's pending requests are done, or after `timeoutMs`, the connection closes with a
   * goodbye saying `UNAVAILABLE`.
   */
  async shutdown(timeoutMs: number = this.options.closeTimeoutMs): Promise<void> {
    if (this.stateValue === 'closed') return;
    if (this.stateValue === 'open') this.stateValue = 'closing';
    if (!this.idle()) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.onIdle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.onIdle = null;
    }
    this.close(new EdictError('UNAVAILABLE', 'the peer is shutting down'));
  }

  private attach(): void {
    const socket = this.socket;
    socket.setNoDelay(true);
    if (this.options.keepAliveMs > 0) socket.setKeepAlive(true, this.options.keepAliveMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error: Error) => {
      const reason = new EdictError('CONNECTION_CLOSED', `socket error: ${error.message}`);
      this.finish(reason);
    });
    socket.on('close', () => {
      if (this.destroyTimer !== null) clearTimeout(this.destroyTimer);
      this.finish(new EdictError('CONNECTION_CLOSED', 'closed by the peer'));
    });
    this.helloTimer = setTimeout(() => {
      this.fail(new EdictError('TIMEOUT', `no hello within ${this.options.helloTimeoutMs} ms`));
    }, this.options.helloTimeoutMs);
  }

  private onData(chunk: Buffer): void {
    if (this.stateValue === 'closed') return;
    try {
      this.decoder.push(chunk, (payload) => this.onFrame(payload));
    } catch (error) {
      if (!(error instanceof EdictError)) {
        this.socket.destroy();
        throw error;
      }
      this.fail(error);
    }
  }

  private onFrame(payload: Buffer): void {
    if (this.stateValue === 'closed') return;
    const envelope = decodeEnvelope(payload, this.options.codec);
    switch (envelope.kind) {
      case 'hello':
        return this.onHello(envelope);
      case 'goodbye':
        this.logger.debug({ remote: this.remoteAddress, code: envelope.error.code }, 'goodbye');
        return this.shut(envelope.error, false);
      default:
        if (this.stateValue === 'handshaking') {
          throw new EdictError('MALFORMED_FRAME', `${envelope.kind} before the handshake`);
        }
        return this.onEnvelope(envelope);
    }
  }

  private onEnvelope(envelope: Exclude<Envelope, HelloEnvelope | GoodbyeEnvelope>): void {
    switch (envelope.kind) {
      case 'response':
        return this.pending.settle(envelope.id, envelope.body, null);
      case 'error':
        return this.pending.settle(envelope.id, undefined, envelope.error);
      case 'request':
      case 'message':
        if (this.deferredCount() > 0 || !this.hasCapacity()) {
          this.deferred.push(envelope);
          this.pauseReading();
          return;
        }
        return this.dispatch(envelope);
    }
  }

  private onHello(hello: HelloEnvelope): void {
    if (this.stateValue !== 'handshaking') {
      throw new EdictError('MALFORMED_FRAME', 'a second hello');
    }
    const version = negotiateVersion(this.init.role, hello);
    if (this.init.role === 'server') {
      this.sendFrame({
        kind: 'hello',
        versionMin: version,
        versionMax: version,
        peerId: this.init.localId,
      });
    }
    if (this.helloTimer !== null) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    this.peer = { id: hello.peerId, version };
    this.context = {
      connection: this,
      peerId: hello.peerId,
      protocolVersion: version,
      remoteAddress: this.remoteAddress,
      signal: this.abort.signal,
    };
    this.decoder.frameBytesMax = this.options.frameBytesMax;
    this.stateValue = 'open';
    this.components.onOpen?.(this);
    this.settleOpened(null);
  }

  private dispatch(envelope: RequestEnvelope | MessageEnvelope): void {
    const context = this.context;
    assert(context !== null, 'dispatch before the handshake');
    if (envelope.kind === 'message') return this.dispatchMessage(envelope, context);
    const handler = this.components.onRequest;
    if (this.stateValue === 'closing' || handler === undefined) {
      const error =
        handler === undefined
          ? new EdictError('BAD_REQUEST', 'this end serves no requests')
          : new EdictError('UNAVAILABLE', 'the peer is shutting down');
      return this.sendFrame({ kind: 'error', id: envelope.id, error });
    }
    this.handling += 1;
    let result: Promise<unknown>;
    try {
      result = handler({ type: envelope.type, body: envelope.body }, context);
    } catch (error) {
      result = Promise.reject(error);
    }
    result.then(
      (body) => this.respond(envelope.id, body),
      (error: unknown) => this.respondError(envelope.id, envelope.type, error),
    );
  }

  private dispatchMessage(envelope: MessageEnvelope, context: RequestContext): void {
    this.stats.messagesReceived += 1;
    const handler = this.components.onMessage;
    if (handler === undefined) {
      this.stats.messagesDropped += 1;
      return;
    }
    let result: void | Promise<void>;
    try {
      result = handler({ type: envelope.type, body: envelope.body }, context);
    } catch (error) {
      return this.handlerFailed(envelope.type, error);
    }
    if (result instanceof Promise) {
      this.handling += 1;
      result.then(
        () => this.handled(),
        (error: unknown) => {
          this.handled();
          this.handlerFailed(envelope.type, error);
        },
      );
    }
  }

  /** Sends a handler's result; the handling slot is released after the response is queued. */
  private respond(id: number, body: unknown): void {
    this.stats.requestsHandled += 1;
    if (this.stateValue !== 'closed') {
      try {
        this.sendFrame({ kind: 'response', id, body });
      } catch (error) {
        // The handler returned something that cannot be sent: its requester learns why.
        assert(error instanceof EdictError, 'encoding fails with an EdictError');
        this.logger.error(
          { remote: this.remoteAddress, id, reason: error.message },
          'bad response',
        );
        const code = error.code === 'FRAME_TOO_LARGE' ? 'FRAME_TOO_LARGE' : 'INTERNAL';
        this.sendError(id, new EdictError(code, `response not sent: ${error.message}`));
      }
    }
    this.handled();
  }

  private respondError(id: number, type: string, error: unknown): void {
    this.stats.requestsHandled += 1;
    if (!(error instanceof EdictError)) this.handlerFailed(type, error);
    if (this.stateValue !== 'closed') {
      this.sendError(id, error instanceof EdictError ? error : new EdictError('INTERNAL'));
    }
    this.handled();
  }

  private sendError(id: number, error: EdictError): void {
    try {
      this.sendFrame({ kind: 'error', id, error });
    } catch (_unencodable) {
      // Details that are not plain data: send the code and message alone.
      this.sendFrame({ kind: 'error', id, error: new EdictError(error.code, error.message) });
    }
  }

  /** Logs a handler's failure; an assertion failure is re-thrown, to crash as it would anywhere. */
  private handlerFailed(type: string, error: unknown): void {
    if (error instanceof AssertionError) {
      queueMicrotask(() => {
        throw error;
      });
    }
    const reason = error instanceof Error ? (error.stack ?? error.message) : String(error);
    this.logger.error({ remote: this.remoteAddress, type, reason }, 'handler failed');
  }

  private handled(): void {
    this.handling -= 1;
    assert(this.handling >= 0, 'handling count went negative');
    this.maybeResume();
    this.maybeIdle();
  }

  /** Whether nothing is being handled, waiting to be handled, or waiting for a response. */
  private idle(): boolean {
    return this.handling === 0 && this.deferredCount() === 0 && this.pending.size === 0;
  }

  private maybeIdle(): void {
    if (this.onIdle !== null && (this.idle() || this.stateValue === 'closed')) this.onIdle();
  }

  private deferredCount(): number {
    return this.deferred.length - this.deferredHead;
  }

  private hasCapacity(): boolean {
    return this.handling < this.options.handlingMax && this.outbox.writable;
  }

  private pauseReading(): void {
    if (this.readingPaused) return;
    this.readingPaused = true;
    this.stats.readPauses += 1;
    this.socket.pause();
  }

  /** Dispatches deferred frames while there is capacity; resumes reading when none are left. */
  private maybeResume(): void {
    if (this.stateValue === 'closed') return;
    while (this.deferredCount() > 0 && this.hasCapacity()) {
      const envelope = this.deferred[this.deferredHead] as RequestEnvelope | MessageEnvelope;
      this.deferredHead += 1;
      this.dispatch(envelope);
    }
    // The list only grows while reading is paused (the rest of one chunk), so it is reset, not
    // compacted, once it has been dispatched.
    if (this.deferredCount() === 0) {
      this.deferred = [];
      this.deferredHead = 0;
      this.deferredHead = 0;
    }
    if (this.deferredCount() === 0 && this.readingPaused && this.hasCapacity()) {
      this.readingPaused = false;
      this.socket.resume();
    }
  }

  /** Encodes and queues a request or message, within the outbound bound. */
  private queueBounded(envelope: RequestEnvelope | MessageEnvelope): void {
    if (this.stateValue === 'closing' || this.stateValue === 'closed') {
      throw new EdictError('UNAVAILABLE', `the connection is ${this.stateValue}`);
    }
    if (this.stateValue === 'handshaking' && this.init.role === 'server') {
      // The client sends its hello first and may pipeline behind it; the server must wait for it.
      throw new EdictError('UNAVAILABLE', 'the handshake is not complete');
    }
    const frame = this.encode(envelope);
    if (!this.outbox.fits(frame.length)) {
      throw new EdictError('QUEUE_FULL', `outbound queue holds ${this.outbox.bytes} bytes`, {
        outboundBytesMax: this.options.outboundBytesMax,
      });
    }
    this.outbox.push(frame);
  }

  /** Encodes and queues a frame without the outbound bound (handshake, responses, goodbye). */
  private sendFrame(envelope: Envelope): void {
    this.outbox.push(this.encode(envelope));
  }

  private encode(envelope: Envelope): Buffer {
    const frame = encodeFrameOf(envelope, this.options.codec);
    const payloadBytes = frame.length - FRAME_HEADER_BYTES;
    if (payloadBytes > this.options.frameBytesMax) {
      throw new EdictError('FRAME_TOO_LARGE', `${envelope.kind} of ${payloadBytes} bytes`, {
        frameBytes: payloadBytes,
        frameBytesMax: this.options.frameBytesMax,
      });
    }
    return frame;
  }

  /** Closes after a protocol error of the peer, telling it why. */
  private fail(error: EdictError): void {
    if (this.stateValue === 'closed') return;
    this.logger.warn(
      { remote: this.remoteAddress, code: error.code, reason: error.message },
      'closing',
    );
    this.shut(error, true);
  }

  /**
   * Ends the connection once: optionally tells the peer `reason` in a goodbye, flushes what is
   * queued, half-closes, and destroys the socket if it has not closed within `closeTimeoutMs`.
   */
  private shut(reason: EdictError, goodbye: boolean): void {
    if (this.stateValue === 'closed') return;
    if (goodbye && this.socket.writable) {
      try {
        this.sendFrame({ kind: 'goodbye', error: reason });
      } catch (_unencodable) {
        this.sendFrame({ kind: 'goodbye', error: new EdictError(reason.code, reason.message) });
      }
    }
    this.outbox.flush();
    this.socket.end();
    this.destroyTimer = setTimeout(() => this.socket.destroy(), this.options.closeTimeoutMs);
    this.destroyTimer.unref();
    this.finish(reason);
  }

  /** Moves to 'closed' once: fails pending requests and waiters, aborts handlers' signal. */
  private finish(reason: EdictError): void {
    if (this.stateValue === 'closed') return;
    const opened = this.peer !== null;
    this.stateValue = 'closed';
    if (this.helloTimer !== null) clearTimeout(this.helloTimer);
    this.outbox.fail(reason);
    const failure = opened
      ? new EdictError('CONNECTION_CLOSED', `connection closed: ${reason.message}`, {
          reason: reason.code,
        })
      : reason;
    this.pending.failAll(failure);
    this.deferred = [];
    this.abort.abort(reason);
    this.settleOpened(reason);
    this.resolveClosed(reason);
    this.maybeIdle();
    // Let the socket read to its end, so that it closes; onData ignores what arrives.
    if (this.readingPaused) this.socket.resume();
  }
}

function assertType(type: string): void {
  assert(type.length > 0 && type.length <= TYPE_LENGTH_MAX, 'type is 1..128 characters');
}
