/**
 * A full consistency check of a store (fsck): every row against the invariants the engine keeps,
 * every pointer against the manifest, and optionally every pointed-to value against its checksum.
 * Tests run it after each step of the crash models; operators can run it on a live engine (it is
 * synchronous and reads the whole index, so it blocks for as long as that takes).
 *
 * Checked:
 * - version lists are non-empty and strictly decreasing, and never a lone tombstone;
 * - rows belong to a known bucket, in its current, installing, garbage or snapshot-pinned generation;
 * - the Gc table lists exactly the rows with more than one version;
 * - each pointer lies inside its segment, and each segment's live bytes equal its pointers' total;
 * - (with `readValues`) each pointed-to value has the checksum its pointer holds.
 */
import type { BucketTable } from './buckets.js';
import { corruptError } from './errors.js';
import { Table } from './index-store.js';
import type { Memtable } from './memtable.js';
import { parseRowKey } from './meta.js';
import { decodeVersions } from './mvcc.js';
import type { SegmentLog } from './segment-log.js';
import type { SnapshotRegistry } from './snapshots.js';
import { toKeyString } from './sorted-map.js';

/** What {@link verifyStore} looked at. */
export interface VerifyReport {
  readonly rows: number;
  readonly versions: number;
  readonly pointers: number;
  /** Bytes of values read and checked (0 without `readValues`). */
  readonly valueBytesChecked: number;
}

/** What {@link verifyStore} reads. */
export interface VerifyParts {
  readonly memtable: Memtable;
  readonly log: SegmentLog;
  readonly buckets: BucketTable;
  readonly snapshots: SnapshotRegistry;
}

/** Checks the store; throws `STORAGE_CORRUPT` describing the first inconsistency found. */
export function verifyStore(parts: VerifyParts, readValues: boolean): VerifyReport {
  const { memtable, log, buckets, snapshots } = parts;
  const live = new Map<number, number>();
  const multi = new Set<string>();
  let rows = 0;
  let versions = 0;
  let pointers = 0;
  let valueBytesChecked = 0;
  const fail = (key: Uint8Array, what: string): never => {
    throw corruptError('index', 0, `row ${Buffer.from(key).toString('hex')}: ${what}`);
  };
  for (const [key, bytes] of memtable.entries(Table.Rows, new Uint8Array(0), null)) {
    rows += 1;
    const { bucket, generation } = parseRowKey(key);
    const state = buckets.get(bucket);
    if (state === undefined) fail(key, 'row of an unknown bucket');
    const known =
      state !== undefined &&
      (generation === state.generation ||
        generation === state.installing ||
        state.stale.includes(generation) ||
        snapshots.pinsGeneration(bucket, generation));
    if (!known) fail(key, `row of generation ${generation}, which the bucket does not use`);
    const list = decodeVersions(bytes);
    if (list.length === 0) fail(key, 'empty version list');
    if (list.length === 1 && list[0]?.kind === 'tombstone') fail(key, 'lone tombstone');
    if (list.length > 1) multi.add(toKeyString(key));
    for (let i = 0; i < list.length; i++) {
      const v = list[i] as (typeof list)[number];
      versions += 1;
      if (i > 0 && v.version >= (list[i - 1] as typeof v).version)
        fail(key, 'versions not decreasing');
      if (v.kind !== 'pointer') continue;
      pointers += 1;
      const meta = log.segments.get(v.pointer.segment);
      if (meta === undefined) fail(key, `pointer into unknown segment ${v.pointer.segment}`);
      if (meta !== undefined && v.pointer.offset + v.pointer.length > meta.bytes) {
        fail(key, `pointer past the end of segment ${v.pointer.segment}`);
      }
      live.set(v.pointer.segment, (live.get(v.pointer.segment) ?? 0) + v.pointer.length);
      if (readValues) {
        log.readValue(v.pointer);
        valueBytesChecked += v.pointer.length;
      }
    }
  }
  for (const [key] of memtable.entries(Table.Gc, new Uint8Array(0), null)) {
    if (!multi.delete(toKeyString(key))) fail(key, 'Gc mark on a row without old versions');
  }
  for (const key of multi) fail(Buffer.from(key, 'latin1'), 'old versions without a Gc mark');
  for (const [id, meta] of log.segments) {
    const counted = live.get(id) ?? 0;
    if (counted !== meta.liveBytes) {
      throw corruptError(
        `segment ${id}`,
        0,
        `live bytes ${meta.liveBytes}, pointers total ${counted}`,
      );
    }
  }
  return { rows, versions, pointers, valueBytesChecked };
}
