/**
 * A TCP server speaking Edict's wire protocol: it accepts connections, runs the handshake, and hands
 * requests and one-way messages to the handlers it was given. Each accepted connection is a
 * {@link Connection} in the 'server' role, so a handler may also push messages back through
 * `context.connection`.
 *
 * Limits: at most `connectionsMax` connections at once (one more is answered with a goodbye saying
 * `TOO_MANY_CONNECTIONS` and closed); per connection, the limits of {@link ConnectionOptions}. A
 * connection that breaks the protocol is closed with a typed goodbye; the others are not affected.
 *
 * Lifecycle: `start()` listens; `stop()` stops accepting, lets every connection finish what it is
 * handling (for up to `closeTimeoutMs`), closes them, and resolves when the listener is closed.
 */
import { createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { assert } from '../core/lib/assert.js';
import { EdictError } from '../errors.js';
import { encodeFrameOf } from './codec.js';
import { Connection } from './connection.js';
import type { MessageHandler, RequestHandler } from './handlers.js';
import {
  defaultConnectionOptions,
  validateConnectionOptions,
  type ConnectionOptions,
  type Logger,
} from './options.js';

export interface ServerOptions extends ConnectionOptions {
  /** Address to listen on. */
  readonly host: string;
  /** Port to listen on; 0 picks a free one (see `address()`). */
  readonly port: number;
  /** Most connections open at once. */
  readonly connectionsMax: number;
}

export const defaultServerOptions: ServerOptions = {
  ...defaultConnectionOptions,
  // Loopback by default: a node is exposed on purpose, by configuration, never by accident.
  host: '127.0.0.1',
  port: 0,
  // Clients of a busy node plus every other node, with room to spare; each connection may hold
  // up to outboundBytesMax of responses, so this also bounds memory.
  connectionsMax: 1_024,
};

export interface ServerComponents {
  readonly logger: Logger;
  readonly onRequest: RequestHandler;
  readonly onMessage?: MessageHandler;
  /** Called when a connection completes its handshake, before its first request is dispatched. */
  readonly onConnection?: (connection: Connection) => void;
  /** Called when a connection that completed its handshake closes, with the reason. */
  readonly onDisconnection?: (connection: Connection, reason: EdictError) => void;
}

export interface ServerInit {
  /** This node's id, sent in every hello. */
  readonly localId: string;
  readonly options: ServerOptions;
}

/** Counters for metrics; they only grow. */
export interface ServerStats {
  connectionsAccepted: number;
  connectionsRejected: number;
  /** Connections closed for a protocol violation (malformed, oversized, version, hello timeout). */
  connectionsFailed: number;
}

/** Codes that mean the peer, not the network, broke the connection. */
const PEER_FAULTS = new Set(['MALFORMED_FRAME', 'FRAME_TOO_LARGE', 'PROTOCOL_VERSION', 'TIMEOUT']);

export class Server {
  readonly stats: ServerStats = {
    connectionsAccepted: 0,
    connectionsRejected: 0,
    connectionsFailed: 0,
  };
  private readonly options: ServerOptions;
  private readonly connections = new Set<Connection>();
  private netServer: NetServer | null = null;
  /** Set while `stop()` runs; every caller awaits the same stop. */
  private stopping: Promise<void> | null = null;

  constructor(
    private readonly components: ServerComponents,
    private readonly init: ServerInit,
  ) {
    validateConnectionOptions(init.options);
    assert(Number.isSafeInteger(init.options.connectionsMax), 'connectionsMax is an integer');
    assert(init.options.connectionsMax > 0, 'connectionsMax is positive');
    this.options = init.options;
  }

  /** Starts listening; resolves with the bound address. */
  async start(): Promise<AddressInfo> {
    assert(this.netServer === null, 'start() of a started server');
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject); // EADDRINUSE, EACCES: start() may be retried
      server.listen({ host: this.options.host, port: this.options.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.netServer = server;
    server.on('error', (error) => this.components.logger.error({ error }, 'server error'));
    return this.address();
  }

  /** The address the server listens on. */
  address(): AddressInfo {
    const address = this.netServer?.address();
    assert(typeof address === 'object' && address !== null, 'the server is not listening');
    return address;
  }

  /** Connections open now, handshaking ones included. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Stops accepting, drains and closes every connection, then closes the listener. */
  stop(): Promise<void> {
    const server = this.netServer;
    if (server === null) return Promise.resolve();
    this.stopping ??= this.drainAndClose(server).finally(() => {
      this.netServer = null;
      this.stopping = null;
    });
    return this.stopping;
  }

  private async drainAndClose(server: NetServer): Promise<void> {
    const closedListener = new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.all([...this.connections].map((connection) => connection.shutdown()));
    await Promise.all([...this.connections].map((connection) => connection.closed));
    await closedListener;
  }

  private accept(socket: Socket): void {
    if (this.stopping !== null || this.connections.size >= this.options.connectionsMax) {
      this.reject(socket);
      return;
    }
    this.stats.connectionsAccepted += 1;
    const connection = new Connection(
      {
        socket,
        logger: this.components.logger,
        onRequest: this.components.onRequest,
        onMessage: this.components.onMessage,
        onOpen: this.components.onConnection,
      },
      { role: 'server', localId: this.init.localId, options: this.options },
    );
    this.connections.add(connection);
    void connection.closed.then((reason) => {
      this.connections.delete(connection);
      if (PEER_FAULTS.has(reason.code)) this.stats.connectionsFailed += 1;
      if (connection.peerId !== null) this.components.onDisconnection?.(connection, reason);
    });
  }

  /** Answers a connection over the limit with a goodbye, then closes it. */
  private reject(socket: Socket): void {
    this.stats.connectionsRejected += 1;
    const error =
      this.stopping !== null
        ? new EdictError('UNAVAILABLE', 'the server is stopping')
        : new EdictError('TOO_MANY_CONNECTIONS', `${this.options.connectionsMax} connections open`);
    const timer = setTimeout(() => socket.destroy(), this.options.closeTimeoutMs);
    socket.on('error', () => undefined);
    socket.on('close', () => clearTimeout(timer));
    socket.resume(); // discard its hello, so that its end is read and the socket closes
    socket.end(encodeFrameOf({ kind: 'goodbye', error }, this.options.codec));
  }
}
