// The directory is a pure function of the metadata log. These tests check the rules that let a new
// metadata leader re-propose what the old one did: every command is idempotent (applying it twice
// equals applying it once), stale commands change nothing, epochs only grow, and equal logs give
// byte-identical directories that survive an encode/decode round trip. Untrusted command bytes are
// validated into typed errors.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Directory } from '../../../src/core/directory/directory.js';
import {
  decodeCommand,
  encodeCommand,
  type Command,
} from '../../../src/core/directory/commands.js';
import { epoch, nodeId, type NodeId } from '../../../src/core/lib/ids.js';

const n = (id: number): NodeId => nodeId(id);
const register = (id: number, incarnation = 1, zone = 'z1'): Command => ({
  kind: 'register',
  storageId: 'disk-1',
  id: n(id),
  address: `127.0.0.1:${7000 + id}`,
  zone,
  rack: 'r1',
  weight: 1,
  incarnation,
});
const edict = (
  bucket: number,
  expect: number,
  leader: number,
  followers: number[],
  learners: number[] = [],
): Command => ({
  kind: 'edict',
  bucket,
  expectEpoch: epoch(expect),
  leader: n(leader),
  followers: followers.map(n),
  learners: learners.map(n),
});

function cluster(): Directory {
  const d = new Directory();
  for (const c of [
    { kind: 'bootstrap', bucketCount: 4, replicas: 3 } as Command,
    register(1),
    register(2),
    register(3),
    register(4),
  ]) {
    assert.deepEqual(d.apply(c), { applied: true });
  }
  return d;
}

