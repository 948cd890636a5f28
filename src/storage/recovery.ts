/**
 * Opening a store: load the index's checkpoint and metadata, reconcile the segment files with the
 * manifest, replay the WAL from the checkpoint, and start a fresh active segment.
 *
 * Rules, in order:
 * 1. Every segment the manifest lists with live bytes must exist with the size it had when sealed;
 *    otherwise `STORAGE_CORRUPT` (values would be lost). Listed segments without live bytes that
 *    are gone were deleted after the last checkpoint: forgotten.
 * 2. Compaction output that the manifest does not list is an interrupted compaction's: deleted. WAL
 *    segments before the checkpoint segment that the manifest does not list are garbage a crash
 *    left behind: deleted.
 * 3. Replay (segment-log.ts) applies every record from the checkpoint on, cuts a torn tail of the
 *    newest segment, and refuses any other damage.
 * 4. Installs that were in progress are aborted with an InstallAbort record: the stream that fed
 *    them is gone with the old process.
 */
import type { Applier } from './applier.js';
import type { BucketTable } from './buckets.js';
import { corruptError } from './errors.js';
import type { FileSystem } from './file-system.js';
import { Table, type IndexStore } from './index-store.js';
import {
  BUCKET_META_RANGE,
  CHECKPOINT_KEY,
  decodeBucketMeta,
  decodeCheckpoint,
  decodeSegmentMeta,
  metaKeyId,
  SEGMENT_META_RANGE,
  type Checkpoint,
  type SegmentMeta,
} from './meta.js';
import { payloadChecksum, RecordType } from './record.js';
import { parseSegmentFileName, segmentFileName, type SegmentLog } from './segment-log.js';
import { encodeBucketGeneration, SegmentKind } from './wal-records.js';

/** What recovery found and did. */
export interface RecoveryReport {
  /** The checkpoint replay started from (null: a new or index-less store). */
  readonly checkpoint: Checkpoint | null;
  /** Records applied during replay. */
  readonly replayedRecords: number;
  /** Files deleted as garbage. */
  readonly removedFiles: readonly string[];
  /** Installs aborted. */
  readonly abortedInstalls: number;
}

/** What recovery reads and fills. */
export interface RecoveryParts {
  readonly fs: FileSystem;
  readonly index: IndexStore;
  readonly log: SegmentLog;
  readonly buckets: BucketTable;
  readonly applier: Applier;
}

/** Brings the parts to the state the store was in, from the files and the index. */
export function recover(parts: RecoveryParts): RecoveryReport {
  const { fs, index, log, buckets, applier } = parts;
  const checkpointBytes = index.get(Table.Meta, CHECKPOINT_KEY);
  const checkpoint = checkpointBytes === undefined ? null : decodeCheckpoint(checkpointBytes);
  for (const [key, value] of index.entries(Table.Meta, ...BUCKET_META_RANGE)) {
    buckets.load(metaKeyId(key), decodeBucketMeta(value));
  }
  const manifest = new Map<number, SegmentMeta>();
  for (const [key, value] of index.entries(Table.Meta, ...SEGMENT_META_RANGE)) {
    manifest.set(metaKeyId(key), decodeSegmentMeta(value));
  }
  const onDisk = new Map<number, SegmentKind>();
  for (const name of fs.list()) {
    const parsed = parseSegmentFileName(name);
    if (parsed !== null) onDisk.set(parsed.id, parsed.kind);
  }
  if (checkpoint === null && [...onDisk.values()].includes(SegmentKind.Compacted)) {
    throw corruptError('index', 0, 'no checkpoint in the index, but the log has been compacted');
  }
  log.load(checkpoint, manifest);
  const removedFiles = reconcile(parts, checkpoint, manifest, onDisk);
  let replayedRecords = 0;
  log.replay(checkpoint, (record, at) => {
    applier.applyRecord(record.type, record.payload, at);
    replayedRecords += 1;
  });
  log.startSegment();
  buckets.resetAccepted();
  let abortedInstalls = 0;
  for (const state of buckets.all()) {
    if (state.installing === 0) continue;
    const payload = encodeBucketGeneration(state.bucket, state.installing);
    const record = { type: RecordType.InstallAbort, payload, crc: payloadChecksum(payload) };
    const [at] = log.appendBatch([record]);
    applier.applyRecord(record.type, payload, at as NonNullable<typeof at>);
    abortedInstalls += 1;
  }
  return { checkpoint, replayedRecords, removedFiles, abortedInstalls };
}

/** Applies rules 1 and 2; returns the names of the files deleted. */
function reconcile(
  parts: RecoveryParts,
  checkpoint: Checkpoint | null,
  manifest: ReadonlyMap<number, SegmentMeta>,
  onDisk: ReadonlyMap<number, SegmentKind>,
): string[] {
  const { fs, log } = parts;
  for (const [id, meta] of manifest) {
    const name = segmentFileName(meta.kind, id);
    const kind = onDisk.get(id);
    if (kind === undefined) {
      if (meta.liveBytes > 0) throw corruptError(name, 0, 'segment with live values is missing');
      log.forget(id);
      continue;
    }
    if (kind !== meta.kind) throw corruptError(name, 0, 'segment of the wrong kind');
    const size = fs.size(name) ?? 0;
    const replayed =
      meta.kind === SegmentKind.Wal && checkpoint !== null && id >= checkpoint.segment;
    if (meta.sealed && !replayed && size !== meta.bytes) {
      throw corruptError(name, size, `sealed segment is ${size} bytes, expected ${meta.bytes}`);
    }
    if (!meta.sealed && meta.kind === SegmentKind.Compacted) {
      if (size < meta.bytes)
        throw corruptError(name, size, 'compaction output shorter than recorded');
      log.adopt(id, meta.kind, size);
    }
  }
  const removed: string[] = [];
  for (const [id, kind] of onDisk) {
    if (manifest.has(id)) continue;
    const orphan =
      kind === SegmentKind.Compacted || (checkpoint !== null && id < checkpoint.segment);
    if (!orphan) continue;
    const name = segmentFileName(kind, id);
    fs.remove(name);
    removed.push(name);
  }
  return removed;
}
