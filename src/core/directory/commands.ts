/**
 * Directory commands: what the metadata log carries. Every command states what it expects (a
 * bucket's current epoch, a node's incarnation), so a stale or repeated command is a no-op. That is
 * how a new metadata leader resumes exactly where the old one stopped: it may propose again what
 * the old one proposed, and only the first copy has an effect.
 *
 * Commands travel as canonical JSON bytes; `decodeCommand` validates untrusted bytes and returns a
 * typed error rather than throwing.
 */
import { err, ok, type Result } from '../lib/result.js';
import type { Epoch, NodeId, NodeRecord, Placement } from './types.js';

export type Command =
  | { readonly kind: 'bootstrap'; readonly bucketCount: number; readonly replicas: number }
  | ({ readonly kind: 'register' } & Omit<NodeRecord, 'state'>)
  | { readonly kind: 'mark-dead'; readonly id: NodeId; readonly incarnation: number }
  | { readonly kind: 'drain'; readonly id: NodeId }
  | { readonly kind: 'remove'; readonly id: NodeId }
  | {
      /**
       * Allocates `count` client-session ids: the next ones after `DirectoryState.sessions`. Ids
       * are handed out increasing, so a bucket that evicted a session can tell an old id from a
       * new one (docs/bucket-replication.md, sessions). Not idempotent by design: a repeat
       * allocates fresh ids, which only wastes numbers.
       */
      readonly kind: 'open-sessions';
      readonly count: number;
    }
  | {
      readonly kind: 'edict';
      readonly bucket: number;
      /** The epoch the proposer saw; the edict installs `expectEpoch + 1`. */
      readonly expectEpoch: Epoch;
      readonly leader: NodeId | null;
      readonly followers: readonly NodeId[];
      readonly learners: readonly NodeId[];
      /**
       * The voters the move this edict belongs to ends with (`Government.target`); absent for an
       * edict that is no step of a planned move (a departure), which clears the recorded one.
       */
      readonly target?: Placement;
    }
  | {
      /** The leader of `epoch` has brought every voter up to its log: all voters are complete. */
      readonly kind: 'activated';
      readonly bucket: number;
      readonly epoch: Epoch;
      /** Who reports it: only the leader of `epoch` can attest that every voter caught up. */
      readonly reporter: NodeId;
    }
  | {
      readonly kind: 'caught-up';
      readonly bucket: number;
      readonly epoch: Epoch;
      readonly node: NodeId;
      /** Who reports it: only the leader of `epoch`, which fed the backfill, can attest it. */
      readonly reporter: NodeId;
    };

export type CommandKind = Command['kind'];

/** Largest encoded command. An edict lists a handful of members; nothing needs more. */
export const COMMAND_BYTES_MAX = 4096;
/** Session ids one `open-sessions` command may allocate. */
export const SESSIONS_PER_COMMAND_MAX = 4096;
const ADDRESS_CHARS_MAX = 256;
const LABEL_CHARS_MAX = 64;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Canonical bytes of a command: keys in a fixed order, so equal commands encode equally. */
export function encodeCommand(command: Command): Uint8Array {
  return encoder.encode(canonicalJson(command));
}

/** Serialises plain data with object keys sorted, recursively. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export type DecodeError = 'MALFORMED_COMMAND';

/** Parses and validates command bytes from the log or the wire. */
export function decodeCommand(bytes: Uint8Array): Result<Command, DecodeError, string> {
  if (bytes.length > COMMAND_BYTES_MAX) return err('MALFORMED_COMMAND', 'command too large');
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(bytes));
  } catch {
    return err('MALFORMED_COMMAND', 'not UTF-8 JSON');
  }
  const problem = validate(raw);
  return problem === null ? ok(raw as Command) : err('MALFORMED_COMMAND', problem);
}

/** Shape predicates shared with the directory's snapshot decoder. */
export const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);
export const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
export const isId = (v: unknown): v is NodeId => Number.isSafeInteger(v) && (v as number) >= 1;
export const isLabel = (v: unknown, max: number): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= max;
export const isIdList = (v: unknown): v is NodeId[] =>
  Array.isArray(v) && v.length <= 16 && v.every(isId) && new Set(v).size === v.length;

/** Why `v` is not a valid {@link Placement} (a leader, followers ascending, no repeats), or null. */
export function placementProblem(v: unknown): string | null {
  if (!isObject(v) || !isId(v.leader) || !isIdList(v.followers)) return 'target';
  const followers = v.followers;
  if (followers.includes(v.leader)) return 'target: the leader is a follower';
  return followers.every((id, i) => i === 0 || (followers[i - 1] as number) < id)
    ? null
    : 'target: followers not ascending';
}

function validate(c: unknown): string | null {
  if (!isObject(c)) return 'not an object';
  switch (c.kind) {
    case 'bootstrap':
      if (!isCount(c.bucketCount) || c.bucketCount < 1 || c.bucketCount > 65536)
        return 'bucketCount';
      return isCount(c.replicas) && c.replicas >= 1 && c.replicas <= 7 ? null : 'replicas';
    case 'register':
      if (!isId(c.id) || !isCount(c.incarnation)) return 'id or incarnation';
      if (!isLabel(c.address, ADDRESS_CHARS_MAX)) return 'address';
      if (!isLabel(c.zone, LABEL_CHARS_MAX) || !isLabel(c.rack, LABEL_CHARS_MAX))
        return 'zone or rack';
      if (!isLabel(c.storageId, LABEL_CHARS_MAX)) return 'storageId';
      return Number.isSafeInteger(c.weight) &&
        (c.weight as number) >= 1 &&
        (c.weight as number) <= 1000
        ? null
        : 'weight must be an integer in 1..1000';
    case 'mark-dead':
      return isId(c.id) && isCount(c.incarnation) ? null : 'id or incarnation';
    case 'drain':
    case 'remove':
      return isId(c.id) ? null : 'id';
    case 'open-sessions':
      return isCount(c.count) && c.count >= 1 && c.count <= SESSIONS_PER_COMMAND_MAX
        ? null
        : `count must be an integer in 1..${SESSIONS_PER_COMMAND_MAX}`;
    case 'edict': {
      if (!isCount(c.bucket) || !isCount(c.expectEpoch)) return 'bucket or expectEpoch';
      if (c.leader !== null && !isId(c.leader)) return 'leader';
      if (!isIdList(c.followers) || !isIdList(c.learners)) return 'followers or learners';
      const all = [...(c.leader === null ? [] : [c.leader]), ...c.followers, ...c.learners];
      if (new Set(all).size !== all.length) return 'a node holds two roles';
      return c.target === undefined ? null : placementProblem(c.target);
    }
    case 'activated':
      return isCount(c.bucket) && isCount(c.epoch) && isId(c.reporter)
        ? null
        : 'bucket, epoch or reporter';
    case 'caught-up':
      return isCount(c.bucket) && isCount(c.epoch) && isId(c.node) && isId(c.reporter)
        ? null
        : 'bucket, epoch, node or reporter';
    default:
      return 'unknown kind';
  }
}
