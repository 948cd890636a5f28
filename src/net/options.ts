/**
 * Options shared by every connection, whichever end opened it, and the logger interface the
 * transport writes to. The server's and the peer's options extend {@link ConnectionOptions}.
 */
import { assert } from '../core/lib/assert.js';
import { FRAME_BYTES_MAX } from '../core/lib/limits.js';
import { defaultCodecOptions, type CodecOptions } from './codec.js';
import { FRAME_LENGTH_LIMIT } from './frame.js';

/** The subset of a `pino` logger the transport uses; a pino logger satisfies it. */
export interface Logger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

/** A logger that discards everything. */
export const silentLogger: Logger = Object.freeze({
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
});

export interface ConnectionOptions {
  /** Largest frame payload accepted or sent once the handshake is done, in bytes. */
  readonly frameBytesMax: number;
  /** Largest frame payload accepted before the handshake is done, in bytes. */
  readonly helloBytesMax: number;
  /** Time the peer has to complete the handshake, in milliseconds. */
  readonly helloTimeoutMs: number;
  /** Deadline of `request()` when the caller gives none, in milliseconds. */
  readonly requestTimeoutMs: number;
  /** Most requests sent by this end and not yet answered. */
  readonly requestsPendingMax: number;
  /** Most incoming requests (and asynchronous message handlers) running at once. */
  readonly handlingMax: number;
  /** Bound of the outbound queue, in bytes (queued frames plus the socket's write buffer). */
  readonly outboundBytesMax: number;
  /** Idle time before TCP keepalive probes start, in milliseconds; 0 disables keepalive. */
  readonly keepAliveMs: number;
  /** How long a close waits for queued bytes to leave before the socket is destroyed, in ms. */
  readonly closeTimeoutMs: number;
  /** Limits on decoded values. */
  readonly codec: CodecOptions;
}

export const defaultConnectionOptions: ConnectionOptions = {
  // A maximal value with its key and envelope (core/lib/limits.ts).
  frameBytesMax: FRAME_BYTES_MAX,
  // A hello is ~300 bytes at most; an unidentified peer cannot make us buffer more than this.
  helloBytesMax: 4 * 1024,
  // Loopback and LAN handshakes take well under a millisecond; a peer that has said nothing after
  // 5 s is broken or hostile, and holds a connection slot until it is dropped.
  helloTimeoutMs: 5_000,
  // Long enough for a write that waits out a leader change (target: under 1 s) and a retry;
  // short enough that a caller learns of a dead node before its user gives up.
  requestTimeoutMs: 5_000,
  // 16x the deepest pipeline the benchmarks show to help (256); bounds the pending-request table.
  requestsPendingMax: 4_096,
  // 4x that pipeline depth: enough to keep both cores busy; beyond it the connection stops
  // reading, so TCP flow control pushes back on the sender.
  handlingMax: 1_024,
  // 4 MiB is ~5 ms of loopback bandwidth: enough to keep the socket busy between turns, small
  // enough that a thousand stalled readers cannot take more than 4 GiB.
  outboundBytesMax: 4 * 1024 * 1024,
  // Detects a peer that vanished without a FIN (power loss, partition) on an idle connection.
  keepAliveMs: 10_000,
  // Enough to flush a goodbye and a few frames to a live peer; a dead one is dropped after it.
  closeTimeoutMs: 2_000,
  codec: defaultCodecOptions,
};

/** Asserts that `options` are consistent; called once by each constructor that takes them. */
export function validateConnectionOptions(options: ConnectionOptions): void {
  const positive = (value: number, name: string): void =>
    assert(Number.isSafeInteger(value) && value > 0, `${name} must be a positive integer`);
  positive(options.frameBytesMax, 'frameBytesMax');
  positive(options.helloBytesMax, 'helloBytesMax');
  positive(options.helloTimeoutMs, 'helloTimeoutMs');
  positive(options.requestTimeoutMs, 'requestTimeoutMs');
  positive(options.requestsPendingMax, 'requestsPendingMax');
  positive(options.handlingMax, 'handlingMax');
  positive(options.outboundBytesMax, 'outboundBytesMax');
  positive(options.closeTimeoutMs, 'closeTimeoutMs');
  positive(options.codec.depthMax, 'codec.depthMax');
  positive(options.codec.itemsMax, 'codec.itemsMax');
  assert(options.frameBytesMax <= FRAME_LENGTH_LIMIT, 'frameBytesMax fits the 32-bit prefix');
  assert(options.helloBytesMax <= options.frameBytesMax, 'helloBytesMax <= frameBytesMax');
  assert(Number.isSafeInteger(options.keepAliveMs) && options.keepAliveMs >= 0, 'keepAliveMs');
}
