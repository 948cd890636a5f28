/**
 * Applies log records to the index: the one place where rows, bucket states and the live-byte
 * accounting of segments change. The same code runs for a record just made durable and for a record
 * replayed after a restart, so recovery rebuilds exactly what the live path built.
 *
 * Invariants kept here (checked by `verifyIndex` in the tests):
 * - A row's version list is newest first and pruned against the open snapshots' pins (mvcc.ts).
 * - For every segment, live bytes equal the total length of the pointers in rows into it.
 * - A row key is in the Gc table exactly when its version list holds more than one version.
 */
import { assert } from '../core/lib/assert.js';
import type { BucketTable } from './buckets.js';
import { crc32c } from '../core/lib/crc32c.js';
import { corruptError } from './errors.js';
import { Table } from './index-store.js';
import type { Memtable } from './memtable.js';
import { parseRowKey, rowKey } from './meta.js';
import {
  decodeVersions,
  encodeVersions,
  pruneVersions,
  pushVersion,
  type StoredVersion,
  type ValuePointer,
} from './mvcc.js';
import { RECORD_HEADER_BYTES, RecordType } from './record.js';
import type { RecordPosition, SegmentLog } from './segment-log.js';
import type { SnapshotRegistry } from './snapshots.js';
import { toKeyString } from './sorted-map.js';
import { decodeWalRecord, type WalRecord } from './wal-records.js';

const GC_MARK = Buffer.from([1]);

/** Applies WAL records and background changes to the index; see the file comment. */
export class Applier {
  constructor(
    private readonly memtable: Memtable,
    private readonly log: SegmentLog,
    private readonly buckets: BucketTable,
    private readonly snapshots: SnapshotRegistry,
    private readonly inlineValueBytesMax: number,
  ) {}

  /** Applies the WAL record of `type` with `payload`, written at `at`. */
  applyRecord(
    type: RecordType,
    payload: Uint8Array,
    at: RecordPosition,
    valueCrcs?: readonly (number | undefined)[],
  ): void {
    let record: WalRecord;
    try {
      record = decodeWalRecord(type, payload);
    } catch (error) {
      throw corruptError(`segment ${at.segment}`, at.offset, `malformed record (${String(error)})`);
    }
    switch (record.type) {
      case RecordType.Apply:
        return this.applyEntry(record, at, valueCrcs);
      case RecordType.InstallBegin:
        return this.installBegin(record.bucket, record.generation);
      case RecordType.InstallRows:
        return this.installRows(record, at);
      case RecordType.InstallEnd:
        return this.installEnd(record.bucket, record.generation, record.version);
      case RecordType.InstallAbort:
        return this.installAbort(record.bucket, record.generation);
      case RecordType.Drop:
        return this.drop(record.bucket, record.generation);
      default:
        throw corruptError(`segment ${at.segment}`, at.offset, `record type ${type} in the WAL`);
    }
  }

  /** The version list of `key` in (bucket, generation), newest first ([] when absent). */
  readRow(bucket: number, generation: number, key: Uint8Array): StoredVersion[] {
    const bytes = this.memtable.get(Table.Rows, rowKey(bucket, generation, key));
    return bytes === undefined ? [] : decodeVersions(bytes);
  }

  /** Re-prunes the row at `key` against the current pins (the version collector's step). */
  prune(key: Uint8Array): void {
    const bytes = this.memtable.get(Table.Rows, key);
    if (bytes === undefined) {
      this.memtable.delete(Table.Gc, key);
      return;
    }
    const list = decodeVersions(bytes);
    const { bucket, generation } = parseRowKey(key);
    const { kept, dropped } = pruneVersions(list, this.snapshots.pins(bucket, generation));
    if (dropped.length === 0) return;
    this.releasePointers(dropped);
    this.setRow(key, list.length, kept);
  }

  /** Deletes the row at `key` and its pointers (the generation cleaner's step). */
  deleteRow(key: Uint8Array): void {
    const bytes = this.memtable.get(Table.Rows, key);
    if (bytes === undefined) return;
    const list = decodeVersions(bytes);
    this.releasePointers(list);
    this.setRow(key, list.length, []);
  }

  /**
   * Points version `version` of the row at `key` at `to` instead of `from`, if the row still holds
   * that version with that pointer (compaction's step; the row may have changed since it looked).
   * Returns whether it did.
   */
  relocate(key: Uint8Array, version: number, from: ValuePointer, to: ValuePointer): boolean {
    const bytes = this.memtable.get(Table.Rows, key);
    if (bytes === undefined) return false;
    const list = decodeVersions(bytes);
    const i = list.findIndex((v) => v.version === version);
    const v = list[i];
    if (v === undefined || v.kind !== 'pointer' || !samePointer(v.pointer, from)) return false;
    assert(to.length === from.length && to.crc === from.crc, 'relocation changes the value');
    list[i] = { version, kind: 'pointer', pointer: to };
    this.log.addLive(from.segment, -from.length);
    this.log.addLive(to.segment, to.length);
    this.memtable.put(Table.Rows, key, encodeVersions(list));
    return true;
  }

