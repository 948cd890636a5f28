// Property tests: the core's optimised pieces agree with simple reference versions written straight
// from the Raft paper — the quorum's commit index and vote tally, the inflight window, the
// follower's AppendEntries rule (figure 2, receiver steps 2–5) and the fast-backtracking hint —
// and the record codec round-trips. fast-check prints the seed of any failure; pin it here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { logIndex, nodeId, term, type LogIndex, type NodeId } from '../../../src/core/lib/ids.js';
import { RaftLog } from '../../../src/core/raft/log.js';
import { Inflights } from '../../../src/core/raft/progress.js';
import { committedIndex, majority, voteResult } from '../../../src/core/raft/quorum.js';
import {
  decodeRecord,
  encodeRecord,
  type Entry,
  type RaftRecord,
} from '../../../src/core/raft/index.js';

const entryOf = (index: number, t: number): Entry => ({
  index: logIndex(index),
  term: term(t),
  type: 'normal',
  data: new Uint8Array([index & 0xff, t & 0xff]),
});

/** Non-decreasing terms, as every Raft log has. */
const termsArb = (maxLength: number): fc.Arbitrary<number[]> =>
  fc.array(fc.integer({ min: 0, max: 2 }), { maxLength }).map((steps) => {
    let t = 1;
    return steps.map((s) => (t += s));
  });

const logFrom = (terms: readonly number[]): RaftLog =>
  new RaftLog({
    hardState: { term: term(Math.max(1, ...terms)), vote: null, commit: logIndex(0) },
    snapshot: null,
    entries: terms.map((t, i) => entryOf(i + 1, t)),
  });

const termsOf = (log: RaftLog): number[] => {
  const out: number[] = [];
  for (let i = 1; i <= log.lastIndex(); i++) out.push(log.term(logIndex(i)) as number);
  return out;
};

describe('quorum against a brute-force reference', () => {
  test('committedIndex is the largest index held by a majority', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(50), { minLength: 1, maxLength: 7 }), (matches) => {
        const voters = matches.map((_, i) => nodeId(i + 1));
        const got = committedIndex(voters, (v) => logIndex(matches[v - 1] as number));
        let expected = 0;
        for (let candidate = 0; candidate <= 50; candidate++) {
          if (matches.filter((m) => m >= candidate).length >= majority(matches.length))
            expected = candidate;
        }
        assert.equal(got, expected);
      }),
    );
  });

  test('voteResult: won iff a majority granted, lost iff a majority can no longer grant', () => {
    const voteArb = fc.constantFrom<boolean | undefined>(true, false, undefined);
    fc.assert(
      fc.property(fc.array(voteArb, { minLength: 1, maxLength: 7 }), (raw) => {
        const voters = raw.map((_, i) => nodeId(i + 1));
        const votes = new Map<NodeId, boolean>();
        raw.forEach((v, i) => {
          if (v !== undefined) votes.set(nodeId(i + 1), v);
        });
        const yes = raw.filter((v) => v === true).length;
        const open = raw.filter((v) => v === undefined).length;
        const need = Math.floor(raw.length / 2) + 1;
        const expected = yes >= need ? 'won' : yes + open < need ? 'lost' : 'pending';
        assert.equal(voteResult(voters, votes), expected);
      }),
    );
  });
});

describe('inflight window against a list model', () => {
  test('count, bytes and fullness follow adds and frees', () => {
    type Op = { op: 'add'; bytes: number } | { op: 'free'; upTo: number } | { op: 'freeFirst' };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ op: fc.constant('add' as const), bytes: fc.nat(100) }),
      fc.record({ op: fc.constant('free' as const), upTo: fc.nat(40) }),
      fc.constant({ op: 'freeFirst' as const }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 300 }),
        fc.array(opArb),
        (maxMessages, maxBytes, ops) => {
          const window = new Inflights(maxMessages, maxBytes);
          let model: { index: number; bytes: number }[] = [];
          let next = 1;
          for (const step of ops) {
            if (step.op === 'add') {
              if (window.full()) continue;
              window.add(logIndex(next), step.bytes);
              model.push({ index: next, bytes: step.bytes });
              next += 1;
            } else if (step.op === 'free') {
              window.freeLE(logIndex(step.upTo));
              model = model.filter((m) => m.index > step.upTo);
            } else {
              window.freeFirstOne();
              model = model.slice(1);
            }
            const bytes = model.reduce((s, m) => s + m.bytes, 0);
            assert.equal(window.count, model.length);
            assert.equal(window.bytes, bytes);
            assert.equal(window.full(), model.length >= maxMessages || bytes >= maxBytes);
          }
        },
      ),
    );
  });
});

