/**
 * Edict's TCP transport: length-prefixed MessagePack frames with request ids and pipelining,
 * bounded queues with back-pressure, a version handshake, and reconnecting outbound links.
 * The wire format is specified in docs/protocols.md ("Wire protocol").
 */
export {
  Connection,
  type ConnectionComponents,
  type ConnectionInit,
  type ConnectionState,
  type ConnectionStats,
  type RequestOptions,
} from './connection.js';
export {
  type IncomingRequest,
  type MessageHandler,
  type RequestContext,
  type RequestHandler,
} from './handlers.js';
export { EdictError, ERROR_CODES, type ErrorCode, type ErrorJson } from '../errors.js';
export { negotiateVersion, SUPPORTED_VERSIONS, type VersionRange } from './handshake.js';
export { DEADLINE_SWEEP_MS } from './pending.js';
export {
  defaultCodecOptions,
  PROTOCOL_VERSION_MAX,
  PROTOCOL_VERSION_MIN,
  type CodecOptions,
} from './codec.js';
export {
  defaultConnectionOptions,
  silentLogger,
  type ConnectionOptions,
  type Logger,
} from './options.js';
export {
  backoffDelayMs,
  defaultPeerOptions,
  Peer,
  type PeerComponents,
  type PeerInit,
  type PeerOptions,
  type PeerState,
  type PeerStats,
} from './peer.js';
export {
  defaultServerOptions,
  Server,
  type ServerComponents,
  type ServerInit,
  type ServerOptions,
  type ServerStats,
} from './server.js';
