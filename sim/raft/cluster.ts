/**
 * A simulated metadata-log cluster for the `raft` scenario: one SimHost (with its SimDisk) per node,
 * the Raft network that the nemesis attacks, the client network, the checker, and the adversary
 * that strikes leaders. Nodes are rebuilt from their disks at every boot.
 */
import type { NodeId } from '../../src/core/lib/ids.js';
import type { Prng } from '../../src/core/lib/prng.js';
import { makeConfig, type Message, type RaftOptions } from '../../src/core/raft/index.js';
import { SimDisk } from '../disk.js';
import { SimHost } from '../host.js';
import { SimNetwork, defaultSimNetworkOptions } from '../network.js';
import type { Simulator } from '../simulator.js';
import { RaftChecker } from './checker.js';
import { LeaderFaults } from './leader-faults.js';
import { SimRaftNode, type ClientWire } from './node.js';

/** The cluster's shape: founding voters and learners, and spare nodes that may join later. */
export interface Shape {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly spares: readonly NodeId[];
}

export interface ClusterOptions {
  readonly raft: RaftOptions;
  /** Nodes that may be down at once (a minority of the voters). */
  readonly maxCrashed: number;
  /** Leader faults stop at this virtual time (the end of the safety phase). */
  readonly faultsUntilMs: number;
  /** Each node compacts its log after applying this many entries past its snapshot. */
  readonly compactEvery: number;
}

export class RaftSimCluster {
  readonly nodes = new Map<NodeId, SimRaftNode>();
  readonly hosts: SimHost[];
  readonly raftNet: SimNetwork<Message>;
  /** Clients ↔ nodes: latency, no faults (see scenarios/raft.ts). */
  readonly clientNet: SimNetwork<ClientWire>;
  readonly checker = new RaftChecker();
  readonly leaderFaults: LeaderFaults;
  /** When the first liveness probe entry was applied (after `probesFrom`), if it was. */
  probeAppliedAt: number | null = null;
  probesFrom = Infinity;

  constructor(
    private readonly sim: Simulator,
    readonly shape: Shape,
    readonly options: ClusterOptions,
  ) {
    this.raftNet = new SimNetwork<Message>(sim, sim.prng.fork());
    this.clientNet = new SimNetwork<ClientWire>(sim, sim.prng.fork(), {
      ...defaultSimNetworkOptions,
      latency: { minMs: 1, maxMs: 4, tailProbability: 0, tailMaxMs: 4 },
    });
    const diskPrng = sim.prng.fork();
    const nodePrng = sim.prng.fork();
    this.hosts = this.ids().map((id) => {
      const streams = nodePrng.fork();
      return new SimHost(sim, id, new SimDisk(diskPrng.fork()), {
        boot: (host) => this.boot(host, streams.fork()),
        halt: () => {
          this.nodes.get(id)?.halt();
          this.nodes.delete(id);
        },
      });
    });
    this.leaderFaults = new LeaderFaults(
      sim,
      sim.prng.fork(),
      this.hosts,
      this.nodes,
      this.raftNet,
      options.maxCrashed,
      options.faultsUntilMs,
    );
  }

  /** Every node id, ascending. */
  ids(): NodeId[] {
    const { voters, learners, spares } = this.shape;
    return [...voters, ...learners, ...spares].sort((a, b) => a - b);
  }

  start(): void {
    for (const host of this.hosts) host.start();
  }

  /** The live nodes, by id. */
  sorted(): SimRaftNode[] {
    return [...this.nodes.values()].sort((a, b) => a.id - b.id);
  }

  /** The live node that leads the highest term, if any. */
  leader(): SimRaftNode | null {
    let best: SimRaftNode | null = null;
    let bestTerm = -1;
    for (const node of this.sorted()) {
      const s = node.raft.status();
      if (s.role === 'leader' && s.term > bestTerm) {
        best = node;
        bestTerm = s.term;
      }
    }
    return best;
  }

  private boot(host: SimHost, prng: Prng): void {
    const id = host.id as NodeId;
    const { voters, learners, spares } = this.shape;
    const node = new SimRaftNode({
      host,
      raftNet: this.raftNet,
      clientNet: this.clientNet,
      options: this.options.raft,
      prng,
      checker: this.checker,
      founding: spares.includes(id) ? null : makeConfig(voters, learners),
      compactEvery: this.options.compactEvery,
      onProbe: () => {
        if (this.probeAppliedAt === null && this.sim.now >= this.probesFrom) {
          this.probeAppliedAt = this.sim.now;
        }
      },
      onStatus: (status) => {
        this.leaderFaults.observe(status);
        if (status.role === 'leader') {
          this.checker.observeLeader(
            status,
            this.sorted().map((n) => n.raft),
          );
        }
      },
    });
    this.nodes.set(id, node);
  }
}