describe('the follower log against figure 2', () => {
  test('maybeAppend follows the AppendEntries receiver rules', () => {
    fc.assert(
      fc.property(
        termsArb(12),
        termsArb(12),
        fc.nat(12),
        fc.nat(6),
        (follower, leader, prevRaw, count) => {
          // The leader's entries at prevIndex+1 .. prevIndex+count, and (prevIndex, prevTerm).
          const prevIndex = Math.min(prevRaw, leader.length);
          const prevTerm = prevIndex === 0 ? 0 : (leader[prevIndex - 1] as number);
          const sent = leader
            .slice(prevIndex, prevIndex + count)
            .map((t, i) => entryOf(prevIndex + i + 1, t));
          // Terms in one log never decrease: the follower's entries after the leader's must not go back.
          const log = logFrom(follower);
          const result = log.maybeAppend(logIndex(prevIndex), term(prevTerm), logIndex(0), sent);

          // Reference, straight from the paper.
          const matches = prevIndex === 0 || follower[prevIndex - 1] === prevTerm;
          if (!matches) {
            assert.equal(result, null);
            assert.deepEqual(termsOf(log), follower);
            return;
          }
          const expected = [...follower];
          for (const e of sent) {
            const at = e.index - 1;
            if (at < expected.length && expected[at] !== e.term) expected.length = at;
            if (at >= expected.length) expected.push(e.term);
          }
          assert.equal(result, prevIndex + sent.length);
          assert.deepEqual(termsOf(log), expected);
        },
      ),
    );
  });

  test('findConflictByTerm returns the last index at or below with a term not above', () => {
    fc.assert(
      fc.property(termsArb(15), fc.nat(20), fc.nat(8), (terms, index, t) => {
        const log = logFrom(terms);
        const got = log.findConflictByTerm(logIndex(index), term(t));
        let expected = 0;
        for (let i = Math.min(index, terms.length); i >= 1; i--) {
          if ((terms[i - 1] as number) <= t) {
            expected = i;
            break;
          }
        }
        assert.equal(got.index, expected);
        assert.equal(got.term, expected === 0 ? 0 : terms[expected - 1]);
      }),
    );
  });

  test('isUpToDate compares last term, then length (5.4.1)', () => {
    fc.assert(
      fc.property(termsArb(8), fc.nat(10), fc.nat(6), (terms, lastIndex, lastTerm) => {
        const log = logFrom(terms);
        const myTerm = terms.at(-1) ?? 0;
        const expected = lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= terms.length);
        assert.equal(log.isUpToDate(logIndex(lastIndex) as LogIndex, term(lastTerm)), expected);
      }),
    );
  });
});

describe('record codec', () => {
  test('every record round-trips', () => {
    const idsArb = fc.uniqueArray(fc.integer({ min: 1, max: 2 ** 31 - 1 }), { maxLength: 5 });
    const recordArb: fc.Arbitrary<RaftRecord> = fc.oneof(
      fc
        .record({ t: fc.nat(), vote: fc.option(fc.integer({ min: 1, max: 1000 })), c: fc.nat() })
        .map(({ t, vote, c }): RaftRecord => ({
          kind: 'hard-state',
          hardState: {
            term: term(t),
            vote: vote === null ? null : nodeId(vote),
            commit: logIndex(c),
          },
        })),
      fc
        .record({
          i: fc.integer({ min: 1 }),
          t: fc.nat(),
          config: fc.boolean(),
          data: fc.uint8Array({ maxLength: 64 }),
        })
        .map(({ i, t, config, data }): RaftRecord => ({
          kind: 'entry',
          entry: { index: logIndex(i), term: term(t), type: config ? 'config' : 'normal', data },
        })),
      fc
        .record({
          i: fc.nat(),
          t: fc.nat(),
          ids: idsArb,
          split: fc.nat(5),
          data: fc.uint8Array({ maxLength: 64 }),
        })
        .map(({ i, t, ids, split, data }): RaftRecord => ({
          kind: 'snapshot',
          snapshot: {
            meta: {
              index: logIndex(i),
              term: term(t),
              config: {
                voters: ids.slice(0, split).map(nodeId),
                learners: ids.slice(split).map(nodeId),
              },
            },
            data,
          },
        })),
    );
    fc.assert(
      fc.property(recordArb, (record) => {
        assert.deepEqual(decodeRecord(encodeRecord(record)), record);
      }),
    );
  });
});
