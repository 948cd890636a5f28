/**
 * Compaction: copy the live values out of sealed segments that are mostly dead, then delete them.
 *
 * A sealed segment is a candidate when at most `compactionLiveRatioMax` of its bytes are live
 * (pointed to by index rows) and, for a WAL segment, when it lies wholly before the checkpoint (so
 * replay never needs it). Segments with no live bytes need no copy: the checkpoint deletes them.
 *
 * For each candidate, front to back: decode each record; for each value in it, look up its row; if
 * some version of the row (the latest or one an open snapshot pins) points at exactly this value,
 * the value is live. Live values are appended, one Relocate record each, to a compaction segment
 * (`cmp-*.seg`), which is fdatasynced; only then are the rows repointed, each only if it still
 * points where it did (a write or a release may have changed it meanwhile). When the candidate is
 * done its live bytes must be zero (the accounting is exact). A closing checkpoint makes the new
 * pointers durable and deletes the candidates.
 *
 * Reads and writes continue meanwhile: compaction works in synchronous batches between which the
 * event loop runs foreground work, and it sleeps as needed to stay within
 * `compactionBytesPerSecond` (bytes read plus written).
 *
 * Crash safety: until the closing checkpoint, the durable index still points into the old
 * segments, which are not deleted; an unreferenced compaction segment is deleted on recovery.
 */
import { assert } from '../core/lib/assert.js';
import type { Applier } from './applier.js';
import { crc32c } from '../core/lib/crc32c.js';
import { corruptError } from './errors.js';
import { rowKey } from './meta.js';
import type { ValuePointer } from './mvcc.js';
import type { StorageOptions } from './options.js';
import { payloadChecksum, RECORD_HEADER_BYTES, RecordType, type DecodedRecord } from './record.js';
import type { SegmentLog } from './segment-log.js';
import { decodeWalRecord, encodeRows, SegmentKind } from './wal-records.js';

/** What one compaction run did. */
export interface CompactionReport {
  /** Ids of the segments rewritten. */
  readonly segments: readonly number[];
  /** Values copied. */
  readonly values: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  /** Whether the run stopped early because the engine closed. */
  readonly aborted: boolean;
}

/** What compaction reads and changes. */
export interface CompactionParts {
  readonly log: SegmentLog;
  readonly applier: Applier;
}

/** What compaction needs from the engine: time, checkpoints, and whether to go on. */
export interface CompactionHooks {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** A durable checkpoint followed by garbage removal. */
  checkpoint(): void;
  /** After each batch of relocations (the engine checkpoints when the memtable is full). */
  afterStep(): void;
  /** The segment of the last checkpoint. */
  checkpointSegment(): number;
  /** Throws when the engine has stopped. */
  check(): void;
}

/** A live value found in a candidate segment. */
interface Found {
  readonly bucket: number;
  readonly generation: number;
  readonly key: Uint8Array;
  readonly version: number;
  readonly from: ValuePointer;
  readonly value: Uint8Array;
}

/** Values are copied in batches of about this many bytes (one append and fdatasync each). */
const BATCH_BYTES = 1024 * 1024;

class Run {
  readonly segments: number[] = [];
  values = 0;
  bytesRead = 0;
  bytesWritten = 0;
  output: number | null = null;
  readonly started: number;

  constructor(now: number) {
    this.started = now;
  }
}

/** Runs compaction passes, one at a time; see the file comment. */
export class Compactor {
  private current: Promise<CompactionReport> | null = null;
  private stopping = false;

  constructor(
    private readonly parts: CompactionParts,
    private readonly options: Pick<
      StorageOptions,
      'compactionLiveRatioMax' | 'compactionBytesPerSecond' | 'segmentBytesTarget'
    >,
    private readonly hooks: CompactionHooks,
  ) {}

  get running(): boolean {
    return this.current !== null;
  }

  /** Runs one compaction pass (or joins the one under way). */
  run(): Promise<CompactionReport> {
    if (this.current === null) {
      this.current = this.runOnce().finally(() => {
        this.current = null;
      });
    }
    return this.current;
  }

  /** Stops the run under way at its next step and waits for it; no run starts afterwards. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.current?.catch(() => undefined);
  }

  /** Sealed segments worth rewriting, oldest first. */
  candidates(): number[] {
    const checkpointSegment = this.hooks.checkpointSegment();
    const out: number[] = [];
    for (const [id, meta] of this.parts.log.segments) {
      if (!meta.sealed || meta.liveBytes === 0) continue;
      if (meta.kind === SegmentKind.Wal && id >= checkpointSegment) continue;
      if (meta.liveBytes > this.options.compactionLiveRatioMax * meta.bytes) continue;
      out.push(id);
    }
    return out.sort((a, b) => a - b);
  }

  private async runOnce(): Promise<CompactionReport> {
    const run = new Run(this.hooks.now());
    if (this.stopping) return report(run, true);
    this.hooks.check();
    for (const id of this.candidates()) {
      this.parts.log.protect(id);
      try {
        const finished = await this.rewrite(id, run);
        if (!finished) return report(run, true);
        run.segments.push(id);
        const left = this.parts.log.segments.get(id)?.liveBytes ?? 0;
        assert(left === 0, `segment ${id} still has ${left} live bytes after compaction`);
      } finally {
        this.parts.log.unprotect(id);
      }
    }
    if (run.output !== null) this.parts.log.seal(run.output);
    if (run.segments.length > 0) this.hooks.checkpoint();
    return report(run, false);
  }

