/**
 * A recorder of client operations on a key-value store, for the linearizability checker.
 *
 * Each operation is invoked at a virtual time and ends in one of three ways:
 * - `ok`: it completed with an output;
 * - `fail`: it certainly did not take effect (e.g. rejected before it was applied); the checker
 *   ignores it;
 * - `unknown`: the client gave up (timeout, lost connection): it may or may not have taken effect,
 *   at any time after its invocation. Operations still pending when the run ends are unknown too.
 */
import { assert } from '../src/core/lib/assert.js';

export type KvValue = string | null;

/** A write or cas of the value null deletes the key. */
export type KvInput =
  | { readonly f: 'read' }
  | { readonly f: 'write'; readonly value: KvValue }
  | { readonly f: 'cas'; readonly expected: KvValue; readonly value: KvValue };

/** A write may report whether the key existed before it (a delete's answer); the model checks it. */
export type KvOutput =
  | { readonly f: 'read'; readonly value: KvValue }
  | { readonly f: 'write'; readonly existed?: boolean }
  | { readonly f: 'cas'; readonly ok: boolean };

export type OpStatus = 'pending' | 'ok' | 'fail' | 'unknown';

export interface KvOperation {
  readonly id: number;
  readonly client: number;
  readonly key: string;
  readonly input: KvInput;
  readonly invokedAt: number;
  status: OpStatus;
  output: KvOutput | null;
  /** Completion time; Infinity while pending or when unknown. */
  completedAt: number;
}

export class History {
  readonly ops: KvOperation[] = [];

  /** Records an invocation; returns the operation's id. */
  invoke(client: number, key: string, input: KvInput, at: number): number {
    const id = this.ops.length;
    this.ops.push({
      id,
      client,
      key,
      input,
      invokedAt: at,
      status: 'pending',
      output: null,
      completedAt: Infinity,
    });
    return id;
  }

  ok(id: number, output: KvOutput, at: number): void {
    const op = this.pending(id);
    assert(op.input.f === output.f, `op ${id}: output ${output.f} for input ${op.input.f}`);
    assert(at >= op.invokedAt, `op ${id} completes before its invocation`);
    op.status = 'ok';
    op.output = output;
    op.completedAt = at;
  }

  fail(id: number, at: number): void {
    const op = this.pending(id);
    op.status = 'fail';
    op.completedAt = at;
  }

  unknown(id: number): void {
    this.pending(id).status = 'unknown';
  }

  /** Marks every still-pending operation unknown (end of the run). */
  finish(): void {
    for (const op of this.ops) if (op.status === 'pending') op.status = 'unknown';
  }

  /** Whether `id` is still waiting for its outcome. */
  isPending(id: number): boolean {
    return this.ops[id]?.status === 'pending';
  }

  private pending(id: number): KvOperation {
    const op = this.ops[id];
    assert(op !== undefined, `no operation ${id}`);
    assert(op.status === 'pending', `op ${id} already ${op.status}`);
    return op;
  }
}
