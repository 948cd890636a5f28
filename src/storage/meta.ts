/**
 * Keys and encodings of the index's Meta table and of row keys. Everything here is stored on disk.
 *
 * ```
 * Meta table
 *   "C"                checkpoint: u32 segment id, u64 offset, u64 next seq, u32 next segment id
 *   "B" u32be bucket   bucket state: u32 generation, u32 next generation, u64 applied index,
 *                      u64 base version, u32 installing generation (0: none),
 *                      u16 stale count, u32 stale generation...
 *   "S" u32be segment  segment: u8 kind, u8 sealed, u64 bytes, u64 live bytes
 * Rows and Gc tables
 *   u32be bucket, u32be generation, user key
 * ```
 * Big-endian prefixes keep a bucket's rows together and in generation order.
 */
import { assert } from '../core/lib/assert.js';
import type { SegmentKind } from './wal-records.js';

const U32 = 0x100000000;

/** The log position the index reflects: everything before it has been applied to the index. */
export interface Checkpoint {
  readonly segment: number;
  readonly offset: number;
  /** Sequence number of the first record at or after the position. */
  readonly seq: number;
  /** Smallest segment id never used. */
  readonly nextSegment: number;
}

/** Durable state of one bucket on this node. */
export interface BucketMeta {
  /** The generation reads and writes use. */
  generation: number;
  /** The next generation to hand out; generations are never reused. */
  nextGeneration: number;
  /** Index of the last applied entry (0: none). */
  appliedIndex: number;
  /** Versions below this are not readable (set by an install); 0 by default. */
  baseVersion: number;
  /** The generation receiving an install stream, or 0. */
  installing: number;
  /** Generations whose rows are garbage, awaiting deletion. */
  stale: number[];
}

/** Durable facts about one segment file. */
export interface SegmentMeta {
  readonly kind: SegmentKind;
  /** Whether the segment is complete (no more appends). */
  sealed: boolean;
  /** File size in bytes. */
  bytes: number;
  /** Bytes of values that index rows point to. */
  liveBytes: number;
}

/** Meta key of the checkpoint. */
export const CHECKPOINT_KEY = Buffer.from('C', 'latin1');

/** Meta key of a bucket's state. */
export function bucketMetaKey(bucket: number): Buffer {
  const key = Buffer.alloc(5);
  key.write('B', 0, 'latin1');
  key.writeUInt32BE(bucket, 1);
  return key;
}

/** Meta key of a segment's manifest entry. */
export function segmentMetaKey(segment: number): Buffer {
  const key = Buffer.alloc(5);
  key.write('S', 0, 'latin1');
  key.writeUInt32BE(segment, 1);
  return key;
}

/** First and past-the-end keys of all bucket (or segment) entries. */
export const BUCKET_META_RANGE = [Buffer.from('B', 'latin1'), Buffer.from('C', 'latin1')] as const;
/** First and past-the-end keys of all segment entries. */
export const SEGMENT_META_RANGE = [Buffer.from('S', 'latin1'), Buffer.from('T', 'latin1')] as const;

/** The bucket or segment id in a bucket or segment meta key. */
export const metaKeyId = (key: Uint8Array): number =>
  Buffer.from(key.buffer, key.byteOffset, key.length).readUInt32BE(1);

/** Checkpoint encoding: see the file comment. */
export function encodeCheckpoint(c: Checkpoint): Buffer {
  const out = Buffer.alloc(24);
  out.writeUInt32LE(c.segment, 0);
  writeU64(out, 4, c.offset);
  writeU64(out, 12, c.seq);
  out.writeUInt32LE(c.nextSegment, 20);
  return out;
}

/** Inverse of {@link encodeCheckpoint}. */
export function decodeCheckpoint(bytes: Uint8Array): Checkpoint {
  const view = asView(bytes);
  assert(view.length === 24, 'checkpoint size');
  return {
    segment: view.readUInt32LE(0),
    offset: readU64(view, 4),
    seq: readU64(view, 12),
    nextSegment: view.readUInt32LE(20),
  };
}

