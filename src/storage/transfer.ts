/**
 * Moving a bucket's state between nodes (backfill, DESIGN.md 4.5 and 4.4): export as a stream of
 * chunks, install from such a stream, and the chunks' wire encoding.
 *
 * A stream is the bucket's rows at one version V, in ascending key order, each row with the
 * version that wrote it (tombstones and older versions are not sent). Chunks are numbered from 0;
 * the last one says so. Install checks all of it (numbering, one V, ascending keys, row versions in
 * 1..V, limits) and writes the rows into a fresh generation that no read sees; the InstallEnd record
 * switches the bucket to it, with applied index V, in one step. A stream that fails or ends early
 * is aborted and leaves the previous state.
 *
 * Chunk encoding (little-endian): u32 magic 0x4b434445 ("EDCK"), u32 CRC-32C of the rest, u32
 * bucket, u64 version, u32 seq, u8 last, 3 zero bytes, u32 row count, then per row u16 key length,
 * u16 0, u32 value length, u64 version, key, value.
 */
import type { BucketId, LogIndex } from '../core/lib/ids.js';
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from '../core/lib/limits.js';
import { crc32c } from '../core/lib/crc32c.js';
import { StorageError } from './errors.js';
import { generationRange, rowKey } from './meta.js';
import { decodeVersions, selectVersion, type StoredVersion } from './mvcc.js';
import type { StorageOptions } from './options.js';
import { payloadChecksum, RECORD_PAYLOAD_BYTES_MAX, RecordType } from './record.js';
import type { PendingRecord } from './segment-log.js';
import type { Pin, Snapshot } from './snapshots.js';
import {
  encodeInstallEnd,
  encodeRows,
  rowsPayloadBytes,
  type VersionedRow,
} from './wal-records.js';

/** One chunk of an export stream. */
export interface BucketChunk {
  /** The bucket exported (informational: a stream may be installed under another id). */
  readonly bucket: BucketId;
  /** The version of the state streamed; the same in every chunk. */
  readonly version: LogIndex;
  /** 0, 1, 2, ... */
  readonly seq: number;
  /** Whether this is the final chunk. */
  readonly last: boolean;
  /** Rows in ascending key order, continuing the previous chunk's. */
  readonly rows: readonly VersionedRow[];
}

/** What export and install need from the engine. */
export interface TransferHost {
  readonly options: StorageOptions;
  check(): void;
  checkSnapshot(snapshot: Snapshot): void;
  /** A snapshot of `bucket` alone, at `atVersion` or the latest version; the caller releases it. */
  pinBucket(bucket: number, atVersion: number | undefined): Snapshot;
  rows(from: Uint8Array, to: Uint8Array): Iterable<readonly [Uint8Array, Uint8Array]>;
  materialize(v: Exclude<StoredVersion, { kind: 'tombstone' }>): Uint8Array;
  /** Marks the bucket busy and returns the generation to install into. */
  beginInstall(bucket: number): number;
  /** Clears the busy mark; a non-null `version` makes the new generation current for submits. */
  endInstall(bucket: number, generation: number, version: number | null): void;
  submit(records: readonly PendingRecord[]): Promise<void>;
  submitBucketRecord(
    type: typeof RecordType.InstallBegin | typeof RecordType.InstallAbort,
    bucket: number,
    generation: number,
  ): Promise<void>;
}

const EMPTY = new Uint8Array(0);
/** Install rows are split into records of at most this many payload bytes. */
const INSTALL_RECORD_BYTES = RECORD_PAYLOAD_BYTES_MAX / 2;

/**
 * The chunks of `bucket` at `at.snapshot`, or at `at.atVersion` or the latest version (pinned
 * while streaming, from the first `next()`).
 */
