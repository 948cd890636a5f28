/**
 * What the transport hands to the code that serves requests and messages: the node server's
 * dispatcher, or a client's handler for messages pushed by a node.
 */
import type { Connection } from './connection.js';

/** What a handler is told about the connection a request or message arrived on. */
export interface RequestContext {
  readonly connection: Connection;
  /** The id the peer gave in its hello (a node id or a client id); not authenticated. */
  readonly peerId: string;
  readonly protocolVersion: number;
  readonly remoteAddress: string;
  /** Aborted when the connection closes; long-running handlers may stop early. */
  readonly signal: AbortSignal;
}

export interface IncomingRequest {
  readonly type: string;
  readonly body: unknown;
}

/**
 * Serves one request. The resolved value is the response body. A rejection with an `EdictError`
 * is sent to the requester as is; any other rejection is logged and sent as `INTERNAL`.
 */
export type RequestHandler = (
  request: IncomingRequest,
  context: RequestContext,
) => Promise<unknown>;

/** Handles one one-way message; may return a promise to hold a handling slot until it settles. */
export type MessageHandler = (
  message: IncomingRequest,
  context: RequestContext,
) => void | Promise<void>;
