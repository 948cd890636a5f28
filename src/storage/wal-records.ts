/**
 * Payloads of the log's record types (framing is in record.ts). All integers little-endian;
 * 64-bit numbers (indexes, versions) are a u32 low word then a u32 high word, and stay below 2^53.
 *
 * ```
 * SegmentHeader  u32 format (1), u32 segment id, u8 kind (1 write-ahead, 2 compacted)
 * Apply          u32 bucket, u32 generation, u64 index, u32 op count, then per op:
 *                u8 kind (1 put, 2 delete), u8 0, u16 key length, u32 value length, key, value
 * InstallBegin   u32 bucket, u32 generation
 * InstallRows    u32 bucket, u32 generation, u32 row count, then per row:
 *                u16 key length, u16 0, u32 value length, u64 version, key, value
 * InstallEnd     u32 bucket, u32 generation, u64 version
 * InstallAbort   u32 bucket, u32 generation
 * Drop           u32 bucket, u32 new generation
 * Relocate       same layout as InstallRows
 * ```
 *
 * Decoders return views into the payload (no copies) and record where each value starts, so a
 * pointer to a value can be formed from the record's position in its segment.
 */
import { assert } from '../core/lib/assert.js';
import { crc32c, crc32cCombine } from '../core/lib/crc32c.js';
import { RecordType } from './record.js';

/** Format version in every SegmentHeader. */
export const SEGMENT_FORMAT = 1;
/** What a segment file holds. */
export const SegmentKind = { Wal: 1, Compacted: 2 } as const;
/** A segment kind number. */
export type SegmentKind = (typeof SegmentKind)[keyof typeof SegmentKind];

const U32 = 0x100000000;
const OP_PUT = 1;
const OP_DELETE = 2;

/** A put or a delete of one key. */
export type Op =
  | { readonly kind: 'put'; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly kind: 'delete'; readonly key: Uint8Array };

/** A decoded op; `valueOffset` is where a put's value starts within the payload. */
export type DecodedOp =
  | {
      readonly kind: 'put';
      readonly key: Uint8Array;
      readonly value: Uint8Array;
      readonly valueOffset: number;
    }
  | { readonly kind: 'delete'; readonly key: Uint8Array };

/** A row with its version: what install streams and compaction carry. */
export interface VersionedRow {
  readonly key: Uint8Array;
  readonly version: number;
  readonly value: Uint8Array;
}

/** A decoded row; `valueOffset` is where its value starts within the payload. */
export interface DecodedRow extends VersionedRow {
  readonly valueOffset: number;
}

/** A decoded payload, by record type. */
export type WalRecord =
  | {
      readonly type: typeof RecordType.SegmentHeader;
      readonly segment: number;
      readonly kind: SegmentKind;
    }
  | {
      readonly type: typeof RecordType.Apply;
      readonly bucket: number;
      readonly generation: number;
      readonly index: number;
      readonly ops: readonly DecodedOp[];
    }
  | {
      readonly type: typeof RecordType.InstallBegin;
      readonly bucket: number;
      readonly generation: number;
    }
  | {
      readonly type: typeof RecordType.InstallRows;
      readonly bucket: number;
      readonly generation: number;
      readonly rows: readonly DecodedRow[];
    }
  | {
      readonly type: typeof RecordType.InstallEnd;
      readonly bucket: number;
      readonly generation: number;
      readonly version: number;
    }
  | {
      readonly type: typeof RecordType.InstallAbort;
      readonly bucket: number;
      readonly generation: number;
    }
  | { readonly type: typeof RecordType.Drop; readonly bucket: number; readonly generation: number }
  | {
      readonly type: typeof RecordType.Relocate;
      readonly bucket: number;
      readonly generation: number;
      readonly rows: readonly DecodedRow[];
    };

/** Bytes an Apply payload takes for `ops`. */
export function applyPayloadBytes(ops: readonly Op[]): number {
  let bytes = 20;
  for (const op of ops) bytes += 8 + op.key.length + (op.kind === 'put' ? op.value.length : 0);
  return bytes;
}

/** The payload of a SegmentHeader record. */
export function encodeSegmentHeader(segment: number, kind: SegmentKind): Buffer {
  const out = Buffer.alloc(9);
  out.writeUInt32LE(SEGMENT_FORMAT, 0);
  out.writeUInt32LE(segment, 4);
  out.writeUInt8(kind, 8);
  return out;
}

