/**
 * The server half of `bench/transport.ts`, run in its own process so that client and server each
 * get a core. `raw`: parses length-prefixed frames and echoes each one unchanged, all the answers
 * to one read in one write (like /work/shared/bench/tcp-echo.mjs). `edict`: an Edict transport
 * `Server` whose handler returns the request body. Prints `{"port": N}` on stdout once listening;
 * exits when stdin closes (its parent went away) or on SIGTERM.
 */
import { createServer } from 'node:net';
import { FrameDecoder, frameHeader } from '../src/net/frame.js';
import { silentLogger } from '../src/net/options.js';
import { defaultServerOptions, Server } from '../src/net/server.js';

const mode = process.argv[2];

async function listen(): Promise<number> {
  if (mode === 'edict') {
    const server = new Server(
      { logger: silentLogger, onRequest: async (request) => request.body },
      { localId: 'bench-server', options: defaultServerOptions },
    );
    return (await server.start()).port;
  }
  if (mode !== 'raw') throw new Error(`usage: _transport-server.ts raw|edict`);
  const server = createServer({ noDelay: true }, (socket) => {
    const decoder = new FrameDecoder(1 << 24);
    const out: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk, (payload) => out.push(frameHeader(payload.length), payload));
      if (out.length > 0) socket.write(out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out));
      out.length = 0;
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return address.port;
}

const port = await listen();
process.stdout.write(`${JSON.stringify({ port })}\n`);
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
