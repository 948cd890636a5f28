/**
 * Multi-version rows. The index maps each (bucket, generation, key) to its *version list*: the
 * versions of the key that may still be read, newest first. A version is the bucket log index of
 * the entry that wrote it; it holds a tombstone, a small value inline, or a pointer to the value's
 * bytes in a log segment (with the value's CRC-32C, checked on every read).
 *
 * Which versions are kept (see {@link pruneVersions}): a read is served either at the latest
 * version or at a version *pinned* by an open snapshot. So a version is kept when it is the newest,
 * or when some pin p falls in [its version, the next newer version). Nothing else can be read. A
 * tombstone that is the only version left says nothing a missing row does not, and is dropped.
 * The invariant, checked by property tests: for the latest read and for every pin p,
 * `selectVersion(prune(list), p)` equals `selectVersion(list, p)`.
 *
 * Row encoding (little-endian): u16 count, then per version, newest first: u32 version low word,
 * u32 version high word, u8 kind, then for `inline` u32 length and the bytes, for `pointer` u32
 * segment id, u32 offset, u32 length, u32 CRC-32C; nothing for a tombstone. Last, a u32 CRC-32C of
 * everything before it: LMDB keeps no checksums, and a row holds small values' only copy once their
 * log segment is gone, so every decode checks it.
 */
import { assert } from '../core/lib/assert.js';
import { crc32c } from '../core/lib/crc32c.js';
import { StorageError } from './errors.js';

/** Where a value's bytes are in a log segment. */
export interface ValuePointer {
  readonly segment: number;
  readonly offset: number;
  readonly length: number;
  readonly crc: number;
}

/** One version of a key: a tombstone, an inline value, or a pointer into the log. */
export type StoredVersion =
  | { readonly version: number; readonly kind: 'tombstone' }
  | { readonly version: number; readonly kind: 'inline'; readonly value: Uint8Array }
  | { readonly version: number; readonly kind: 'pointer'; readonly pointer: ValuePointer };

const KIND_TOMBSTONE = 0;
const KIND_INLINE = 1;
const KIND_POINTER = 2;
const U32 = 0x100000000;

/** Encodes a version list, newest first. */
export function encodeVersions(versions: readonly StoredVersion[]): Buffer {
  assert(versions.length > 0 && versions.length <= 0xffff, 'version list length');
  let bytes = 2 + 4;
  for (const v of versions) {
    bytes += 9;
    if (v.kind === 'inline') bytes += 4 + v.value.length;
    else if (v.kind === 'pointer') bytes += 16;
  }
  const out = Buffer.allocUnsafe(bytes);
  out.writeUInt16LE(versions.length, 0);
  let at = 2;
  let previous = Infinity;
  for (const v of versions) {
    assert(v.version < previous, 'versions are strictly decreasing');
    previous = v.version;
    out.writeUInt32LE(v.version % U32, at);
    out.writeUInt32LE(Math.floor(v.version / U32), at + 4);
    at += 8;
    if (v.kind === 'tombstone') {
      out.writeUInt8(KIND_TOMBSTONE, at++);
    } else if (v.kind === 'inline') {
      out.writeUInt8(KIND_INLINE, at++);
      out.writeUInt32LE(v.value.length, at);
      out.set(v.value, at + 4);
      at += 4 + v.value.length;
    } else {
      out.writeUInt8(KIND_POINTER, at++);
      out.writeUInt32LE(v.pointer.segment, at);
      out.writeUInt32LE(v.pointer.offset, at + 4);
      out.writeUInt32LE(v.pointer.length, at + 8);
      out.writeUInt32LE(v.pointer.crc >>> 0, at + 12);
      at += 16;
    }
  }
  out.writeUInt32LE(crc32c(out.subarray(0, at)), at);
  assert(at + 4 === bytes, 'version list encoding size');
  return out;
}

/** Decodes a version list. Inline values are views into `bytes`. */
export function decodeVersions(bytes: Uint8Array): StoredVersion[] {
  const view = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const end = view.length - 4;
  if (end < 2 || view.readUInt32LE(end) !== crc32c(view.subarray(0, end))) {
    throw new StorageError('STORAGE_CORRUPT', 'an index row fails its checksum', {
      file: 'index',
      offset: 0,
    });
  }
  const count = view.readUInt16LE(0);
  const out: StoredVersion[] = [];
  let at = 2;
  for (let i = 0; i < count; i++) {
    const version = view.readUInt32LE(at) + view.readUInt32LE(at + 4) * U32;
    const kind = view.readUInt8(at + 8);
    at += 9;
    if (kind === KIND_TOMBSTONE) {
      out.push({ version, kind: 'tombstone' });
    } else if (kind === KIND_INLINE) {
      const length = view.readUInt32LE(at);
      out.push({ version, kind: 'inline', value: view.subarray(at + 4, at + 4 + length) });
      at += 4 + length;
    } else {
      assert(kind === KIND_POINTER, `unknown version kind ${kind}`);
      const pointer = {
        segment: view.readUInt32LE(at),
        offset: view.readUInt32LE(at + 4),
        length: view.readUInt32LE(at + 8),
        crc: view.readUInt32LE(at + 12),
      };
      out.push({ version, kind: 'pointer', pointer });
      at += 16;
    }
  }
  assert(at === end, 'version list decoding size');
  return out;
}

/**
 * `list` with `added` as its newest version. An existing version with the same number is replaced
 * (two ops on one key in one entry: the last wins) and returned in `replaced`.
 */
export function pushVersion(
  list: readonly StoredVersion[],
  added: StoredVersion,
): { list: StoredVersion[]; replaced: StoredVersion | null } {
  const newest = list[0];
  if (newest === undefined) return { list: [added], replaced: null };
  if (newest.version === added.version)
    return { list: [added, ...list.slice(1)], replaced: newest };
  assert(added.version > newest.version, `version ${added.version} after ${newest.version}`);
  return { list: [added, ...list], replaced: null };
}

/**
 * Splits `list` (newest first) into the versions some read can still see and the rest, given the
 * pinned versions `pins` (ascending). See the file comment for the rule.
 */
export function pruneVersions(
  list: readonly StoredVersion[],
  pins: readonly number[],
): { kept: StoredVersion[]; dropped: StoredVersion[] } {
  const kept: StoredVersion[] = [];
  const dropped: StoredVersion[] = [];
  for (let i = 0; i < list.length; i++) {
    const v = list[i] as StoredVersion;
    if (i === 0) {
      kept.push(v);
      continue;
    }
    const newer = (list[i - 1] as StoredVersion).version;
    if (pinnedIn(pins, v.version, newer)) kept.push(v);
    else dropped.push(v);
  }
  if (kept.length === 1 && kept[0]?.kind === 'tombstone')
    dropped.unshift(kept.pop() as StoredVersion);
  return { kept, dropped };
}

/** The version a read at `at` sees: the newest with version <= at, or undefined. */
export function selectVersion(
  list: readonly StoredVersion[],
  at: number,
): StoredVersion | undefined {
  for (const v of list) if (v.version <= at) return v;
  return undefined;
}

/** Whether some pin p satisfies low <= p < high; `pins` is ascending. */
function pinnedIn(pins: readonly number[], low: number, high: number): boolean {
  let lo = 0;
  let hi = pins.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((pins[mid] as number) < low) lo = mid + 1;
    else hi = mid;
  }
  return lo < pins.length && (pins[lo] as number) < high;
}