/** The payload of an Apply record: one entry of a bucket log. */
export function encodeApply(
  bucket: number,
  generation: number,
  index: number,
  ops: readonly Op[],
): Buffer {
  const out = Buffer.allocUnsafe(applyPayloadBytes(ops));
  out.writeUInt32LE(bucket, 0);
  out.writeUInt32LE(generation, 4);
  writeU64(out, 8, index);
  out.writeUInt32LE(ops.length, 16);
  let at = 20;
  for (const op of ops) {
    const valueLength = op.kind === 'put' ? op.value.length : 0;
    out.writeUInt8(op.kind === 'put' ? OP_PUT : OP_DELETE, at);
    out.writeUInt8(0, at + 1);
    out.writeUInt16LE(op.key.length, at + 2);
    out.writeUInt32LE(valueLength, at + 4);
    out.set(op.key, at + 8);
    at += 8 + op.key.length;
    if (op.kind === 'put') out.set(op.value, at);
    at += valueLength;
  }
  assert(at === out.length, 'apply encoding size');
  return out;
}

/**
 * The CRC-32C of an Apply payload made by {@link encodeApply} from `ops`, and the CRC-32C of each
 * value longer than `separateBytesMin` (undefined for the others), reading each byte once: a long
 * value is checksummed alone and its CRC folded into the payload's with {@link crc32cCombine}.
 */
export function applyChecksums(
  payload: Buffer,
  ops: readonly Op[],
  separateBytesMin: number,
): { crc: number; valueCrcs: (number | undefined)[] } {
  let crc = crc32c(payload.subarray(0, 20));
  let at = 20;
  const valueCrcs: (number | undefined)[] = [];
  for (const op of ops) {
    const headEnd = at + 8 + op.key.length;
    crc = crc32c(payload.subarray(at, headEnd), crc);
    at = headEnd;
    if (op.kind === 'delete') {
      valueCrcs.push(undefined);
      continue;
    }
    const value = payload.subarray(at, at + op.value.length);
    at += value.length;
    if (value.length < separateBytesMin) {
      valueCrcs.push(undefined);
      crc = crc32c(value, crc);
    } else {
      const valueCrc = crc32c(value);
      valueCrcs.push(valueCrc);
      crc = crc32cCombine(crc, valueCrc, value.length);
    }
  }
  assert(at === payload.length, 'apply checksums cover the payload');
  return { crc, valueCrcs };
}

/** Bytes of the rows part of an InstallRows or Relocate payload. */
export function rowsPayloadBytes(rows: readonly VersionedRow[]): number {
  let bytes = 12;
  for (const row of rows) bytes += 16 + row.key.length + row.value.length;
  return bytes;
}

/** Encodes an InstallRows or Relocate payload. */
export function encodeRows(
  bucket: number,
  generation: number,
  rows: readonly VersionedRow[],
): Buffer {
  const out = Buffer.allocUnsafe(rowsPayloadBytes(rows));
  out.writeUInt32LE(bucket, 0);
  out.writeUInt32LE(generation, 4);
  out.writeUInt32LE(rows.length, 8);
  let at = 12;
  for (const row of rows) {
    out.writeUInt16LE(row.key.length, at);
    out.writeUInt16LE(0, at + 2);
    out.writeUInt32LE(row.value.length, at + 4);
    writeU64(out, at + 8, row.version);
    out.set(row.key, at + 16);
    at += 16 + row.key.length;
    out.set(row.value, at);
    at += row.value.length;
  }
  assert(at === out.length, 'rows encoding size');
  return out;
}

/** Encodes the payload of InstallBegin, InstallAbort and Drop: a bucket and a generation. */
export function encodeBucketGeneration(bucket: number, generation: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeUInt32LE(bucket, 0);
  out.writeUInt32LE(generation, 4);
  return out;
}

/** The payload of an InstallEnd record. */
export function encodeInstallEnd(bucket: number, generation: number, version: number): Buffer {
  const out = Buffer.alloc(16);
  out.writeUInt32LE(bucket, 0);
  out.writeUInt32LE(generation, 4);
  writeU64(out, 8, version);
  return out;
}

