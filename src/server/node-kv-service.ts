/**
 * The KvService of a real node: every call becomes a request to the node core (src/core/node) and
 * resolves with its answer. Views (`map`, `status`) read the directory this node has applied.
 */
import type { ClusterStatus, NodeStatus, RoutingTable } from '../cluster-types.js';
import { members, voters } from '../core/directory/types.js';
import { nodeId } from '../core/lib/ids.js';
import type { KvReply, KvRequest, NodeCore } from '../core/node/index.js';
import { EdictError } from '../errors.js';
import type { KvCallContext, KvService, Versioned, WriteConditions } from './kv-service.js';

/** Hands a request to the core and returns its answer (the node server's `submit`). */
export type Submit = (request: KvRequest) => Promise<KvReply>;

export class NodeKvService implements KvService {
  constructor(
    private readonly core: () => NodeCore,
    private readonly submit: Submit,
  ) {}

  async get(key: Uint8Array): Promise<Versioned | null> {
    const reply = check(await this.submit({ op: 'get', key }));
    if (reply.op !== 'get') throw unexpected(reply.op);
    return reply.value === null ? null : { value: reply.value, version: reply.version };
  }

  async put(
    key: Uint8Array,
    value: Uint8Array,
    conditions: WriteConditions,
    context?: KvCallContext,
  ): Promise<{ version: number }> {
    const reply = check(
      await this.submit({ op: 'put', key, value, conditions, session: stamp(context) }),
    );
    if (reply.op !== 'put' || reply.version === null) throw unexpected(reply.op);
    return { version: reply.version };
  }

  async delete(
    key: Uint8Array,
    conditions: WriteConditions,
    context?: KvCallContext,
  ): Promise<{ version: number } | null> {
    const reply = check(
      await this.submit({ op: 'delete', key, conditions, session: stamp(context) }),
    );
    if (reply.op !== 'delete') throw unexpected(reply.op);
    return reply.version === null ? null : { version: reply.version };
  }

  async drain(node: number): Promise<void> {
    if (!Number.isSafeInteger(node) || node < 1) {
      throw new EdictError('UNKNOWN_NODE', `no node ${node}`);
    }
    check(await this.submit({ op: 'drain', node: nodeId(node) }));
  }

  async openSession(): Promise<{ clientId: number }> {
    const reply = check(await this.submit({ op: 'open-session' }));
    if (reply.op !== 'open-session') throw unexpected(reply.op);
    return { clientId: reply.clientId };
  }

  map(): Promise<RoutingTable> {
    return Promise.resolve(routingTable(this.core()));
  }

  status(): Promise<ClusterStatus> {
    return Promise.resolve(clusterStatus(this.core()));
  }
}

function stamp(context: KvCallContext | undefined): Extract<KvRequest, { op: 'put' }>['session'] {
  const s = context?.session;
  if (s === undefined) return null;
  const clientId = typeof s.clientId === 'number' ? s.clientId : Number.NaN;
  return { clientId, seq: s.seq, ackedBelow: s.ackedBelow ?? s.seq };
}

function check(reply: KvReply): Extract<KvReply, { ok: true }> {
  if (reply.ok) return reply;
  const details = reply.leaderHint === null ? undefined : { leaderHint: reply.leaderHint };
  throw new EdictError(reply.code, reply.message, details);
}

function unexpected(op: string): EdictError {
  return new EdictError('INTERNAL', `unexpected answer '${op}'`);
}

/** The routing table clients route by: every bucket's government and every member's address. */
export function routingTable(core: NodeCore): RoutingTable {
  const d = core.view.state();
  return {
    mapVersion: d.version,
    nodes: d.nodes
      .filter((n) => n.state !== 'removed')
      .map((n) => ({ id: n.id, address: n.address })),
    buckets: d.buckets.map((g, bucket) => ({
      bucket,
      epoch: g.epoch,
      leader: g.leader,
      followers: [...g.followers],
      learners: [...g.learners],
    })),
  };
}

/**
 * Health: red when a bucket has no live leader, yellow when one is short of replicas or moving
 * (a learner, or more voters than wanted); green only when every bucket has its replicas in place.
 */
export function clusterStatus(core: NodeCore): ClusterStatus {
  const d = core.view.state();
  const live = new Set(
    d.nodes.filter((n) => n.state === 'active' || n.state === 'draining').map((n) => n.id),
  );
  let red = d.bucketCount === 0;
  let yellow = false;
  let transitions = 0;
  const leaders = new Map<number, number>();
  const replicas = new Map<number, number>();
  for (const g of d.buckets) {
    if (g.leader === null || !live.has(g.leader)) red = true;
    const vs = voters(g);
    if (vs.length < d.replicas || vs.some((id) => !live.has(id))) yellow = true;
    // Moving: a learner catching up, or one voter more than wanted (a move between its
    // usurp and its contract step).
    if (g.learners.length > 0 || vs.length > d.replicas) transitions += 1;
    if (g.leader !== null) leaders.set(g.leader, (leaders.get(g.leader) ?? 0) + 1);
    for (const id of members(g)) replicas.set(id, (replicas.get(id) ?? 0) + 1);
  }
  const nodes: NodeStatus[] = d.nodes.map((n) => ({
    id: n.id,
    address: n.address,
    zone: n.zone,
    state: n.state,
    leaders: leaders.get(n.id) ?? 0,
    replicas: replicas.get(n.id) ?? 0,
  }));
  return {
    health: red ? 'red' : yellow || transitions > 0 ? 'yellow' : 'green',
    mapVersion: d.version,
    nodes,
    buckets: d.bucketCount,
    transitions,
  };
}
