// Compliance suite of IndexStore, run against the in-memory store and the LMDB store alike: random
// commits of puts and deletes, compared with a sorted Map model, through `get` and through range
// scans with random bounds. Keys include long ones that share their first 1,900 bytes, which the
// LMDB store keeps in bins; the model checks that bins preserve byte order. The LMDB store is also
// reopened to check that commits are durable.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import {
  MemoryIndexStore,
  Table,
  type IndexStore,
  type IndexWrite,
} from '../../src/storage/index-store.js';
import { BIN_HEAD_BYTES, LmdbIndexStore } from '../../src/storage/lmdb-index.js';

interface Setup {
  readonly name: string;
  open(): IndexStore;
  reopen?(store: IndexStore): Promise<IndexStore>;
  cleanup(): void;
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

const setups: (() => Setup)[] = [
  () => ({ name: 'memory', open: () => new MemoryIndexStore(), cleanup: () => undefined }),
  () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edict-index-'));
    dirs.push(dir);
    return {
      name: 'lmdb',
      open: () => new LmdbIndexStore({ path: dir }),
      reopen: async (store) => {
        await store.close();
        return new LmdbIndexStore({ path: dir });
      },
      cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  },
];

const head = Buffer.alloc(BIN_HEAD_BYTES, 0x61);
/** Keys: short ones, and long ones around the bin threshold that share a head. */
const arbKey = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 6 }).map((k) => Buffer.from(k)),
  fc.uint8Array({ maxLength: 4 }).map((tail) => Buffer.concat([head, Buffer.from(tail)])),
  fc
    .uint8Array({ maxLength: 3 })
    .map((tail) => Buffer.concat([head.subarray(1), Buffer.from(tail)])),
  fc
    .uint8Array({ minLength: 1, maxLength: 3 })
    .map((tail) => Buffer.concat([Buffer.alloc(BIN_HEAD_BYTES + 2000, 0x62), Buffer.from(tail)])),
);
const arbWrite = fc.record({
  table: fc.constantFrom(Table.Rows, Table.Gc, Table.Meta),
  key: arbKey,
  value: fc.option(
    fc.uint8Array({ maxLength: 8 }).map((v) => Buffer.from(v)),
    { nil: null },
  ),
});

type Model = Map<string, Buffer>[];
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function check(store: IndexStore, model: Model, bounds: [Buffer, Buffer | null][]): void {
  for (const table of [Table.Rows, Table.Gc, Table.Meta]) {
    const m = model[table] as Map<string, Buffer>;
    for (const [k, v] of m)
      assert.deepEqual(Buffer.from(store.get(table, Buffer.from(k, 'hex')) ?? []), v);
    const sorted = [...m.keys()].map((k) => Buffer.from(k, 'hex')).sort(Buffer.compare);
    for (const [start, end] of bounds) {
      const want = sorted.filter(
        (k) => Buffer.compare(k, start) >= 0 && (end === null || Buffer.compare(k, end) < 0),
      );
      const got = [...store.entries(table, start, end)].map(([k, v]) => {
        assert.deepEqual(Buffer.from(v), m.get(hex(k)));
        return Buffer.from(k);
      });
      assert.deepEqual(got.map(hex), want.map(hex));
    }
  }
}

for (const makeSetup of setups) {
  describe(`IndexStore compliance: ${makeSetup().name}`, () => {
    test('commits match a sorted map model, through get and ranges', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.array(arbWrite, { maxLength: 12 }), { minLength: 1, maxLength: 8 }),
          fc.array(fc.tuple(arbKey, fc.option(arbKey, { nil: null })), {
            minLength: 1,
            maxLength: 4,
          }),
          async (commits, bounds) => {
            const setup = makeSetup();
            let store = setup.open();
            const model: Model = [new Map(), new Map(), new Map()];
            for (const writes of commits) {
              store.commit(writes as IndexWrite[]);
              for (const w of writes) {
                const m = model[w.table] as Map<string, Buffer>;
                if (w.value === null) m.delete(hex(w.key));
                else m.set(hex(w.key), w.value);
              }
              check(store, model, bounds);
            }
            if (setup.reopen !== undefined) {
              store = await setup.reopen(store);
              check(store, model, bounds);
            }
            await store.close();
            setup.cleanup();
          },
        ),
        { numRuns: 40 },
      );
    });

    test('a commit is all or nothing when one of its writes fails', async () => {
      const setup = makeSetup();
      const store = setup.open();
      store.commit([{ table: Table.Meta, key: Buffer.from('a'), value: Buffer.from('1') }]);
      assert.throws(() =>
        store.commit([
          { table: Table.Meta, key: Buffer.from('a'), value: Buffer.from('2') },
          { table: Table.Meta, key: new Uint8Array(0), value: Buffer.from('x') },
        ]),
      );
      if (setup.name === 'lmdb')
        assert.deepEqual(
          Buffer.from(store.get(Table.Meta, Buffer.from('a')) ?? []),
          Buffer.from('1'),
        );
      await store.close();
      setup.cleanup();
    });
  });
}