export async function* exportChunks(
  host: TransferHost,
  bucket: BucketId,
  at: { readonly snapshot?: Snapshot; readonly atVersion?: number },
): AsyncGenerator<BucketChunk> {
  const own = at.snapshot === undefined ? host.pinBucket(bucket, at.atVersion) : null;
  const view = (at.snapshot ?? own) as Snapshot;
  try {
    const pin = view.pin(bucket);
    if (pin === undefined || pin.version === 0) {
      yield { bucket, version: (pin?.version ?? 0) as LogIndex, seq: 0, last: true, rows: [] };
      return;
    }
    let cursor: Uint8Array = rowKey(bucket, pin.generation, EMPTY);
    const end = generationRange(bucket, pin.generation)[1];
    for (let seq = 0; ; seq++) {
      host.check();
      host.checkSnapshot(view);
      const { rows, next } = collectChunk(host, pin, cursor, end);
      yield { bucket, version: pin.version as LogIndex, seq, last: next === null, rows };
      if (next === null) return;
      cursor = next;
    }
  } finally {
    own?.release();
  }
}

/** Rows from `cursor` up to one chunk's worth; `next` is where the next chunk starts, or null. */
function collectChunk(
  host: TransferHost,
  pin: Pin,
  cursor: Uint8Array,
  end: Uint8Array,
): { rows: VersionedRow[]; next: Uint8Array | null } {
  const rows: VersionedRow[] = [];
  let bytes = 0;
  for (const [key, list] of host.rows(cursor, end)) {
    const v = selectVersion(decodeVersions(list), pin.version);
    if (v === undefined || v.kind === 'tombstone') continue;
    const value = host.materialize(v);
    rows.push({ key: Buffer.from(key.subarray(8)), version: v.version, value });
    bytes += key.length + value.length;
    if (
      rows.length >= host.options.exportChunkRowsMax ||
      bytes >= host.options.exportChunkBytesTarget
    ) {
      return { rows, next: Buffer.concat([key, Buffer.from([0])]) };
    }
  }
  return { rows, next: null };
}

/** Installs `chunks` as the state of `bucket`; see the file comment. */
export async function installChunks(
  host: TransferHost,
  bucket: BucketId,
  chunks: AsyncIterable<BucketChunk>,
): Promise<{ version: LogIndex }> {
  const generation = host.beginInstall(bucket);
  try {
    await host.submitBucketRecord(RecordType.InstallBegin, bucket, generation);
    let version: number | null = null;
    let lastKey: Uint8Array | null = null;
    let seq = 0;
    let complete = false;
    for await (const chunk of chunks) {
      host.check();
      if (chunk.seq !== seq) throw invalidStream(`chunk ${chunk.seq} where ${seq} was expected`);
      if (version !== null && chunk.version !== version)
        throw invalidStream('the stream changes version');
      version = chunk.version;
      lastKey = checkRows(chunk, lastKey);
      const records = rowRecords(bucket, generation, chunk.rows);
      if (records.length > 0) await host.submit(records);
      seq += 1;
      if (chunk.last) {
        complete = true;
        break;
      }
    }
    if (!complete || version === null)
      throw invalidStream('the stream ended before its last chunk');
    const payload = encodeInstallEnd(bucket, generation, version);
    const done = host.submit([
      { type: RecordType.InstallEnd, payload, crc: payloadChecksum(payload) },
    ]);
    host.endInstall(bucket, generation, version);
    await done;
    return { version: version as LogIndex };
  } catch (error) {
    host.endInstall(bucket, generation, null);
    try {
      await host.submitBucketRecord(RecordType.InstallAbort, bucket, generation);
    } catch {
      // The engine has stopped or its queue is full: the next open, or the next install of this
      // bucket, marks the abandoned generation as garbage all the same.
    }
    throw error;
  }
}

/** Checks a chunk's rows against the limits and the order; returns its last key. */
function checkRows(chunk: BucketChunk, previous: Uint8Array | null): Uint8Array | null {
  if (!Number.isSafeInteger(chunk.version) || chunk.version < 0) throw invalidStream('bad version');
  let last = previous;
  for (const row of chunk.rows) {
    if (row.key.length === 0 || row.key.length > KEY_BYTES_MAX) throw invalidStream('bad key size');
    if (row.value.length > VALUE_BYTES_MAX) throw invalidStream('value too large');
    if (!Number.isSafeInteger(row.version) || row.version < 1 || row.version > chunk.version) {
      throw invalidStream(`row version ${row.version} outside 1..${chunk.version}`);
    }
    if (last !== null && Buffer.compare(row.key, last) <= 0)
      throw invalidStream('keys not ascending');
    last = row.key;
  }
  return last;
}