  private applyEntry(
    record: Extract<WalRecord, { type: typeof RecordType.Apply }>,
    at: RecordPosition,
    valueCrcs: readonly (number | undefined)[] | undefined,
  ): void {
    const state = this.buckets.ensure(record.bucket);
    assert(record.generation === state.generation, `entry for generation ${record.generation}`);
    assert(record.index > state.appliedIndex, `entry ${record.index} after ${state.appliedIndex}`);
    const pins = this.snapshots.pins(record.bucket, record.generation);
    record.ops.forEach((op, i) => {
      const version: StoredVersion =
        op.kind === 'delete'
          ? { version: record.index, kind: 'tombstone' }
          : this.storedValue(record.index, op.value, at, op.valueOffset, valueCrcs?.[i]);
      this.writeVersion(rowKey(record.bucket, record.generation, op.key), version, pins);
    });
    state.appliedIndex = record.index;
    this.buckets.touch(record.bucket);
  }

  private installBegin(bucket: number, generation: number): void {
    const state = this.buckets.ensure(bucket);
    if (state.installing !== 0) this.buckets.markStale(state, state.installing);
    state.installing = generation;
    state.nextGeneration = Math.max(state.nextGeneration, generation + 1);
    this.buckets.touch(bucket);
  }

  private installRows(
    record: Extract<WalRecord, { type: typeof RecordType.InstallRows }>,
    at: RecordPosition,
  ): void {
    const state = this.buckets.get(record.bucket);
    assert(state !== undefined && state.installing === record.generation, 'rows of no install');
    for (const row of record.rows) {
      const version = this.storedValue(row.version, row.value, at, row.valueOffset);
      this.writeVersion(rowKey(record.bucket, record.generation, row.key), version, []);
    }
  }

  private installEnd(bucket: number, generation: number, version: number): void {
    const state = this.buckets.get(bucket);
    assert(state !== undefined && state.installing === generation, 'end of no install');
    this.buckets.markStale(state, state.generation);
    state.generation = generation;
    state.installing = 0;
    state.appliedIndex = version;
    state.baseVersion = version;
    this.buckets.touch(bucket);
  }

  private installAbort(bucket: number, generation: number): void {
    const state = this.buckets.get(bucket);
    if (state === undefined || state.installing !== generation) return;
    state.installing = 0;
    this.buckets.markStale(state, generation);
  }

  private drop(bucket: number, generation: number): void {
    const state = this.buckets.ensure(bucket);
    assert(generation > state.generation, 'a drop moves to a newer generation');
    this.buckets.markStale(state, state.generation);
    if (state.installing !== 0) this.buckets.markStale(state, state.installing);
    state.installing = 0;
    state.generation = generation;
    state.nextGeneration = Math.max(state.nextGeneration, generation + 1);
    state.appliedIndex = 0;
    state.baseVersion = 0;
    this.buckets.touch(bucket);
  }

  /** A put's stored form: inline when small, else a pointer into the record at `at`. */
  private storedValue(
    version: number,
    value: Uint8Array,
    at: RecordPosition,
    valueOffset: number,
    crc: number | undefined = undefined,
  ): StoredVersion {
    if (value.length <= this.inlineValueBytesMax) return { version, kind: 'inline', value };
    const pointer: ValuePointer = {
      segment: at.segment,
      offset: at.offset + RECORD_HEADER_BYTES + valueOffset,
      length: value.length,
      crc: crc ?? crc32c(value),
    };
    return { version, kind: 'pointer', pointer };
  }

  private writeVersion(key: Buffer, added: StoredVersion, pins: readonly number[]): void {
    const keyString = toKeyString(key);
    const bytes = this.memtable.get(Table.Rows, key, keyString);
    const current = bytes === undefined ? [] : decodeVersions(bytes);
    const { list, replaced } = pushVersion(current, added);
    const { kept, dropped } = pruneVersions(list, pins);
    if (replaced !== null) dropped.push(replaced);
    if (added.kind === 'pointer') this.log.addLive(added.pointer.segment, added.pointer.length);
    this.releasePointers(dropped);
    if (current.length === 0 && kept.length === 0) return;
    this.setRow(key, current.length, kept, keyString);
  }

  private releasePointers(versions: readonly StoredVersion[]): void {
    for (const v of versions) {
      if (v.kind === 'pointer') this.log.addLive(v.pointer.segment, -v.pointer.length);
    }
  }

  /** Writes (or deletes, when `kept` is empty) a row and keeps its Gc mark in step. */
  private setRow(
    key: Uint8Array,
    previousCount: number,
    kept: readonly StoredVersion[],
    keyString = toKeyString(key),
  ): void {
    if (kept.length === 0) this.memtable.delete(Table.Rows, key, keyString);
    else this.memtable.put(Table.Rows, key, encodeVersions(kept), keyString);
    const marked = previousCount > 1;
    const mark = kept.length > 1;
    if (mark && !marked) this.memtable.put(Table.Gc, key, GC_MARK, keyString);
    if (!mark && marked) this.memtable.delete(Table.Gc, key, keyString);
  }
}

function samePointer(a: ValuePointer, b: ValuePointer): boolean {
  return (
    a.segment === b.segment && a.offset === b.offset && a.length === b.length && a.crc === b.crc
  );
}