describe('Directory', () => {
  test('commands before bootstrap are refused', () => {
    const d = new Directory();
    assert.deepEqual(d.apply(register(1)), { applied: false, why: 'NOT_BOOTSTRAPPED' });
  });

  test('an edict installs epoch + 1 and bumps the map version; a stale one is a no-op', () => {
    const d = cluster();
    const before = d.mapVersion;
    assert.deepEqual(d.apply(edict(0, 0, 1, [2, 3])), { applied: true });
    assert.equal(d.government(0)?.epoch, 1);
    assert.equal(d.government(0)?.leader, 1);
    assert.equal(d.mapVersion, before + 1);
    assert.deepEqual(d.apply(edict(0, 0, 2, [1, 3])), { applied: false, why: 'STALE_EPOCH' });
    assert.equal(d.government(0)?.leader, 1);
    assert.equal(d.mapVersion, before + 1);
  });

  test('an edict may name only active or draining nodes', () => {
    const d = cluster();
    d.apply({ kind: 'mark-dead', id: n(3), incarnation: 1 });
    assert.deepEqual(d.apply(edict(0, 0, 1, [2, 3])), { applied: false, why: 'BAD_MEMBER' });
    assert.deepEqual(d.apply(edict(0, 0, 1, [2, 9])), { applied: false, why: 'BAD_MEMBER' });
  });

  test('mark-dead needs the current incarnation; a new incarnation revives the node', () => {
    const d = cluster();
    d.apply(register(2, 2));
    assert.deepEqual(d.apply({ kind: 'mark-dead', id: n(2), incarnation: 1 }), {
      applied: false,
      why: 'STALE_INCARNATION',
    });
    assert.deepEqual(d.apply({ kind: 'mark-dead', id: n(2), incarnation: 2 }), { applied: true });
    assert.equal(d.node(n(2))?.state, 'dead');
    assert.deepEqual(d.apply(register(2, 2)), { applied: false, why: 'STALE_INCARNATION' });
    assert.deepEqual(d.apply(register(2, 3)), { applied: true });
    assert.equal(d.node(n(2))?.state, 'active');
  });

  test('a node can be removed only when it is in no government', () => {
    const d = cluster();
    d.apply(edict(1, 0, 1, [4]));
    d.apply({ kind: 'drain', id: n(4) });
    assert.deepEqual(d.apply({ kind: 'remove', id: n(4) }), {
      applied: false,
      why: 'STILL_A_MEMBER',
    });
    d.apply(edict(1, 1, 1, [2]));
    assert.deepEqual(d.apply({ kind: 'remove', id: n(4) }), { applied: true });
    assert.deepEqual(d.apply(register(4, 5)), { applied: false, why: 'BAD_NODE_STATE' });
  });

  test('caught-up marks a learner of the current epoch only', () => {
    const d = cluster();
    d.apply(edict(2, 0, 1, [2], [3]));
    assert.deepEqual(
      d.apply({ kind: 'caught-up', bucket: 2, epoch: epoch(0), node: n(3), reporter: n(1) }),
      {
        applied: false,
        why: 'STALE_EPOCH',
      },
    );
    assert.deepEqual(
      d.apply({ kind: 'caught-up', bucket: 2, epoch: epoch(1), node: n(2), reporter: n(1) }),
      {
        applied: false,
        why: 'NOT_A_LEARNER',
      },
    );
    assert.deepEqual(
      d.apply({ kind: 'caught-up', bucket: 2, epoch: epoch(1), node: n(3), reporter: n(1) }),
      {
        applied: true,
      },
    );
    assert.deepEqual(d.government(2)?.caughtUp, [3]);
    assert.deepEqual(
      d.apply({ kind: 'caught-up', bucket: 2, epoch: epoch(1), node: n(3), reporter: n(2) }),
      { applied: false, why: 'NOT_THE_LEADER' },
      'only the leader attests a backfill',
    );
    // Same leader, learner kept: its backfill stays valid. New leader: it does not.
    d.apply(edict(2, 1, 1, [2], [3, 4]));
    assert.deepEqual(d.government(2)?.caughtUp, [3]);
    d.apply(edict(2, 2, 2, [1], [3, 4]));
    assert.deepEqual(d.government(2)?.caughtUp, []);
  });
});

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc.record({
    kind: fc.constant('activated' as const),
    bucket: fc.integer({ min: 0, max: 4 }),
    epoch: fc.integer({ min: 0, max: 4 }).map(epoch),
    reporter: fc.integer({ min: 1, max: 5 }).map(n),
  }),
  fc.record({
    kind: fc.constant('bootstrap' as const),
    bucketCount: fc.integer({ min: 1, max: 4 }),
    replicas: fc.constant(3),
  }),
  fc
    .tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }))
    .map(([id, inc]) => register(id, inc)),
  fc.record({
    kind: fc.constant('mark-dead' as const),
    id: fc.integer({ min: 1, max: 5 }).map(n),
    incarnation: fc.integer({ min: 1, max: 3 }),
  }),
  fc.record({ kind: fc.constant('drain' as const), id: fc.integer({ min: 1, max: 5 }).map(n) }),
  fc.record({ kind: fc.constant('remove' as const), id: fc.integer({ min: 1, max: 5 }).map(n) }),
  fc
    .tuple(
      fc.integer({ min: 0, max: 4 }),
      fc.integer({ min: 0, max: 4 }),
      fc.shuffledSubarray([1, 2, 3, 4, 5], { minLength: 1, maxLength: 4 }),
      fc.option(fc.shuffledSubarray([1, 2, 3, 4, 5], { minLength: 1, maxLength: 3 })),
    )
    .map(([bucket, expect, ids, to]): Command => {
      const c = edict(bucket, expect, ids[0] as number, ids.slice(1, 3), ids.slice(3));
      if (to === null) return c;
      const [leader, ...followers] = to.map(n);
      return {
        ...c,
        target: { leader: leader as NodeId, followers: followers.sort((a, b) => a - b) },
      } as Command;
    }),
  fc.record({
    kind: fc.constant('caught-up' as const),
    bucket: fc.integer({ min: 0, max: 4 }),
    epoch: fc.integer({ min: 0, max: 4 }).map(epoch),
    node: fc.integer({ min: 1, max: 5 }).map(n),
    reporter: fc.integer({ min: 1, max: 5 }).map(n),
  }),
  fc.record({
    kind: fc.constant('edict' as const),
    bucket: fc.integer({ min: 0, max: 4 }),
    expectEpoch: fc.integer({ min: 0, max: 4 }).map(epoch),
    leader: fc.constant(null),
    followers: fc.subarray([1, 2, 3].map(n)),
    learners: fc.constant([]),
  }),
);

