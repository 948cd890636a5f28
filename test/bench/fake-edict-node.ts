// A stand-in for `edict start` (issue 8) in the cluster benchmark's tests: `start --help` describes
// the flags, `start --id N --listen HOST:PORT --data DIR [--join HOST:PORT]` serves the HTTP API
// over an in-memory KvService on the listen address, prints that address, and reports a green
// cluster of three nodes. Each process has its own store: it checks the harness's process
// handling (spawn, ready wait, stop by PID), not replication.
import { createServer } from 'node:http';
import { createHttpApi } from '../../src/server/http-api.js';
import type { ClusterStatus } from '../../src/server/kv-service.js';
import { MemoryKv } from '../server/memory-kv.js';

const argv = process.argv.slice(2);
if (argv[0] !== 'start') {
  process.stderr.write(`fake edict: unknown command ${argv[0]}\n`);
  process.exit(1);
}
if (argv.includes('--help')) {
  process.stdout.write(
    'Usage: edict start --id <id> --listen <host:port> --data <dir> [--join <host:port>]\n',
  );
  process.exit(0);
}
const flag = (name: string): string => argv[argv.indexOf(`--${name}`) + 1] ?? '';
const id = Number(flag('id'));
const [host, port] = flag('listen').split(':');

class FakeNodeKv extends MemoryKv {
  override async status(): Promise<ClusterStatus> {
    const nodes = [1, 2, 3].map((n) => ({
      id: n,
      address: flag('listen'),
      zone: 'z',
      state: 'up',
      leaders: 1,
      replicas: 3,
    }));
    return { health: 'green', mapVersion: 1, nodes, buckets: 3, transitions: 0 };
  }
}

const server = createServer(createHttpApi({ service: new FakeNodeKv(), registry: null }));
server.listen(Number(port), host, () => {
  process.stdout.write(`node ${id}: serving HTTP on http://${flag('listen')}\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
