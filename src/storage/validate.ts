/**
 * Input checks of the engine's API: limits (DESIGN.md 4.6, src/core/lib/limits.ts) and argument
 * rules, each failing with its typed error before anything is written.
 */
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from '../core/lib/limits.js';
import { StorageError } from './errors.js';
import type { ScanQuery } from './types.js';
import type { Op } from './wal-records.js';

/** Throws `INVALID_ARGUMENT` unless `bucket` is a u32. */
export function checkBucket(bucket: number): void {
  if (!Number.isSafeInteger(bucket) || bucket < 0 || bucket > 0xffffffff) {
    throw invalid(`bad bucket ${bucket}`);
  }
}

/** Throws the typed error for a key that is empty or too large. */
export function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array)) throw invalid('keys are Uint8Array');
  if (key.length === 0) throw new StorageError('KEY_EMPTY', 'keys are not empty');
  if (key.length > KEY_BYTES_MAX) {
    throw new StorageError('KEY_TOO_LARGE', `key of ${key.length} bytes`, {
      bytes: key.length,
      limit: KEY_BYTES_MAX,
    });
  }
}

/** Throws the typed error for a value that is too large. */
export function checkValue(value: Uint8Array): void {
  if (!(value instanceof Uint8Array)) throw invalid('values are Uint8Array');
  if (value.length > VALUE_BYTES_MAX) {
    throw new StorageError('VALUE_TOO_LARGE', `value of ${value.length} bytes`, {
      bytes: value.length,
      limit: VALUE_BYTES_MAX,
    });
  }
}

/** [start, end) of a scan in user-key space; end null: to the end of the bucket. */
export function scanBounds(query: ScanQuery): [Uint8Array, Uint8Array | null] {
  if (query.prefix !== undefined) {
    if (query.start !== undefined || query.end !== undefined) {
      throw invalid('give a prefix or start/end, not both');
    }
    if (query.prefix.length > KEY_BYTES_MAX) checkKey(query.prefix);
    return [query.prefix, prefixEnd(query.prefix)];
  }
  const start = query.start ?? new Uint8Array(0);
  const end = query.end ?? null;
  if (start.length > KEY_BYTES_MAX) checkKey(start);
  if (end !== null && end.length > KEY_BYTES_MAX) checkKey(end);
  return [start, end];
}

/** The first key after every key with `prefix`, or null when there is none (all 0xff). */
export function prefixEnd(prefix: Uint8Array): Uint8Array | null {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return null;
}

/** An `INVALID_ARGUMENT` error. */
export function invalid(message: string): StorageError {
  return new StorageError('INVALID_ARGUMENT', message);
}

/** The `BUCKET_BUSY` error of `bucket`. */
export function busy(bucket: number): StorageError {
  return new StorageError('BUCKET_BUSY', `bucket ${bucket} is being installed`, { bucket });
}

/** Throws the typed error for ops that break a limit: too many, or a bad key or value. */
export function checkOps(ops: readonly Op[], opsPerEntryMax: number): void {
  if (ops.length > opsPerEntryMax) {
    throw new StorageError('ENTRY_TOO_LARGE', `${ops.length} ops in one entry`, {
      ops: ops.length,
      limit: opsPerEntryMax,
    });
  }
  for (const op of ops) {
    checkKey(op.key);
    if (op.kind === 'put') checkValue(op.value);
    else if (op.kind !== 'delete') throw invalid('an op is a put or a delete');
  }
}