  /** Copies the live values of segment `id`. Returns false when stopped early. */
  private async rewrite(id: number, run: Run): Promise<boolean> {
    const reader = this.parts.log.reader(id);
    let offset = 0;
    let found: Found[] = [];
    let foundBytes = 0;
    while (offset < reader.size) {
      const check = reader.at(offset);
      if (check.kind !== 'ok')
        throw corruptError(reader.name, offset, 'damaged record in a sealed segment');
      run.bytesRead += check.record.bytes;
      for (const f of this.liveValues(id, offset, check.record, reader.name)) {
        found.push(f);
        foundBytes += f.value.length;
      }
      offset += check.record.bytes;
      if (foundBytes >= BATCH_BYTES || offset >= reader.size) {
        this.copy(found, run);
        found = [];
        foundBytes = 0;
        if (!(await this.throttle(run))) return false;
      }
    }
    return true;
  }

  /** The values of `record` (at `offset` of segment `id`) that some row points at. */
  private liveValues(id: number, offset: number, record: DecodedRecord, name: string): Found[] {
    if (record.type === RecordType.SegmentHeader) return [];
    let decoded;
    try {
      decoded = decodeWalRecord(record.type, record.payload);
    } catch (error) {
      throw corruptError(name, offset, `malformed record (${String(error)})`);
    }
    const values: { key: Uint8Array; version: number; value: Uint8Array; valueOffset: number }[] =
      [];
    if (decoded.type === RecordType.Apply) {
      for (const op of decoded.ops) {
        if (op.kind === 'put') values.push({ ...op, version: decoded.index });
      }
    } else if (decoded.type === RecordType.InstallRows || decoded.type === RecordType.Relocate) {
      values.push(...decoded.rows);
    } else {
      return [];
    }
    const found: Found[] = [];
    for (const v of values) {
      if (v.value.length <= 0) continue;
      const at = offset + RECORD_HEADER_BYTES + v.valueOffset;
      const row = this.parts.applier.readRow(decoded.bucket, decoded.generation, v.key);
      const hit = row.find(
        (x) =>
          x.version === v.version &&
          x.kind === 'pointer' &&
          x.pointer.segment === id &&
          x.pointer.offset === at,
      );
      if (hit === undefined || hit.kind !== 'pointer') continue;
      if (hit.pointer.length !== v.value.length || crc32c(v.value) !== hit.pointer.crc) {
        throw corruptError(name, at, 'value does not match the checksum its row holds');
      }
      const { bucket, generation } = decoded;
      found.push({
        bucket,
        generation,
        key: v.key,
        version: v.version,
        from: hit.pointer,
        value: v.value,
      });
    }
    return found;
  }

  /** Appends `found` to the output segment (durably), then repoints the rows that still match. */
  private copy(found: readonly Found[], run: Run): void {
    if (found.length === 0) return;
    this.hooks.check();
    const log = this.parts.log;
    if (
      run.output !== null &&
      (log.segments.get(run.output)?.bytes ?? 0) >= this.options.segmentBytesTarget
    ) {
      log.seal(run.output);
      run.output = null;
    }
    if (run.output === null) run.output = log.createCompacted();
    const records = found.map((f) => {
      const payload = encodeRows(f.bucket, f.generation, [
        { key: f.key, version: f.version, value: f.value },
      ]);
      return { type: RecordType.Relocate, payload, crc: payloadChecksum(payload) };
    });
    const positions = log.appendCompacted(run.output, records);
    found.forEach((f, i) => {
      const at = positions[i] as NonNullable<(typeof positions)[number]>;
      // Relocate payload: 12 bytes of header, 16 bytes of row header, the key, then the value.
      const to: ValuePointer = {
        segment: at.segment,
        offset: at.offset + RECORD_HEADER_BYTES + 28 + f.key.length,
        length: f.from.length,
        crc: f.from.crc,
      };
      if (
        this.parts.applier.relocate(rowKey(f.bucket, f.generation, f.key), f.version, f.from, to)
      ) {
        run.values += 1;
      }
      run.bytesWritten += RECORD_HEADER_BYTES + (records[i]?.payload.length ?? 0);
    });
    this.hooks.afterStep();
  }

  /** Sleeps as long as the I/O budget requires (at least one event-loop turn). */
  private async throttle(run: Run): Promise<boolean> {
    const dueMs =
      ((run.bytesRead + run.bytesWritten) / this.options.compactionBytesPerSecond) * 1000;
    const elapsedMs = this.hooks.now() - run.started;
    await this.hooks.sleep(Math.max(0, dueMs - elapsedMs));
    if (this.stopping) return false;
    this.hooks.check();
    return true;
  }
}

function report(run: Run, aborted: boolean): CompactionReport {
  return {
    segments: run.segments,
    values: run.values,
    bytesRead: run.bytesRead,
    bytesWritten: run.bytesWritten,
    aborted,
  };
}