describe('Directory properties', () => {
  test('every government after the first names a complete leader, and complete ⊆ voters', () => {
    fc.assert(
      fc.property(fc.array(commandArb, { maxLength: 60 }), (commands) => {
        const d = new Directory();
        for (const c of commands) {
          d.apply(c);
          for (const g of d.state().buckets) {
            if (g.epoch === 0) continue;
            assert.ok(g.leader !== null, 'a government has a leader');
            assert.ok(g.complete.includes(g.leader), 'the leader is complete');
            const voters = [g.leader, ...g.followers];
            assert.ok(
              g.complete.every((id) => voters.includes(id)),
              'complete members vote',
            );
          }
        }
      }),
    );
  });

  test('every command is idempotent: applying it twice equals once', () => {
    fc.assert(
      fc.property(fc.array(commandArb, { maxLength: 40 }), (commands) => {
        const once = new Directory();
        const twice = new Directory();
        for (const c of commands) {
          once.apply(c);
          twice.apply(c);
          assert.equal(twice.apply(c).applied, false, `second ${c.kind} must be a no-op`);
        }
        assert.deepEqual(twice.encode(), once.encode());
      }),
    );
  });

  test('equal logs give byte-identical directories, and encode/decode round-trips', () => {
    fc.assert(
      fc.property(fc.array(commandArb, { maxLength: 40 }), (commands) => {
        const a = new Directory();
        const b = new Directory();
        for (const c of commands) {
          a.apply(c);
          // b sees each command as the log carries it: encoded, then decoded.
          const decoded = decodeCommand(encodeCommand(c));
          assert.ok(decoded.ok);
          b.apply(decoded.value);
        }
        assert.deepEqual(a.encode(), b.encode());
        const decoded = Directory.decode(a.encode());
        assert.ok(decoded.ok, JSON.stringify(decoded));
        assert.deepEqual(decoded.value.encode(), a.encode());
      }),
    );
  });

  test('epochs never go back and the map version grows with every applied routing change', () => {
    fc.assert(
      fc.property(fc.array(commandArb, { maxLength: 60 }), (commands) => {
        const d = new Directory();
        for (const c of commands) {
          const epochs = d.state().buckets.map((g) => g.epoch);
          const version = d.mapVersion;
          const result = d.apply(c);
          d.state().buckets.forEach((g, i) => assert.ok(g.epoch >= (epochs[i] ?? 0)));
          const routing = c.kind !== 'activated' && c.kind !== 'caught-up';
          assert.equal(d.mapVersion, version + (result.applied && routing ? 1 : 0));
        }
      }),
    );
  });
});

describe('Directory.decode', () => {
  test('refuses malformed or inconsistent snapshots with a typed error', () => {
    const good = JSON.parse(new TextDecoder().decode(cluster().encode())) as Record<
      string,
      unknown
    >;
    const variants: unknown[] = [
      { ...good, buckets: [{ epoch: 'x' }] },
      { ...good, bucketCount: 99 },
      { ...good, nodes: [{ id: 0 }] },
      {
        ...good,
        buckets: (good.buckets as unknown[]).map(() => ({
          epoch: 3,
          leader: 1,
          followers: [2],
          learners: [],
          caughtUp: [],
          complete: [2],
        })),
      },
    ];
    for (const v of variants) {
      const result = Directory.decode(new TextEncoder().encode(JSON.stringify(v)));
      assert.equal(result.ok, false, JSON.stringify(v).slice(0, 80));
      if (!result.ok) assert.equal(result.code, 'MALFORMED_SNAPSHOT');
    }
    assert.equal(Directory.decode(Uint8Array.of(0xff)).ok, false);
  });
});

describe('decodeCommand', () => {
  test('round-trips every valid command', () => {
    fc.assert(
      fc.property(commandArb, (c) => {
        const decoded = decodeCommand(encodeCommand(c));
        assert.ok(decoded.ok, JSON.stringify(decoded));
        assert.deepEqual(encodeCommand(decoded.value), encodeCommand(c));
      }),
    );
  });

  test('rejects malformed bytes with a typed error', () => {
    const bad = [
      new Uint8Array([0xff, 0xfe]),
      new TextEncoder().encode('{"kind":"edict"}'),
      new TextEncoder().encode('{"kind":"launch-missiles"}'),
      new TextEncoder().encode('[]'),
      new TextEncoder().encode(
        '{"kind":"edict","bucket":0,"expectEpoch":0,"leader":1,"followers":[1],"learners":[]}',
      ),
      new Uint8Array(5000),
    ];
    for (const bytes of bad) {
      const result = decodeCommand(bytes);
      assert.equal(result.ok, false);
      if (!result.ok) assert.equal(result.code, 'MALFORMED_COMMAND');
    }
  });
});

