/**
 * Options of the client library, each with its unit and the reason for its default, and the
 * injected dependencies (logger, randomness). Validated once, in `connect()`.
 */
import { assert } from '../core/lib/assert.js';
import { EdictError } from '../errors.js';
import { defaultPeerOptions, type PeerOptions } from '../net/peer.js';
import { silentLogger, type Logger } from '../net/options.js';

export interface ClientOptions {
  /**
   * Seed nodes as `host:port` (IPv6 as `[addr]:port`). The client asks them for the routing table;
   * after that it talks to whichever nodes the table names. One live seed is enough.
   */
  readonly endpoints: readonly string[];
  /** Overall deadline of one operation, retries included, in milliseconds. */
  readonly timeoutMs: number;
  /** Deadline of one attempt (one request to one node), in milliseconds; at most `timeoutMs`. */
  readonly attemptTimeoutMs: number;
  /** Most attempts per operation, the first included. */
  readonly attemptsMax: number;
  /** Ceiling of the first retry delay, in milliseconds; it doubles with each retry. */
  readonly backoffBaseMs: number;
  /** Largest retry delay, in milliseconds. */
  readonly backoffMaxMs: number;
  /** Most nodes the client keeps a connection to; the least recently used one is closed first. */
  readonly connectionsMax: number;
  /** Most writes in flight at once; one more fails at once with `QUEUE_FULL`. */
  readonly writesInFlightMax: number;
  /** Transport options of each connection (host and port come from the routing table). */
  readonly peer: Omit<PeerOptions, 'host' | 'port'>;
}

export const defaultClientOptions: Omit<ClientOptions, 'endpoints'> = {
  // A leader change completes in under 1 s (DESIGN.md 1); 5 s rides out several of them, or a node
  // restart, before the caller hears of a failure.
  timeoutMs: 5_000,
  // An answer on a LAN takes milliseconds; one missing after 1.5 s is more likely lost (dead node,
  // partition) than slow, and the deadline still leaves room for two more attempts elsewhere.
  attemptTimeoutMs: 1_500,
  // Enough attempts that the overall deadline, not the count, ends the retries: attempts to a dead
  // leader fail at once (refused connect), and with the full-jitter backoff below ten of them
  // spanned only about a second — less than the failure detector needs to replace the leader.
  // Forty span the deadline; a request still never loops forever.
  attemptsMax: 40,
  // The first retry after a redirect is nearly immediate (the new leader is usually ready)...
  backoffBaseMs: 10,
  // ...and the cap keeps a client polling a failed-over bucket about twice per leader change.
  backoffMaxMs: 500,
  // Far more nodes than a client usually talks to; bounds sockets and buffers per client.
  connectionsMax: 256,
  // At most the replicas' per-session result window (sessionResultsMax): a longer pipeline could
  // see STALE_SEQ for its oldest write.
  writesInFlightMax: 1_024,
  peer: {
    ...defaultPeerOptions,
    // A client is not a member: a node it cannot reach within a second is treated as down, and
    // the routing table (not the socket) tells it where to go next.
    connectTimeoutMs: 1_000,
    backoffMaxMs: 500,
  },
};

/** The options of `connect()`: `endpoints`, plus any of {@link ClientOptions} to override. */
export type ConnectOptions = Omit<Partial<ClientOptions>, 'peer'> &
  Pick<ClientOptions, 'endpoints'> & { readonly peer?: Partial<ClientOptions['peer']> };

/** What the client is given rather than configured with. */
export interface ClientComponents {
  readonly logger?: Logger;
  /** Uniform in [0, 1); drives the retry jitter. Defaults to `Math.random`. */
  readonly random?: () => number;
}

export interface ResolvedComponents {
  readonly logger: Logger;
  readonly random: () => number;
}

export function resolveComponents(components: ClientComponents): ResolvedComponents {
  return { logger: components.logger ?? silentLogger, random: components.random ?? Math.random };
}

/** A node address split into host and port. */
export interface Address {
  readonly host: string;
  readonly port: number;
}

/** Parses `host:port` or `[v6]:port`; a bad address is a `BAD_REQUEST`. */
export function parseAddress(text: string): Address {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = match === null ? NaN : Number(match[3]);
  if (match === null || !(port >= 1 && port <= 65_535)) {
    throw new EdictError('BAD_REQUEST', `not a host:port address: ${JSON.stringify(text)}`);
  }
  return { host: (match[1] ?? match[2]) as string, port };
}

/** Fills in defaults and checks the result; invalid options are a `BAD_REQUEST`. */
export function resolveOptions(options: ConnectOptions): ClientOptions {
  const resolved: ClientOptions = {
    ...defaultClientOptions,
    ...options,
    peer: { ...defaultClientOptions.peer, ...options.peer },
  };
  const bad = (what: string): never => {
    throw new EdictError('BAD_REQUEST', `client options: ${what}`);
  };
  if (!Array.isArray(resolved.endpoints) || resolved.endpoints.length === 0) {
    bad('endpoints must name at least one node');
  }
  for (const endpoint of resolved.endpoints) parseAddress(endpoint);
  const positive = (value: number, name: string): void => {
    if (!Number.isSafeInteger(value) || value <= 0) bad(`${name} must be a positive integer`);
  };
  positive(resolved.timeoutMs, 'timeoutMs');
  positive(resolved.attemptTimeoutMs, 'attemptTimeoutMs');
  positive(resolved.attemptsMax, 'attemptsMax');
  positive(resolved.backoffBaseMs, 'backoffBaseMs');
  positive(resolved.backoffMaxMs, 'backoffMaxMs');
  positive(resolved.connectionsMax, 'connectionsMax');
  positive(resolved.writesInFlightMax, 'writesInFlightMax');
  if (resolved.attemptTimeoutMs > resolved.timeoutMs) bad('attemptTimeoutMs above timeoutMs');
  if (resolved.backoffMaxMs < resolved.backoffBaseMs) bad('backoffMaxMs below backoffBaseMs');
  if (resolved.attemptsMax > 1_000) bad('attemptsMax above 1000');
  assert(resolved.peer.requestTimeoutMs > 0, 'peer.requestTimeoutMs is positive');
  return resolved;
}
