/**
 * Record framing of the log: every record is a 28-byte header followed by its payload. The format
 * is documented byte by byte in docs/storage.md; this file is its only encoder and decoder.
 *
 * ```
 * offset size  field
 *      0    4  magic 0x314c4445 ("EDL1" read as bytes), little-endian like every field
 *      4    4  header CRC-32C over bytes [8, 28)
 *      8    4  payload length in bytes
 *     12    1  record type (see RecordType)
 *     13    3  reserved, zero
 *     16    8  sequence number: u32 low word, then u32 high word
 *     24    4  payload CRC-32C
 *     28    n  payload
 * ```
 *
 * Two checksums, so that recovery can tell a torn record from a damaged one: when the header
 * checks, its length can be trusted, and a record that runs past the end of the file was cut by a
 * crash (only the tail of a file can be cut); when the header does not check, the length cannot be
 * trusted and recovery looks for any valid record further on before calling the damage a tail.
 */
import { assert } from '../core/lib/assert.js';
import { crc32c } from '../core/lib/crc32c.js';

/** Bytes of a record header. */
export const RECORD_HEADER_BYTES = 28;
/** The first four bytes of every record. */
export const RECORD_MAGIC = 0x314c4445;
/**
 * Largest payload. One record holds one bucket log entry (at most one frame: a maximal value plus
 * its key and envelope) or one install chunk; 64 MiB leaves room for both with margin, and bounds
 * what recovery must buffer to check one record.
 */
export const RECORD_PAYLOAD_BYTES_MAX = 64 * 1024 * 1024;

/** What a record's payload holds. Values are stored on disk: never renumber. */
export const RecordType = {
  /** First record of every segment file: format version, segment id and kind. */
  SegmentHeader: 1,
  /** One committed entry of a bucket log: its index and its puts and deletes. */
  Apply: 2,
  /** A bucket starts receiving an install stream into a fresh generation. */
  InstallBegin: 3,
  /** Rows of an install stream. */
  InstallRows: 4,
  /** The install stream is complete: the bucket switches to the new generation. */
  InstallEnd: 5,
  /** The install was abandoned; its generation is garbage. */
  InstallAbort: 6,
  /** The bucket's data is dropped: it switches to a fresh, empty generation. */
  Drop: 7,
  /** Compaction output: live versions copied out of older segments. Never replayed. */
  Relocate: 8,
  /** First record of every bucket-log segment (src/storage/bucket-log.ts): version, id, kind. */
  BucketLogHeader: 9,
  /** Bucket log: one bucket's batch of persist ops (or the last slice of a chunked batch). */
  BucketOps: 10,
  /** Bucket log: a leading slice of a batch too large for one record; the BucketOps ends it. */
  BucketOpsPart: 11,
  /** Bucket log: the last record of a complete compaction segment. */
  BucketLogCompacted: 12,
} as const;
/** A record type number. */
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

const RECORD_TYPES: ReadonlySet<number> = new Set(Object.values(RecordType));

/** A framed record, decoded. `payload` is a view into the bytes it was read from. */
export interface DecodedRecord {
  readonly type: RecordType;
  readonly seq: number;
  readonly payload: Uint8Array;
  /** Header plus payload bytes. */
  readonly bytes: number;
}

/** The CRC-32C of a payload, computed once when it is built and passed to {@link frameHeader}. */
export const payloadChecksum = (payload: Uint8Array): number => crc32c(payload);

/**
 * Builds the header of a record. The payload is written right after it, unchanged.
 * `seq` is the record's sequence number (0 for records outside the write-ahead order).
 */
export function frameHeader(
  type: RecordType,
  seq: number,
  payloadBytes: number,
  payloadCrc: number,
): Buffer {
  const header = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
  writeHeader(header, 0, type, seq, payloadBytes, payloadCrc);
  return header;
}

/** Writes a record header into `out` at `at` (RECORD_HEADER_BYTES bytes); see {@link frameHeader}. */
export function writeHeader(
  out: Buffer,
  at: number,
  type: RecordType,
  seq: number,
  payloadBytes: number,
  payloadCrc: number,
): void {
  assert(RECORD_TYPES.has(type), `unknown record type ${type}`);
  assert(Number.isSafeInteger(seq) && seq >= 0, `bad record seq ${seq}`);
  assert(payloadBytes >= 0 && payloadBytes <= RECORD_PAYLOAD_BYTES_MAX, 'payload too large');
  out.writeUInt32LE(RECORD_MAGIC, at);
  out.writeUInt32LE(payloadBytes, at + 8);
  out.writeUInt8(type, at + 12);
  out.writeUInt8(0, at + 13);
  out.writeUInt16LE(0, at + 14);
  out.writeUInt32LE(seq % 0x100000000, at + 16);
  out.writeUInt32LE(Math.floor(seq / 0x100000000), at + 20);
  out.writeUInt32LE(payloadCrc >>> 0, at + 24);
  out.writeUInt32LE(crc32c(out.subarray(at + 8, at + RECORD_HEADER_BYTES)), at + 4);
}