describe('directory: session ids and drain intent', () => {
  test('open-sessions allocates increasing ids, before and after bootstrap, without a map change', () => {
    const d = new Directory();
    assert.deepEqual(d.apply({ kind: 'open-sessions', count: 3 }), { applied: true });
    assert.equal(d.state().sessions, 3);
    d.apply({ kind: 'bootstrap', bucketCount: 4, replicas: 3 });
    const version = d.mapVersion;
    d.apply({ kind: 'open-sessions', count: 2 });
    assert.equal(d.state().sessions, 5);
    assert.equal(d.mapVersion, version, 'session ids route nothing');
    const copy = Directory.decode(d.encode());
    assert.ok(copy.ok);
    assert.equal(copy.value.state().sessions, 5);
    assert.equal(decodeCommand(encodeCommand({ kind: 'open-sessions', count: 0 })).ok, false);
  });

  test('a draining node that dies and registers again comes back draining', () => {
    const d = new Directory();
    d.apply({ kind: 'bootstrap', bucketCount: 4, replicas: 3 });
    d.apply(register(1));
    d.apply({ kind: 'drain', id: n(1) });
    d.apply({ kind: 'mark-dead', id: n(1), incarnation: 1 });
    assert.equal(d.node(n(1))?.state, 'dead');
    d.apply(register(1, 2));
    assert.equal(d.node(n(1))?.state, 'draining');
    assert.deepEqual(d.state().drains, [n(1)]);
    d.apply({ kind: 'remove', id: n(1) });
    assert.deepEqual(d.state().drains, []);
    const copy = Directory.decode(d.encode());
    assert.ok(copy.ok && copy.value.node(n(1))?.state === 'removed');
  });

  test('a refused remove keeps the drain intent', () => {
    const d = new Directory();
    d.apply({ kind: 'bootstrap', bucketCount: 4, replicas: 3 });
    d.apply(register(1));
    d.apply({ kind: 'drain', id: n(1) });
    d.apply(edict(0, 0, 1, []));
    assert.equal(d.apply({ kind: 'remove', id: n(1) }).applied, false);
    assert.deepEqual(d.state().drains, [n(1)]);
  });
});

describe('directory: a node that lost its data', () => {
  test('registering with a new storage id drops it from every complete set', () => {
    const d = new Directory();
    d.apply({ kind: 'bootstrap', bucketCount: 2, replicas: 3 });
    for (const id of [1, 2, 3]) d.apply(register(id));
    d.apply(edict(0, 0, 1, [2, 3]));
    d.apply(edict(1, 0, 2, [1, 3]));
    assert.deepEqual(d.government(0)?.complete, [n(1), n(2), n(3)]);
    // Same disk, new incarnation: still complete.
    d.apply(register(3, 2));
    assert.deepEqual(d.government(0)?.complete, [n(1), n(2), n(3)]);
    // A wiped disk: no longer complete anywhere, so it can never be made leader (rule S3).
    d.apply({ ...register(3, 3), storageId: 'a-new-disk' } as Command);
    assert.deepEqual(d.government(0)?.complete, [n(1), n(2)]);
    assert.deepEqual(d.government(1)?.complete, [n(1), n(2)]);
    assert.equal(
      d.apply({ ...edict(0, 1, 3, [1, 2]) }).applied,
      false,
      'a member without its data cannot lead',
    );
  });
});

describe('directory: a move records its target', () => {
  const target = { leader: n(1), followers: [n(2), n(4)] };
  test('an edict with a target records it; the next edict without one clears it', () => {
    const d = cluster();
    assert.ok(d.apply(edict(0, 0, 1, [2, 3])).applied);
    assert.equal(d.government(0)?.target, null);
    assert.ok(d.apply({ ...edict(0, 1, 1, [2, 3], [4]), target } as Command).applied);
    assert.deepEqual(d.government(0)?.target, target);
    const again = Directory.decode(d.encode());
    assert.ok(again.ok);
    assert.deepEqual(again.value.encode(), d.encode());
    assert.ok(d.apply(edict(0, 2, 1, [2])).applied);
    assert.equal(d.government(0)?.target, null);
  });

  test('a snapshot from before targets decodes with none, and re-encodes like the log', () => {
    const d = cluster();
    assert.ok(d.apply(edict(0, 0, 1, [2, 3])).applied);
    const raw = JSON.parse(new TextDecoder().decode(d.encode())) as { buckets: object[] };
    raw.buckets = raw.buckets.map((g) => {
      const { target: _omit, ...rest } = g as { target: unknown };
      return rest;
    });
    const old = Directory.decode(new TextEncoder().encode(JSON.stringify(raw)));
    assert.ok(old.ok);
    assert.deepEqual(old.value.encode(), d.encode());
  });

  test('a malformed target is refused in a command and in a snapshot', () => {
    for (const bad of [
      { leader: 0, followers: [] },
      { leader: 1, followers: [1, 2] },
      { leader: 1, followers: [3, 2] },
      { leader: 1 },
    ]) {
      const bytes = encodeCommand({ ...edict(0, 0, 1, [2, 3]), target: bad } as unknown as Command);
      const result = decodeCommand(bytes);
      assert.equal(result.ok, false, JSON.stringify(bad));
      const d = cluster();
      assert.ok(d.apply(edict(0, 0, 1, [2, 3])).applied);
      const raw = JSON.parse(new TextDecoder().decode(d.encode())) as { buckets: object[] };
      raw.buckets = raw.buckets.map((g) => ({ ...g, target: bad }));
      const snapshot = Directory.decode(new TextEncoder().encode(JSON.stringify(raw)));
      assert.equal(snapshot.ok, false, JSON.stringify(bad));
    }
  });
});
