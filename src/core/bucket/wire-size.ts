/**
 * Upper bounds of the encoded size of bucket messages and of what they carry, so that the replica
 * can cut append batches and snapshot chunks by bytes and the node can split its per-peer bundle
 * into frames that fit `FRAME_BYTES_MAX` (docs/protocols.md) — without encoding anything: the core
 * does no I/O and knows no codec.
 *
 * Every function returns at least the size of the value's MessagePack encoding (maps with their
 * field names, strings as UTF-8, binary as `bin`), which `test/core/bucket/wire-size.test.ts`
 * checks against the real codec. The bounds are loose on small fields (a fixed allowance per
 * record) and exact on the bulk (keys and values), which is what the budgets are about.
 */
import { assert } from '../lib/assert.js';
import { FRAME_BYTES_MAX, KEY_BYTES_MAX, VALUE_BYTES_MAX } from '../lib/limits.js';
import type {
  BucketMessage,
  ClientRequest,
  Government,
  KvCommand,
  LogEntry,
  PersistOp,
  SessionItem,
  SnapshotItem,
} from './types.js';

/**
 * Allowance for a record's fixed fields: field names, numbers (at most 9 bytes each), map and
 * array headers. The largest such record (a write entry's payload with every optional field) is
 * under 200 bytes.
 */
const RECORD_BYTES = 256;
/** Allowance for one number in a list (a node id, a session result's seq): at most 9 bytes. */
const NUMBER_BYTES = 9;
/** Allowance for one kept session result `{seq, result: {op, ok, existed, at: {epoch, index}}}`. */
const SESSION_RESULT_BYTES = 128;
/** The header of a string or binary of any length (`str32`, `bin32`). */
const LENGTH_HEADER_BYTES = 5;

/** A string's UTF-8 size is at most 3 bytes per UTF-16 code unit. */
function stringBytes(s: string): number {
  return LENGTH_HEADER_BYTES + 3 * s.length;
}

function binaryBytes(b: Uint8Array): number {
  return LENGTH_HEADER_BYTES + b.length;
}

export function governmentBytes(g: Government): number {
  return RECORD_BYTES + NUMBER_BYTES * (1 + g.followers.length + g.learners.length);
}

export function commandBytes(c: KvCommand): number {
  switch (c.op) {
    case 'put':
      return RECORD_BYTES + stringBytes(c.key) + binaryBytes(c.value);
    case 'delete':
      return RECORD_BYTES + stringBytes(c.key);
    case 'cas':
      return (
        RECORD_BYTES +
        stringBytes(c.key) +
        binaryBytes(c.value) +
        (c.expected === null ? 0 : binaryBytes(c.expected))
      );
  }
}

/** One log entry, as carried by an append. */
export function entryBytes(entry: LogEntry): number {
  const payload = entry.payload;
  return (
    RECORD_BYTES +
    (payload.kind === 'write' ? commandBytes(payload.command) : governmentBytes(payload.government))
  );
}

/** One key of a snapshot image, as carried by a chunk. */
export function snapshotItemBytes(item: SnapshotItem): number {
  return RECORD_BYTES + stringBytes(item.key) + binaryBytes(item.value);
}

/** The sessions of an image, as carried by the last chunk. */
export function sessionsBytes(sessions: readonly SessionItem[]): number {
  let bytes = 0;
  for (const s of sessions) bytes += RECORD_BYTES + SESSION_RESULT_BYTES * s.results.length;
  return bytes;
}

/**
 * How many of `items` from `from` on go in one message, and their bytes: at most `countMax`, the
 * first alone within `firstBytesMax`, all of them together within `bytesMax` once there is more
 * than one. With `firstBytesMax` Infinity the first always goes, whatever its size.
 */
export function takeWithin<T>(
  items: readonly T[],
  from: number,
  sizeOf: (item: T) => number,
  limits: { readonly countMax: number; readonly bytesMax: number; readonly firstBytesMax: number },
): { count: number; bytes: number } {
  let count = 0;
  let bytes = 0;
  for (let i = from; i < items.length && count < limits.countMax; i++) {
    const size = sizeOf(items[i] as T);
    if (count === 0 ? size > limits.firstBytesMax : bytes + size > limits.bytesMax) break;
    bytes += size;
    count += 1;
  }
  return { count, bytes };
}

/** What `ops` stage in a store, about: entries and images count, the other ops are small. */
export function persistBytes(ops: readonly PersistOp[]): number {
  let bytes = 0;
  for (const op of ops) {
    bytes += RECORD_BYTES;
    if (op.op === 'append') {
      for (const e of op.entries) bytes += entryBytes(e);
    } else if (op.op === 'meta' && op.meta.government !== null) {
      bytes += governmentBytes(op.meta.government);
    } else if (op.op === 'snapshot') {
      for (const item of op.image.items) bytes += snapshotItemBytes(item);
      bytes += sessionsBytes(op.image.sessions);
    }
  }
  return bytes;
}

/** The most the sessions of an image may take, given the session table's bounds. */
export function sessionsBytesMax(sessionsMax: number, resultsTotalMax: number): number {
  return RECORD_BYTES * sessionsMax + SESSION_RESULT_BYTES * resultsTotalMax;
}

function requestBytes(r: ClientRequest): number {
  return RECORD_BYTES + (r.kind === 'read' ? stringBytes(r.key) : commandBytes(r.command));
}

/** One bucket message. */
export function bucketMessageBytes(m: BucketMessage): number {
  switch (m.type) {
    case 'append': {
      let bytes = RECORD_BYTES + governmentBytes(m.government);
      for (const e of m.entries) bytes += entryBytes(e);
      return bytes;
    }
    case 'snapshot-chunk': {
      let bytes = RECORD_BYTES + sessionsBytes(m.sessions);
      for (const item of m.items) bytes += snapshotItemBytes(item);
      return bytes;
    }
    case 'forward':
      return RECORD_BYTES + requestBytes(m.request);
    case 'append-ack':
    case 'snapshot-ack':
    case 'stale':
    case 'lease-release':
      return RECORD_BYTES;
  }
}

/**
 * Bytes a node message may spend on bucket messages: a frame less the node envelope around them
 * (`{from, address, message: {t, ms}}`, an address of at most 256 characters, the frame's own
 * envelope). Any single bucket message the replica builds fits: an append of one maximal entry, a
 * chunk of one maximal item, a forwarded maximal write, or a last chunk of sessions alone (its size
 * is bounded by the replica's options, see `validateReplicaOptions`).
 */
export const BUCKET_FRAME_BYTES_MAX = FRAME_BYTES_MAX - 4 * 1024;

/** The largest single entry, item or forwarded write, with its message around it. */
const SINGLE_BYTES_MAX =
  3 * RECORD_BYTES +
  2 * LENGTH_HEADER_BYTES +
  3 * KEY_BYTES_MAX +
  VALUE_BYTES_MAX +
  // The government an append carries: far more members than any government has.
  NUMBER_BYTES * 1024;

assert(SINGLE_BYTES_MAX <= BUCKET_FRAME_BYTES_MAX, 'one maximal entry fits a frame');