/** `rows` as InstallRows records of bounded size. */
function rowRecords(
  bucket: number,
  generation: number,
  rows: readonly VersionedRow[],
): PendingRecord[] {
  const records: PendingRecord[] = [];
  let group: VersionedRow[] = [];
  let bytes = rowsPayloadBytes([]);
  const close = (): void => {
    if (group.length === 0) return;
    const payload = encodeRows(bucket, generation, group);
    records.push({ type: RecordType.InstallRows, payload, crc: payloadChecksum(payload) });
    group = [];
    bytes = rowsPayloadBytes([]);
  };
  for (const row of rows) {
    const rowBytes = rowsPayloadBytes([row]) - rowsPayloadBytes([]);
    if (group.length > 0 && bytes + rowBytes > INSTALL_RECORD_BYTES) close();
    group.push(row);
    bytes += rowBytes;
  }
  close();
  return records;
}

const CHUNK_MAGIC = 0x4b434445;
const CHUNK_HEADER_BYTES = 32;

/** The wire form of a chunk. */
export function encodeChunk(chunk: BucketChunk): Buffer {
  const rows = encodeRows(0, 0, chunk.rows);
  const out = Buffer.alloc(CHUNK_HEADER_BYTES - 12 + rows.length);
  out.writeUInt32LE(CHUNK_MAGIC, 0);
  out.writeUInt32LE(chunk.bucket, 8);
  out.writeUInt32LE(chunk.version % 0x100000000, 12);
  out.writeUInt32LE(Math.floor(chunk.version / 0x100000000), 16);
  out.writeUInt32LE(chunk.seq, 20);
  out.writeUInt8(chunk.last ? 1 : 0, 24);
  rows.copy(out, CHUNK_HEADER_BYTES - 4, 8);
  out.writeUInt32LE(crc32c(out.subarray(8)), 4);
  return out;
}

/** A chunk from its wire form; throws `INSTALL_INVALID` on damage. */
export function decodeChunk(bytes: Uint8Array): BucketChunk {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (view.length < CHUNK_HEADER_BYTES || view.readUInt32LE(0) !== CHUNK_MAGIC) {
    throw invalidStream('not a chunk');
  }
  if (view.readUInt32LE(4) !== crc32c(view.subarray(8)))
    throw invalidStream('chunk checksum mismatch');
  const version = view.readUInt32LE(12) + view.readUInt32LE(16) * 0x100000000;
  const rows: VersionedRow[] = [];
  const count = view.readUInt32LE(28);
  let at = CHUNK_HEADER_BYTES;
  try {
    for (let i = 0; i < count; i++) {
      const keyLength = view.readUInt16LE(at);
      const valueLength = view.readUInt32LE(at + 4);
      const rowVersion = view.readUInt32LE(at + 8) + view.readUInt32LE(at + 12) * 0x100000000;
      at += 16;
      const key = Buffer.from(view.subarray(at, at + keyLength));
      const value = Buffer.from(view.subarray(at + keyLength, at + keyLength + valueLength));
      if (key.length !== keyLength || value.length !== valueLength) throw new Error('short');
      rows.push({ key, version: rowVersion, value });
      at += keyLength + valueLength;
    }
  } catch {
    throw invalidStream('malformed chunk');
  }
  if (at !== view.length) throw invalidStream('malformed chunk');
  return {
    bucket: view.readUInt32LE(8) as BucketId,
    version: version as LogIndex,
    seq: view.readUInt32LE(20),
    last: view.readUInt8(24) === 1,
    rows,
  };
}

function invalidStream(message: string): StorageError {
  return new StorageError('INSTALL_INVALID', message);
}
