/**
 * The memtable: a write-back cache of index writes in front of the {@link IndexStore}. Every
 * change the engine makes to the index lands here first, visible to reads at once; a *checkpoint*
 * commits all of it, together with the log position it reflects, in one durable index commit.
 *
 * Why: a durable LMDB commit costs two fdatasyncs. Committing the index per write would double the
 * cost of every durable write that the log already paid for. The log makes a write durable; the
 * index catches up in bulk, and recovery replays the log from the index's last checkpoint.
 *
 * Reads merge the memtable over the store: a memtable entry (a value, or `null` for a delete) hides
 * the store's entry for the same key. The memtable is bounded by the engine, which checkpoints when
 * `rows` or `bytes` pass their limits.
 */
import { fromKeyString, SortedMap, toKeyString } from './sorted-map.js';
import { TABLES, type IndexStore, type IndexWrite, type Table } from './index-store.js';

/** Pending index writes over an IndexStore; see the file comment. */
export class Memtable {
  private readonly tables: SortedMap<Buffer | null>[] = TABLES.map(
    (t) => new SortedMap<Buffer | null>(t + 101),
  );
  private byteCount = 0;

  constructor(private readonly store: IndexStore) {}

  /** Number of pending writes. */
  get rows(): number {
    let n = 0;
    for (const table of this.tables) n += table.size;
    return n;
  }

  /** Approximate bytes of pending keys and values. */
  get bytes(): number {
    return this.byteCount;
  }

  /**
   * The current value of `key`: the memtable's if it has one, else the store's. `keyString` is
   * `toKeyString(key)`, passed by callers that already have it.
   */
  get(table: Table, key: Uint8Array, keyString = toKeyString(key)): Uint8Array | undefined {
    const pending = this.map(table).get(keyString);
    if (pending !== undefined) return pending ?? undefined;
    return this.store.get(table, key);
  }

  put(table: Table, key: Uint8Array, value: Buffer, keyString = toKeyString(key)): void {
    this.set(table, keyString, value);
  }

  delete(table: Table, key: Uint8Array, keyString = toKeyString(key)): void {
    this.set(table, keyString, null);
  }

  /**
   * Current entries with `start <= key < end` (to the end when `end` is null), ascending: the
   * store's entries overlaid with the memtable's. Consume before the next checkpoint.
   */
  *entries(
    table: Table,
    start: Uint8Array,
    end: Uint8Array | null,
  ): Generator<readonly [Uint8Array, Uint8Array]> {
    const endKey = end === null ? null : toKeyString(end);
    const pending = this.map(table).range(toKeyString(start), endKey);
    const stored = this.store.entries(table, start, end)[Symbol.iterator]();
    let p = pending.next();
    let s = stored.next();
    // Store keys are converted for comparison only while memtable entries remain in the range.
    while (!p.done && !s.done) {
      const storedKey = toKeyString(s.value[0]);
      const [key, value] = p.value;
      if (key <= storedKey) {
        if (key === storedKey) s = stored.next();
        if (value !== null) yield [fromKeyString(key), value];
        p = pending.next();
      } else {
        yield s.value;
        s = stored.next();
      }
    }
    for (; !p.done; p = pending.next()) {
      if (p.value[1] !== null) yield [fromKeyString(p.value[0]), p.value[1]];
    }
    for (; !s.done; s = stored.next()) yield s.value;
  }

  /**
   * Commits every pending write, followed by `extra`, in one durable store commit, then empties
   * the memtable. If the commit throws, the memtable is left as it was.
   */
  flush(extra: readonly IndexWrite[]): void {
    const writes: IndexWrite[] = [];
    for (const table of TABLES) {
      for (const [key, value] of this.map(table).sortedEntries()) {
        writes.push({ table, key: fromKeyString(key), value });
      }
    }
    writes.push(...extra);
    this.store.commit(writes);
    for (const map of this.tables) map.clear();
    this.byteCount = 0;
  }

  private set(table: Table, key: string, value: Buffer | null): void {
    const map = this.map(table);
    const old = map.get(key);
    if (old === undefined) this.byteCount += key.length + 16;
    else if (old !== null) this.byteCount -= old.length;
    if (value !== null) this.byteCount += value.length;
    map.set(key, value);
  }

  private map(table: Table): SortedMap<Buffer | null> {
    return this.tables[table] as SortedMap<Buffer | null>;
  }
}
