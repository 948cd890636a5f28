/**
 * A linearizability checker for a key-value store with read, write and compare-and-set (writing
 * null deletes; a write that reports `existed` must find the key present or absent accordingly): the
 * Wing–Gong search with Lowe's memoisation (as in Knossos and Porcupine). Keys are independent in a
 * KV store, so each key's sub-history is checked on its own, which keeps the search small.
 *
 * The search walks the history's call and return events in time order. At a call it tries to
 * linearize that operation now (if the model accepts its output); at a return whose operation has not
 * been linearized it backtracks. A cache of (set of linearized operations, model state) pairs already
 * explored prunes repeated work. Operations whose outcome is unknown have no return event: they may
 * be linearized at any point after their call, or never (which is the same as last).
 *
 * The search is bounded by `budget` steps per key; past it the verdict is `unknown`, never a hang.
 */
import type { KvInput, KvOperation, KvOutput, KvValue } from './history.js';

export type Verdict = 'ok' | 'violation' | 'unknown';

export interface KeyVerdict {
  readonly key: string;
  readonly verdict: Verdict;
  /** Operations of this key that took part in the search. */
  readonly ops: number;
  /** Search steps used. */
  readonly steps: number;
  /** For a violation: the operation that could not be linearized, and how far the search got. */
  readonly detail: string | null;
}

export interface CheckResult {
  readonly verdict: Verdict;
  readonly keys: readonly KeyVerdict[];
}

export interface CheckOptions {
  /** Search steps allowed per key before giving up with `unknown`. */
  readonly budget: number;
}

export const defaultCheckOptions: CheckOptions = { budget: 2_000_000 };

/** Checks a whole history, one key at a time. The verdict is the worst of the keys'. */
export function checkKv(
  ops: readonly KvOperation[],
  options: CheckOptions = defaultCheckOptions,
): CheckResult {
  const byKey = new Map<string, KvOperation[]>();
  for (const op of ops) {
    const list = byKey.get(op.key) ?? [];
    list.push(op);
    byKey.set(op.key, list);
  }
  const keys = [...byKey.keys()].sort().map((key) => checkKey(key, byKey.get(key) ?? [], options));
  const verdict: Verdict = keys.some((k) => k.verdict === 'violation')
    ? 'violation'
    : keys.some((k) => k.verdict === 'unknown')
      ? 'unknown'
      : 'ok';
  return { verdict, keys };
}

/** The register model: applies `input` to `state`; null when `output` is impossible there. */
function step(state: KvValue, input: KvInput, output: KvOutput | null): { state: KvValue } | null {
  switch (input.f) {
    case 'read':
      return output === null || (output.f === 'read' && output.value === state) ? { state } : null;
    case 'write':
      if (output?.f === 'write' && output.existed !== undefined) {
        if (output.existed !== (state !== null)) return null;
      }
      return { state: input.value };
    case 'cas': {
      const matches = state === input.expected;
      if (output === null) return { state: matches ? input.value : state };
      if (output.f !== 'cas' || output.ok !== matches) return null;
      return { state: matches ? input.value : state };
    }
  }
}

interface Entry {
  readonly op: KvOperation | null; // null only for the list head
  readonly index: number; // position of the op in this key's list; -1 for the head
  readonly isCall: boolean;
  match: Entry | null; // a call's return entry, if it has one
  prev: Entry | null;
  next: Entry | null;
}

function buildList(ops: readonly KvOperation[]): Entry {
  const events: { at: number; isCall: boolean; index: number }[] = [];
  ops.forEach((op, index) => {
    events.push({ at: op.invokedAt, isCall: true, index });
    if (op.status === 'ok') events.push({ at: op.completedAt, isCall: false, index });
  });
  // Calls before returns at equal times: operations that touch in time are treated as concurrent.
  events.sort((a, b) => a.at - b.at || Number(b.isCall) - Number(a.isCall) || a.index - b.index);
  const head: Entry = { op: null, index: -1, isCall: false, match: null, prev: null, next: null };
  const calls = new Map<number, Entry>();
  let tail = head;
  for (const e of events) {
    const entry: Entry = {
      op: ops[e.index] as KvOperation,
      index: e.index,
      isCall: e.isCall,
      match: null,
      prev: tail,
      next: null,
    };
    if (e.isCall) calls.set(e.index, entry);
    else (calls.get(e.index) as Entry).match = entry;
    tail.next = entry;
    tail = entry;
  }
  return head;
}

