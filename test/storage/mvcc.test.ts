// Version lists decide what a read sees. Property tests check the codec round trip, and the
// pruning rule against its definition: for every pinned version and for the latest read, selecting
// from the pruned list gives what selecting from the full list gives, and pruning keeps nothing
// that no read can see (each kept version except the newest covers a pin; no lone tombstone).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeVersions,
  encodeVersions,
  pruneVersions,
  pushVersion,
  selectVersion,
  type StoredVersion,
} from '../../src/storage/mvcc.js';

const arbVersion = (version: number): fc.Arbitrary<StoredVersion> =>
  fc.oneof(
    fc.constant<StoredVersion>({ version, kind: 'tombstone' }),
    fc
      .uint8Array({ maxLength: 20 })
      .map<StoredVersion>((value) => ({ version, kind: 'inline', value })),
    fc
      .record({
        segment: fc.integer({ min: 1, max: 0xffffffff }),
        offset: fc.nat({ max: 0xffffffff }),
        length: fc.nat({ max: 0xffffffff }),
        crc: fc.nat({ max: 0xffffffff }),
      })
      .map<StoredVersion>((pointer) => ({ version, kind: 'pointer', pointer: { ...pointer } })),
  );

const arbList = fc
  .uniqueArray(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 12 })
  .map((vs) => vs.sort((a, b) => b - a))
  .chain((vs) => fc.tuple(...vs.map(arbVersion)));

const same = (a: StoredVersion | undefined, b: StoredVersion | undefined): boolean =>
  (a === undefined || a.kind === 'tombstone') === (b === undefined || b.kind === 'tombstone') &&
  (a === undefined || a.kind === 'tombstone' || a.version === b?.version);

describe('version lists', () => {
  test('round-trip through the codec', () => {
    fc.assert(
      fc.property(arbList, (list) => {
        const decoded = decodeVersions(encodeVersions(list));
        assert.deepEqual(
          decoded.map((v) => (v.kind === 'inline' ? { ...v, value: Buffer.from(v.value) } : v)),
          list.map((v) => (v.kind === 'inline' ? { ...v, value: Buffer.from(v.value) } : v)),
        );
      }),
    );
  });

  test('pruning keeps every read at a pin and at the latest version unchanged', () => {
    fc.assert(
      fc.property(
        arbList,
        fc.uniqueArray(fc.integer({ min: 0, max: 220 }), { maxLength: 6 }),
        (list, pinsRaw) => {
          const pins = [...pinsRaw].sort((a, b) => a - b);
          const { kept, dropped } = pruneVersions(list, pins);
          assert.equal(kept.length + dropped.length, list.length);
          for (const at of [...pins, Number.MAX_SAFE_INTEGER]) {
            assert.ok(same(selectVersion(kept, at), selectVersion(list, at)), `read at ${at}`);
          }
          for (let i = 1; i < kept.length; i++) {
            const v = kept[i] as StoredVersion;
            const newer = (kept[i - 1] as StoredVersion).version;
            assert.ok(
              pins.some((p) => p >= v.version && p < newer),
              'a kept old version serves a pin',
            );
          }
          assert.ok(!(kept.length === 1 && kept[0]?.kind === 'tombstone'), 'no lone tombstone');
        },
      ),
    );
  });

  test('a second op on a key in the same entry replaces the first', () => {
    const first: StoredVersion = { version: 5, kind: 'inline', value: Buffer.from('a') };
    const second: StoredVersion = { version: 5, kind: 'tombstone' };
    const { list, replaced } = pushVersion([first], second);
    assert.deepEqual(list, [second]);
    assert.equal(replaced, first);
    assert.throws(
      () => pushVersion([first], { version: 4, kind: 'tombstone' }),
      /version 4 after 5/,
    );
  });
});