/**
 * Decodes a payload of `type`. Throws a plain Error on a malformed payload: callers have checked
 * the record's checksum, so a malformed payload is a bug or a format mismatch, reported as
 * corruption with the record's position.
 */
export function decodeWalRecord(type: number, payload: Uint8Array): WalRecord {
  const view = Buffer.from(payload.buffer, payload.byteOffset, payload.length);
  switch (type) {
    case RecordType.SegmentHeader: {
      expectLength(view, 9);
      if (view.readUInt32LE(0) !== SEGMENT_FORMAT) throw new Error('unknown segment format');
      const kind = view.readUInt8(8);
      if (kind !== SegmentKind.Wal && kind !== SegmentKind.Compacted) throw new Error('bad kind');
      return { type, segment: view.readUInt32LE(4), kind };
    }
    case RecordType.Apply:
      return decodeApply(view);
    case RecordType.InstallRows:
    case RecordType.Relocate:
      return { type, ...decodeRows(view) };
    case RecordType.InstallEnd:
      expectLength(view, 16);
      return {
        type,
        bucket: view.readUInt32LE(0),
        generation: view.readUInt32LE(4),
        version: readU64(view, 8),
      };
    case RecordType.InstallBegin:
    case RecordType.InstallAbort:
    case RecordType.Drop:
      expectLength(view, 8);
      return { type, bucket: view.readUInt32LE(0), generation: view.readUInt32LE(4) };
    default:
      throw new Error(`unknown record type ${type}`);
  }
}

function decodeApply(view: Buffer): WalRecord {
  if (view.length < 20) throw new Error('short apply payload');
  const count = view.readUInt32LE(16);
  const ops: DecodedOp[] = [];
  let at = 20;
  for (let i = 0; i < count; i++) {
    if (view.length - at < 8) throw new Error('short op');
    const kind = view.readUInt8(at);
    const keyLength = view.readUInt16LE(at + 2);
    const valueLength = view.readUInt32LE(at + 4);
    at += 8;
    if (view.length - at < keyLength + valueLength) throw new Error('op past the payload');
    const key = view.subarray(at, at + keyLength);
    at += keyLength;
    if (kind === OP_PUT) {
      ops.push({ kind: 'put', key, value: view.subarray(at, at + valueLength), valueOffset: at });
    } else if (kind === OP_DELETE && valueLength === 0) {
      ops.push({ kind: 'delete', key });
    } else {
      throw new Error(`bad op kind ${kind}`);
    }
    at += valueLength;
  }
  expectLength(view, at);
  return {
    type: RecordType.Apply,
    bucket: view.readUInt32LE(0),
    generation: view.readUInt32LE(4),
    index: readU64(view, 8),
    ops,
  };
}

function decodeRows(view: Buffer): { bucket: number; generation: number; rows: DecodedRow[] } {
  if (view.length < 12) throw new Error('short rows payload');
  const count = view.readUInt32LE(8);
  const rows: DecodedRow[] = [];
  let at = 12;
  for (let i = 0; i < count; i++) {
    if (view.length - at < 16) throw new Error('short row');
    const keyLength = view.readUInt16LE(at);
    const valueLength = view.readUInt32LE(at + 4);
    const version = readU64(view, at + 8);
    at += 16;
    if (view.length - at < keyLength + valueLength) throw new Error('row past the payload');
    const key = view.subarray(at, at + keyLength);
    at += keyLength;
    rows.push({ key, version, value: view.subarray(at, at + valueLength), valueOffset: at });
    at += valueLength;
  }
  expectLength(view, at);
  return { bucket: view.readUInt32LE(0), generation: view.readUInt32LE(4), rows };
}

function expectLength(view: Buffer, length: number): void {
  if (view.length !== length)
    throw new Error(`payload is ${view.length} bytes, expected ${length}`);
}

function writeU64(out: Buffer, at: number, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, `u64 field ${value}`);
  out.writeUInt32LE(value % U32, at);
  out.writeUInt32LE(Math.floor(value / U32), at + 4);
}

function readU64(view: Buffer, at: number): number {
  const value = view.readUInt32LE(at) + view.readUInt32LE(at + 4) * U32;
  if (!Number.isSafeInteger(value)) throw new Error('u64 field over 2^53');
  return value;
}
