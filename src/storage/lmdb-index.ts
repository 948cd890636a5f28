/**
 * The {@link IndexStore} of real nodes: one LMDB environment (the `lmdb` package) with a named
 * database per table, binary keys and values, and fully synced commits.
 *
 * Durability: each `commit` is one synchronous LMDB write transaction that returns after LMDB has
 * flushed it (overlappingSync off, the default sync flags). The engine commits only when it moves
 * its checkpoint (every few thousand rows, not per write), so the cost of a synced commit (two
 * fdatasyncs) is spread over many writes, and LMDB's crash safety is never traded away.
 *
 * Long keys: LMDB keys stop at 1,978 bytes with the default page size, but Edict keys go to 4 KiB
 * (plus an 8-byte prefix). Keys shorter than {@link BIN_HEAD_BYTES} are stored as they are; longer
 * keys are grouped into a *bin*, an LMDB entry keyed by their first BIN_HEAD_BYTES bytes whose value
 * lists (suffix, value) pairs in suffix order. Order is preserved: a stored key shorter than the head
 * length never equals a bin head, and every key in a bin sorts between the bin's head and the next
 * LMDB key. A bin is rewritten whole when one of its keys changes, so key schemes whose keys share
 * more than ~1.9 KB of prefix are slow, though still correct (docs/storage.md).
 */
import { open, type Database, type RootDatabase } from 'lmdb';
import { assert } from '../core/lib/assert.js';
import { TABLES, type IndexStore, type IndexWrite, type Table } from './index-store.js';

/** Keys of at least this many bytes live in bins keyed by their first this-many bytes. */
export const BIN_HEAD_BYTES = 1900;

/** Options of {@link LmdbIndexStore}. */
export interface LmdbIndexOptions {
  /** Directory of the LMDB environment; created when absent. */
  readonly path: string;
}

type BinaryDb = Database<Buffer, Buffer>;

/** An {@link IndexStore} over LMDB. */
export class LmdbIndexStore implements IndexStore {
  private readonly root: RootDatabase<Buffer, Buffer>;
  private readonly dbs: readonly BinaryDb[];
  private closed = false;

  constructor(options: LmdbIndexOptions) {
    this.root = open<Buffer, Buffer>({
      path: options.path,
      maxDbs: TABLES.length + 1,
      // Synced commits that return only once flushed: crash-safe without relying on boot ids.
      overlappingSync: false,
      noMemInit: true,
    });
    this.dbs = TABLES.map((table) =>
      this.root.openDB<Buffer, Buffer>({
        name: `t${table}`,
        keyEncoding: 'binary',
        encoding: 'binary',
      }),
    );
  }

  get(table: Table, key: Uint8Array): Uint8Array | undefined {
    this.checkOpen();
    const db = this.db(table);
    if (key.length < BIN_HEAD_BYTES) return db.getBinary(asBuffer(key));
    const bin = db.getBinary(asBuffer(key.subarray(0, BIN_HEAD_BYTES)));
    if (bin === undefined) return undefined;
    const suffix = asBuffer(key.subarray(BIN_HEAD_BYTES));
    for (const [s, value] of decodeBin(bin)) {
      if (s.equals(suffix)) return value;
    }
    return undefined;
  }

  *entries(
    table: Table,
    start: Uint8Array,
    end: Uint8Array | null,
  ): Iterable<readonly [Uint8Array, Uint8Array]> {
    this.checkOpen();
    const from = asBuffer(
      start.length < BIN_HEAD_BYTES ? start : start.subarray(0, BIN_HEAD_BYTES),
    );
    const startBuf = asBuffer(start);
    const endBuf = end === null ? null : asBuffer(end);
    for (const { key, value } of this.db(table).getRange({ start: from })) {
      // Every key in a bin sorts at or after its head, so one comparison ends the scan either way.
      if (endBuf !== null && Buffer.compare(key, endBuf) >= 0) return;
      if (key.length < BIN_HEAD_BYTES) {
        if (Buffer.compare(key, startBuf) >= 0) yield [key, value];
        continue;
      }
      for (const [suffix, binValue] of decodeBin(value)) {
        const full = Buffer.concat([key, suffix]);
        if (Buffer.compare(full, startBuf) < 0) continue;
        if (endBuf !== null && Buffer.compare(full, endBuf) >= 0) return;
        yield [full, binValue];
      }
    }
  }

  commit(writes: readonly IndexWrite[]): void {
    this.checkOpen();
    this.root.transactionSync(() => {
      const bins = new Map<string, { table: Table; head: Buffer; writes: IndexWrite[] }>();
      for (const write of writes) {
        assert(write.key.length > 0, 'index keys are not empty');
        if (write.key.length < BIN_HEAD_BYTES) {
          const db = this.db(write.table);
          if (write.value === null) db.removeSync(asBuffer(write.key));
          else db.putSync(asBuffer(write.key), asBuffer(write.value));
          continue;
        }
        const head = asBuffer(write.key.subarray(0, BIN_HEAD_BYTES));
        const id = `${write.table}:${head.toString('latin1')}`;
        const bin = bins.get(id) ?? { table: write.table, head, writes: [] };
        bin.writes.push(write);
        bins.set(id, bin);
      }
      for (const bin of bins.values()) this.rewriteBin(bin.table, bin.head, bin.writes);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.root.close();
  }

  private rewriteBin(table: Table, head: Buffer, writes: readonly IndexWrite[]): void {
    const db = this.db(table);
    const current = db.getBinary(head);
    const entries = new Map<string, Buffer>();
    if (current !== undefined) {
      for (const [suffix, value] of decodeBin(current))
        entries.set(suffix.toString('latin1'), value);
    }
    for (const write of writes) {
      const suffix = asBuffer(write.key.subarray(BIN_HEAD_BYTES)).toString('latin1');
      if (write.value === null) entries.delete(suffix);
      else entries.set(suffix, Buffer.from(write.value));
    }
    if (entries.size === 0) db.removeSync(head);
    else db.putSync(head, encodeBin(entries));
  }

  private db(table: Table): BinaryDb {
    const db = this.dbs[table];
    assert(db !== undefined, `unknown table ${table}`);
    return db;
  }

  private checkOpen(): void {
    assert(!this.closed, 'index store is closed');
  }
}

/** Bin layout: u32 count, then per entry u16 suffix length, u32 value length, suffix, value. */
function encodeBin(entries: Map<string, Buffer>): Buffer {
  const sorted = [...entries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  let bytes = 4;
  for (const [suffix, value] of sorted) bytes += 6 + suffix.length + value.length;
  const out = Buffer.allocUnsafe(bytes);
  out.writeUInt32LE(sorted.length, 0);
  let at = 4;
  for (const [suffix, value] of sorted) {
    out.writeUInt16LE(suffix.length, at);
    out.writeUInt32LE(value.length, at + 2);
    at += 6;
    at += out.write(suffix, at, 'latin1');
    value.copy(out, at);
    at += value.length;
  }
  assert(at === bytes, 'bin encoding size');
  return out;
}

function* decodeBin(bin: Buffer): Generator<[Buffer, Buffer]> {
  const count = bin.readUInt32LE(0);
  let at = 4;
  for (let i = 0; i < count; i++) {
    const suffixLength = bin.readUInt16LE(at);
    const valueLength = bin.readUInt32LE(at + 2);
    at += 6;
    const suffix = bin.subarray(at, at + suffixLength);
    at += suffixLength;
    const value = bin.subarray(at, at + valueLength);
    at += valueLength;
    yield [suffix, value];
  }
  assert(at === bin.length, 'bin decoding size');
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}