function lift(entry: Entry): void {
  (entry.prev as Entry).next = entry.next;
  if (entry.next !== null) entry.next.prev = entry.prev;
  const match = entry.match;
  if (match !== null) {
    (match.prev as Entry).next = match.next;
    if (match.next !== null) match.next.prev = match.prev;
  }
}

function unlift(entry: Entry): void {
  const match = entry.match;
  if (match !== null) {
    (match.prev as Entry).next = match;
    if (match.next !== null) match.next.prev = match;
  }
  (entry.prev as Entry).next = entry;
  if (entry.next !== null) entry.next.prev = entry;
}

function describe(op: KvOperation): string {
  const input =
    op.input.f === 'read'
      ? 'read'
      : op.input.f === 'write'
        ? `write ${String(op.input.value)}`
        : `cas ${String(op.input.expected)}->${String(op.input.value)}`;
  const output =
    op.output === null
      ? '?'
      : op.output.f === 'read'
        ? String(op.output.value)
        : op.output.f === 'cas'
          ? String(op.output.ok)
          : op.output.existed === undefined
            ? 'ok'
            : `existed=${op.output.existed}`;
  return `op ${op.id} client ${op.client} ${input} => ${output} [${op.invokedAt}, ${op.completedAt}]`;
}

function checkKey(key: string, all: readonly KvOperation[], options: CheckOptions): KeyVerdict {
  // Failed operations never happened; unknown reads constrain nothing.
  const ops = all.filter(
    (op) => op.status === 'ok' || (op.status !== 'fail' && op.input.f !== 'read'),
  );
  const head = buildList(ops);
  const linearized = new Uint32Array(Math.ceil(ops.length / 32) + 1);
  const seen = new Set<string>();
  const stack: { entry: Entry; state: KvValue }[] = [];
  let state: KvValue = null;
  let entry = head.next;
  let steps = 0;
  let deepest = -1;
  let blocker: KvOperation | null = null;
  const result = (verdict: Verdict, detail: string | null): KeyVerdict => ({
    key,
    verdict,
    ops: ops.length,
    steps,
    detail,
  });

  while (entry !== null) {
    if (++steps > options.budget) return result('unknown', `gave up after ${options.budget} steps`);
    const op = entry.op as KvOperation;
    if (entry.isCall) {
      const next = step(state, op.input, op.status === 'ok' ? op.output : null);
      if (next !== null) {
        const word = entry.index >>> 5;
        const bit = 1 << (entry.index & 31);
        linearized[word] = (linearized[word] as number) | bit;
        const memo = `${next.state === null ? '\u0000' : next.state}|${linearized.join(',')}`;
        if (!seen.has(memo)) {
          seen.add(memo);
          stack.push({ entry, state });
          state = next.state;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized[word] = (linearized[word] as number) & ~bit;
      }
      entry = entry.next;
      continue;
    }
    // A return whose operation is not linearized yet: undo the last choice.
    if (stack.length > deepest) {
      deepest = stack.length;
      blocker = op;
    }
    const top = stack.pop();
    if (top === undefined) {
      const why = blocker === null ? describe(op) : describe(blocker);
      return result('violation', `${why} cannot be linearized (deepest prefix: ${deepest} ops)`);
    }
    state = top.state;
    const word = top.entry.index >>> 5;
    linearized[word] = (linearized[word] as number) & ~(1 << (top.entry.index & 31));
    unlift(top.entry);
    entry = top.entry.next;
  }
  return result('ok', null);
}