/** Bucket state encoding: see the file comment. */
export function encodeBucketMeta(m: BucketMeta): Buffer {
  const out = Buffer.alloc(30 + 4 * m.stale.length);
  out.writeUInt32LE(m.generation, 0);
  out.writeUInt32LE(m.nextGeneration, 4);
  writeU64(out, 8, m.appliedIndex);
  writeU64(out, 16, m.baseVersion);
  out.writeUInt32LE(m.installing, 24);
  out.writeUInt16LE(m.stale.length, 28);
  m.stale.forEach((g, i) => out.writeUInt32LE(g, 30 + 4 * i));
  return out;
}

/** Inverse of {@link encodeBucketMeta}. */
export function decodeBucketMeta(bytes: Uint8Array): BucketMeta {
  const view = asView(bytes);
  const staleCount = view.readUInt16LE(28);
  assert(view.length === 30 + 4 * staleCount, 'bucket meta size');
  return {
    generation: view.readUInt32LE(0),
    nextGeneration: view.readUInt32LE(4),
    appliedIndex: readU64(view, 8),
    baseVersion: readU64(view, 16),
    installing: view.readUInt32LE(24),
    stale: Array.from({ length: staleCount }, (_, i) => view.readUInt32LE(30 + 4 * i)),
  };
}

/** Segment entry encoding: see the file comment. */
export function encodeSegmentMeta(m: SegmentMeta): Buffer {
  const out = Buffer.alloc(18);
  out.writeUInt8(m.kind, 0);
  out.writeUInt8(m.sealed ? 1 : 0, 1);
  writeU64(out, 2, m.bytes);
  writeU64(out, 10, m.liveBytes);
  return out;
}

/** Inverse of {@link encodeSegmentMeta}. */
export function decodeSegmentMeta(bytes: Uint8Array): SegmentMeta {
  const view = asView(bytes);
  assert(view.length === 18, 'segment meta size');
  return {
    kind: view.readUInt8(0) as SegmentKind,
    sealed: view.readUInt8(1) === 1,
    bytes: readU64(view, 2),
    liveBytes: readU64(view, 10),
  };
}

/** Bytes of the (bucket, generation) prefix of row keys. */
export const ROW_PREFIX_BYTES = 8;

/** The row key of `key` in `bucket`, `generation`. */
export function rowKey(bucket: number, generation: number, key: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(ROW_PREFIX_BYTES + key.length);
  out.writeUInt32BE(bucket, 0);
  out.writeUInt32BE(generation, 4);
  out.set(key, ROW_PREFIX_BYTES);
  return out;
}

/** The bucket, generation and user key of a row key. */
export function parseRowKey(key: Uint8Array): {
  bucket: number;
  generation: number;
  key: Uint8Array;
} {
  const view = asView(key);
  return {
    bucket: view.readUInt32BE(0),
    generation: view.readUInt32BE(4),
    key: view.subarray(ROW_PREFIX_BYTES),
  };
}

/** First row key of (bucket, generation) and the first key past them. */
export function generationRange(bucket: number, generation: number): [Buffer, Buffer] {
  const start = rowKey(bucket, generation, new Uint8Array(0));
  const end =
    generation + 1 < U32
      ? rowKey(bucket, generation + 1, new Uint8Array(0))
      : rowKey(bucket + 1, 0, new Uint8Array(0));
  return [start, end];
}

function asView(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

function writeU64(out: Buffer, at: number, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, `u64 field ${value}`);
  out.writeUInt32LE(value % U32, at);
  out.writeUInt32LE(Math.floor(value / U32), at + 4);
}

function readU64(view: Buffer, at: number): number {
  return view.readUInt32LE(at) + view.readUInt32LE(at + 4) * U32;
}
