// Shared set-up for the transport tests: servers on 127.0.0.1 with ephemeral ports, a raw socket
// client that speaks frames by hand (to send what a well-behaved Connection never would), and a
// bounded wait. Every helper closes what it opens when the test's cleanup runs.
import { afterEach } from 'node:test';
import { connect, createServer, type Server as NetServer, type Socket } from 'node:net';
import {
  decodeEnvelope,
  defaultCodecOptions,
  encodeFrameOf,
  type Envelope,
} from '../../src/net/codec.js';
import { FrameDecoder } from '../../src/net/frame.js';
import { silentLogger } from '../../src/net/options.js';
import {
  defaultPeerOptions,
  Peer,
  type PeerComponents,
  type PeerOptions,
} from '../../src/net/peer.js';
import {
  defaultServerOptions,
  Server,
  type ServerComponents,
  type ServerOptions,
} from '../../src/net/server.js';

/** Things to close at the end of a test, most recent first. `run()` leaves it empty for reuse. */
export class Cleanup {
  private readonly steps: Array<() => Promise<void> | void> = [];
  add(step: () => Promise<void> | void): void {
    this.steps.push(step);
  }
  async run(): Promise<void> {
    while (this.steps.length > 0) await (this.steps.pop() as () => Promise<void> | void)();
  }
}

/** A Cleanup that runs after each test of the calling file. */
export function cleanupAfterEach(): Cleanup {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());
  return cleanup;
}

export async function startServer(
  cleanup: Cleanup,
  components: Partial<ServerComponents> = {},
  options: Partial<ServerOptions> = {},
): Promise<{ server: Server; port: number }> {
  const server = new Server(
    {
      logger: silentLogger,
      onRequest: async (request) => request.body,
      ...components,
    },
    { localId: 'server', options: { ...defaultServerOptions, ...options } },
  );
  const { port } = await server.start();
  cleanup.add(() => server.stop());
  return { server, port };
}

export function startPeer(
  cleanup: Cleanup,
  port: number,
  components: Partial<PeerComponents> = {},
  options: Partial<PeerOptions> = {},
  localId = 'client',
): Peer {
  const peer = new Peer(
    { logger: silentLogger, ...components },
    { localId, options: { ...defaultPeerOptions, host: '127.0.0.1', port, ...options } },
  );
  peer.start();
  cleanup.add(() => peer.stop());
  return peer;
}

/** Polls `condition` every 5 ms; fails after `timeoutMs`. */
export async function until(
  condition: () => boolean,
  what: string,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function frameOf(envelope: Envelope): Buffer {
  return encodeFrameOf(envelope, defaultCodecOptions);
}

export function helloFrame(versionMin = 1, versionMax = 1, peerId = 'raw'): Buffer {
  return frameOf({ kind: 'hello', versionMin, versionMax, peerId });
}

/** A socket that sends bytes by hand and collects the envelopes it receives. */
export class RawClient {
  readonly envelopes: Envelope[] = [];
  readonly closed: Promise<void>;
  isClosed = false;
  private readonly decoder = new FrameDecoder(1 << 30);

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) =>
      this.decoder.push(chunk, (payload) =>
        this.envelopes.push(decodeEnvelope(payload, defaultCodecOptions)),
      ),
    );
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.isClosed = true;
        resolve();
      }),
    );
  }

  static async connect(cleanup: Cleanup, port: number): Promise<RawClient> {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    cleanup.add(() => {
      socket.destroy();
    });
    return new RawClient(socket);
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** The goodbye received, if any. */
  goodbye(): Extract<Envelope, { kind: 'goodbye' }> | undefined {
    return this.envelopes.find((e) => e.kind === 'goodbye') as
      Extract<Envelope, { kind: 'goodbye' }> | undefined;
  }
}

/** A bare TCP server for playing a misbehaving or silent server. */
export async function startRawServer(
  cleanup: Cleanup,
  onSocket: (socket: Socket) => void,
): Promise<{ server: NetServer; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.add(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return { server, port: address.port };
}
