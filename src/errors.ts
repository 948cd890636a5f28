/**
 * The one error type at Edict's edges: the transport, the node server, the client library, the
 * HTTP API and the CLI all report failures as an {@link EdictError} with a stable {@link ErrorCode}.
 * Inside `src/core`, failures are result values instead (STYLE.md); the shell turns them into
 * `EdictError`s where they leave the process.
 *
 * Codes are part of the wire protocol and of the public API: a code is never renamed or reused for
 * another meaning. Adding a code is compatible; a peer that receives a code it does not know reads
 * it as `INTERNAL` and keeps the original in `details.remoteCode`.
 *
 * Whether a failed request may have taken effect matters to every retry loop, so each code states
 * it: *not executed* means the request certainly had no effect; *outcome unknown* means it may have.
 */

/** Every stable error code, with its meaning and whether the request may have taken effect. */
export const ERROR_CODES = {
  // Transport (src/net).
  /** A frame declared a length above the limit. Not executed; the connection is closed. */
  FRAME_TOO_LARGE: 'a frame is larger than the limit',
  /** Bytes that are not a valid frame or envelope. Not executed; the connection is closed. */
  MALFORMED_FRAME: 'a frame could not be decoded',
  /** The two ends share no protocol version. Not executed; the connection is closed. */
  PROTOCOL_VERSION: 'no common protocol version',
  /** No answer within the deadline. Outcome unknown. */
  TIMEOUT: 'no answer within the deadline',
  /** The connection closed while the request was outstanding. Outcome unknown. */
  CONNECTION_CLOSED: 'the connection closed',
  /** A bounded queue is full; back off and retry. Not executed. */
  QUEUE_FULL: 'a bounded queue is full',
  /** No connection or no server to take the request now; retry later. Not executed. */
  UNAVAILABLE: 'not available now',
  /** The server is at its connection limit. Not executed; the connection is closed. */
  TOO_MANY_CONNECTIONS: 'the server is at its connection limit',
  /** The request itself is invalid (for instance a body that cannot be encoded). Not executed. */
  BAD_REQUEST: 'the request is invalid',
  /** A fault in the server; details are in its log. Outcome unknown. */
  INTERNAL: 'internal error',
  // Service (src/server, src/client): not executed unless stated.
  /** A write's condition (compare-and-set, create-only) did not hold. */
  CONDITION_FAILED: 'the condition did not hold',
  /** The key is longer than KEY_BYTES_MAX. */
  KEY_TOO_LARGE: 'the key is too large',
  /** The value is longer than VALUE_BYTES_MAX. */
  VALUE_TOO_LARGE: 'the value is too large',
  /** No such key or resource. */
  NOT_FOUND: 'not found',
  /** The key is empty or not valid UTF-8 / percent-encoding. */
  BAD_KEY: 'the key is invalid',
  /** No HTTP route matches the path. */
  NO_ROUTE: 'no such route',
  /** The route exists but not for this method; `details.allow` lists the methods. */
  METHOD_NOT_ALLOWED: 'method not allowed',
  /** The node named in the request is not a member. */
  UNKNOWN_NODE: 'no such node',
  /** This node does not lead the key's bucket; `details.leaderHint` may name the leader. */
  WRONG_LEADER: 'not the leader of this bucket',
  /** The sender's routing table is older than the node's; `details.mapVersion` is current. */
  STALE_MAP: 'the routing table is stale',
  /**
   * The write's session is unknown to its bucket: evicted from the bucket's session table, or never
   * seen there and at or below the bucket's eviction floor (client ids are allocated increasing).
   * Not executed in this attempt; open a new session (`session.open`) and send the write under it
   * with a fresh seq. An earlier attempt of the same write may still have been applied, so only a
   * write none of whose attempts may have taken effect can be retried that way.
   */
  SESSION_EXPIRED: 'the session is unknown to the bucket',
  /**
   * The write's seq is below its session's floor (`ackedBelow`) at the bucket: a late copy of a
   * write the client had already finished with, whose result the bucket no longer keeps. Outcome
   * unknown: that seq may or may not have been applied.
   */
  STALE_SEQ: 'the session seq is below the acknowledged floor',
} as const;

/** A stable, machine-readable error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Whether `value` is a known {@link ErrorCode}. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, value);
}

/** The serialised form of an {@link EdictError}: what crosses the wire, HTTP and the CLI. */
export interface ErrorJson {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** An operational error with a stable code; see {@link ERROR_CODES} for each code's contract. */
export class EdictError extends Error {
  override readonly name = 'EdictError';
  readonly code: ErrorCode;
  /** Machine-readable context (e.g. `leaderHint`); must be plain data, as it may be serialised. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCode,
    message: string = ERROR_CODES[code],
    details?: Readonly<Record<string, unknown>>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.details = details;
  }

  /** The `{code, message, details?}` form, used by `JSON.stringify` and the wire protocol. */
  toJSON(): ErrorJson {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }

  /**
   * Rebuilds an error received from elsewhere (a response frame, an HTTP body). Anything that is
   * not a well-formed error becomes `INTERNAL`; an unknown code is kept in `details.remoteCode`.
   */
  static fromJSON(value: unknown): EdictError {
    if (typeof value !== 'object' || value === null) {
      return new EdictError('INTERNAL', 'malformed error from peer');
    }
    const { code, message, details } = value as Record<string, unknown>;
    const text = typeof message === 'string' ? message : ERROR_CODES.INTERNAL;
    const extra = isPlainRecord(details) ? details : undefined;
    if (isErrorCode(code)) return new EdictError(code, text, extra);
    return new EdictError('INTERNAL', text, { ...extra, remoteCode: String(code) });
  }
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