/** A whole record (header and payload) in one buffer. */
export function frameRecord(type: RecordType, seq: number, payload: Uint8Array): Buffer {
  const header = frameHeader(type, seq, payload.length, payloadChecksum(payload));
  return Buffer.concat([header, payload]);
}

/** What {@link parseHeader} found at an offset. */
export type HeaderCheck =
  | {
      readonly kind: 'ok';
      readonly type: RecordType;
      readonly seq: number;
      readonly length: number;
      readonly payloadCrc: number;
    }
  | { readonly kind: 'short' }
  | { readonly kind: 'bad'; readonly reason: string };

/**
 * Checks the header at `offset` of `bytes`: its magic, its checksum, its reserved bytes, its type
 * and its length bound. `short` means fewer than a header's bytes remain.
 */
export function parseHeader(bytes: Uint8Array, offset: number): HeaderCheck {
  if (bytes.length - offset < RECORD_HEADER_BYTES) return { kind: 'short' };
  const view = Buffer.from(bytes.buffer, bytes.byteOffset + offset, RECORD_HEADER_BYTES);
  if (view.readUInt32LE(0) !== RECORD_MAGIC) return { kind: 'bad', reason: 'bad magic' };
  if (view.readUInt32LE(4) !== crc32c(view.subarray(8, RECORD_HEADER_BYTES))) {
    return { kind: 'bad', reason: 'header checksum mismatch' };
  }
  const type = view.readUInt8(12);
  if (!RECORD_TYPES.has(type)) return { kind: 'bad', reason: `unknown record type ${type}` };
  if (view.readUInt8(13) !== 0 || view.readUInt16LE(14) !== 0) {
    return { kind: 'bad', reason: 'reserved bytes not zero' };
  }
  const length = view.readUInt32LE(8);
  if (length > RECORD_PAYLOAD_BYTES_MAX) return { kind: 'bad', reason: 'length over the limit' };
  const seq = view.readUInt32LE(16) + view.readUInt32LE(20) * 0x100000000;
  if (!Number.isSafeInteger(seq)) return { kind: 'bad', reason: 'seq not a safe integer' };
  return { kind: 'ok', type: type as RecordType, seq, length, payloadCrc: view.readUInt32LE(24) };
}

/** What {@link decodeRecord} found at an offset. */
export type RecordCheck =
  | { readonly kind: 'ok'; readonly record: DecodedRecord }
  /** The bytes end inside the header, or inside a payload whose header checks: a cut record. */
  | { readonly kind: 'truncated'; readonly headerValid: boolean }
  /**
   * The header or the payload fails its check. `recordBytes` is the record's length when its
   * header checks (so only the payload is bad), else null.
   */
  | { readonly kind: 'bad'; readonly recordBytes: number | null; readonly reason: string };

/** Decodes the record at `offset` of `bytes`, checking both checksums. */
export function decodeRecord(bytes: Uint8Array, offset: number): RecordCheck {
  const header = parseHeader(bytes, offset);
  if (header.kind === 'short') return { kind: 'truncated', headerValid: false };
  if (header.kind === 'bad') return { kind: 'bad', recordBytes: null, reason: header.reason };
  const start = offset + RECORD_HEADER_BYTES;
  if (bytes.length - start < header.length) return { kind: 'truncated', headerValid: true };
  const payload = bytes.subarray(start, start + header.length);
  if (crc32c(payload) !== header.payloadCrc) {
    const recordBytes = RECORD_HEADER_BYTES + header.length;
    return { kind: 'bad', recordBytes, reason: 'payload checksum mismatch' };
  }
  const record = {
    type: header.type,
    seq: header.seq,
    payload,
    bytes: RECORD_HEADER_BYTES + header.length,
  };
  return { kind: 'ok', record };
}

/**
 * The offset of the first complete, valid record at or after `from`, or -1. Used after a damaged
 * record to decide between a torn tail (nothing valid follows) and corruption (something does).
 * The magic number makes the scan cheap: only offsets that start with it are checked further.
 */
export function findValidRecord(bytes: Uint8Array, from: number): number {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const magic = Buffer.alloc(4);
  magic.writeUInt32LE(RECORD_MAGIC, 0);
  let at = view.indexOf(magic, from);
  while (at >= 0) {
    if (decodeRecord(bytes, at).kind === 'ok') return at;
    at = view.indexOf(magic, at + 1);
  }
  return -1;
}
