/**
 * The client's connections: one {@link Peer} per node address, created on first use and closed
 * least-recently-used first beyond `connectionsMax`.
 *
 * A request is only ever written to an open connection. While a peer is still connecting, the
 * request waits for the outcome of that attempt (bounded by its own deadline); a peer that is
 * backing off after a failure answers `UNAVAILABLE` at once. So `UNAVAILABLE` from here always
 * means "never sent", which the retry loop relies on, and a dead node costs one failed connect,
 * not a whole attempt deadline.
 */
import { EdictError } from '../errors.js';
import type { Connection } from '../net/connection.js';
import { Peer, type PeerOptions, type PeerState } from '../net/peer.js';
import type { Logger } from '../net/options.js';
import { parseAddress } from './options.js';

interface Link {
  readonly peer: Peer;
  /** Called on every state change of the peer. */
  readonly watchers: Set<() => void>;
}

export class Links {
  /** By address; the Map's order is the recency order (least recent first). */
  private readonly links = new Map<string, Link>();
  private readonly stopping = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly components: { readonly logger: Logger; readonly random: () => number },
    private readonly init: {
      readonly localId: string;
      readonly connectionsMax: number;
      readonly peer: Omit<PeerOptions, 'host' | 'port'>;
    },
  ) {}

  /** Connections open or being opened. */
  get size(): number {
    return this.links.size;
  }

  /** Sends one request to `address`; see the module comment for what `UNAVAILABLE` means. */
  async request(address: string, type: string, body: unknown, timeoutMs: number): Promise<unknown> {
    const deadline = performance.now() + timeoutMs;
    const connection = await this.openConnection(address, timeoutMs);
    const remainingMs = Math.max(1, Math.ceil(deadline - performance.now()));
    return connection.request(type, body, { timeoutMs: remainingMs });
  }

  private async openConnection(address: string, timeoutMs: number): Promise<Connection> {
    const link = this.linkTo(address);
    const open = link.peer.connection;
    if (open !== null) return open;
    if (link.peer.state === 'connecting') await this.nextState(link, timeoutMs);
    const now = link.peer.connection;
    if (now !== null) return now;
    throw new EdictError('UNAVAILABLE', `no connection to ${address} (${link.peer.state})`, {
      peer: address,
    });
  }

  /** Resolves at the peer's next state change, or after `timeoutMs`. */
  private nextState(link: Link, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        link.watchers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      link.watchers.add(done);
    });
  }

  private linkTo(address: string): Link {
    if (this.closed) throw new EdictError('UNAVAILABLE', 'the client is closed');
    const found = this.links.get(address);
    if (found !== undefined) {
      this.links.delete(address); // re-inserted below: most recently used
      this.links.set(address, found);
      return found;
    }
    while (this.links.size >= this.init.connectionsMax) {
      const [oldest] = this.links.keys();
      this.drop(oldest as string);
    }
    const { host, port } = parseAddress(address);
    const watchers = new Set<() => void>();
    const peer = new Peer(
      {
        logger: this.components.logger,
        random: this.components.random,
        onStateChange: (_state: PeerState) => {
          for (const watcher of [...watchers]) watcher();
        },
      },
      { localId: this.init.localId, options: { ...this.init.peer, host, port } },
    );
    const link = { peer, watchers };
    this.links.set(address, link);
    peer.start();
    return link;
  }

  private drop(address: string): void {
    const link = this.links.get(address);
    if (link === undefined) return;
    this.links.delete(address);
    for (const watcher of [...link.watchers]) watcher();
    const stopped = link.peer.stop();
    this.stopping.add(stopped);
    void stopped.finally(() => this.stopping.delete(stopped));
  }

  /**
   * Closes the connections to every address not in `keep` (a node that left the routing table),
   * so that the client stops reconnecting to it. Requests in flight on them are answered first.
   */
  retain(keep: ReadonlySet<string>): void {
    for (const address of [...this.links.keys()]) {
      if (!keep.has(address)) this.drop(address);
    }
  }

  /** Closes every connection, after the requests in flight on them are answered. */
  async close(): Promise<void> {
    this.closed = true;
    for (const address of [...this.links.keys()]) this.drop(address);
    await Promise.all([...this.stopping]);
  }
}
