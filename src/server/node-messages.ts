/**
 * Validation of the `node` messages peers send (docs/protocols.md, "Node messages"). A message
 * that fails is dropped and logged: it never reaches the core, whose assertions guard against
 * bugs, not against bytes from the network. The checks cover the envelope and every field the
 * node layer reads; Raft and bucket messages are checked for their routing fields and the types
 * of their numbers and lists.
 */
import { nodeId, type NodeId } from '../core/lib/ids.js';
import { err, ok, type Result } from '../core/lib/result.js';
import type { NodeMessage } from '../core/node/index.js';

export interface NodeEnvelope {
  readonly from: NodeId;
  /** Where the sender listens (host:port), so a node that does not know it yet can answer. */
  readonly address: string;
  readonly message: NodeMessage;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1;
const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;

const RAFT_TYPES = new Set([
  'append',
  'append-response',
  'heartbeat',
  'heartbeat-response',
  'vote',
  'vote-response',
  'snapshot',
  'timeout-now',
  'read-index',
  'read-index-response',
]);
const BUCKET_TYPES = new Set([
  'append',
  'append-ack',
  'snapshot-chunk',
  'snapshot-ack',
  'stale',
  'lease-release',
  'forward',
]);
/** Bucket messages in one `bucket` message: a Ready's worth for one peer (65,536 buckets max). */
const BUCKET_BATCH_MAX = 1 << 20;
const REQUEST_OPS = new Set(['get', 'put', 'delete', 'open-session', 'drain']);

export function validateNodeMessage(body: unknown): Result<NodeEnvelope, 'BAD_MESSAGE', string> {
  if (!isObject(body) || !isId(body.from)) return err('BAD_MESSAGE', 'envelope');
  if (typeof body.address !== 'string' || body.address.length > 256) {
    return err('BAD_MESSAGE', 'address');
  }
  const problem = messageProblem(body.message, body.from);
  if (problem !== null) return err('BAD_MESSAGE', problem);
  return ok({
    from: nodeId(body.from),
    address: body.address,
    message: body.message as NodeMessage,
  });
}

function messageProblem(m: unknown, from: number): string | null {
  if (!isObject(m)) return 'message';
  switch (m.t) {
    case 'raft': {
      const r = m.m;
      if (!isObject(r) || typeof r.type !== 'string' || !RAFT_TYPES.has(r.type)) return 'raft type';
      if (r.from !== from || !isId(r.to) || !isCount(r.term)) return 'raft routing';
      if (r.type === 'append' && !Array.isArray(r.entries)) return 'raft entries';
      if (r.type === 'snapshot' && (!isObject(r.snapshot) || !isBytes(r.snapshot.data))) {
        return 'raft snapshot';
      }
      return null;
    }
    case 'bucket': {
      if (!Array.isArray(m.ms) || m.ms.length > BUCKET_BATCH_MAX) return 'bucket batch';
      for (const b of m.ms as unknown[]) {
        if (!isObject(b) || typeof b.type !== 'string' || !BUCKET_TYPES.has(b.type)) {
          return 'bucket type';
        }
        if (!isCount(b.bucket) || !isCount(b.epoch)) return 'bucket routing';
        if (b.type === 'append' && (!Array.isArray(b.entries) || !isObject(b.government))) {
          return 'bucket append';
        }
      }
      return null;
    }
    case 'heartbeat':
    case 'leaving':
      return isCount(m.incarnation) ? null : 'incarnation';
    case 'join':
      if (m.id !== from || !isCount(m.incarnation) || !isObject(m.profile)) return 'join';
      return null;
    case 'report':
      if (!Array.isArray(m.reports) || m.reports.length > 65536) return 'reports';
      for (const r of m.reports) {
        if (!isObject(r) || !isCount(r.bucket) || !isCount(r.epoch)) return 'report';
        if (r.kind !== 'activated' && r.kind !== 'caught-up' && r.kind !== 'drained') {
          return 'report kind';
        }
        if (r.kind === 'caught-up' && !isId(r.node)) return 'report node';
      }
      return null;
    case 'pause':
      return isCount(m.bucket) && isCount(m.epoch) ? null : 'pause';
    case 'hop': {
      const q = m.request;
      if (!isCount(m.ref) || !isObject(q) || !REQUEST_OPS.has(q.op as string)) return 'hop';
      if ((q.op === 'get' || q.op === 'put' || q.op === 'delete') && !isBytes(q.key)) {
        return 'hop key';
      }
      if (q.op === 'put' && !isBytes(q.value)) return 'hop value';
      if ((q.op === 'put' || q.op === 'delete') && !isObject(q.conditions)) {
        return 'hop conditions';
      }
      if (q.op === 'drain' && !isId(q.node)) return 'hop node';
      return null;
    }
    case 'answer':
      return isCount(m.ref) && isObject(m.reply) && typeof m.reply.ok === 'boolean'
        ? null
        : 'answer';
    default:
      return 'unknown message';
  }
}
