/**
 * Limits that hold across the whole system (DESIGN.md 4.6). Every queue, batch, message and value
 * has a limit; module-specific limits live in each module's `Options` with their reason.
 */
import { assert } from './assert.js';

/** Largest key, in bytes. Keys are index keys in LMDB, whose default maximum is far above this. */
export const KEY_BYTES_MAX = 4 * 1024;
/** Largest value, in bytes. Larger objects belong in a blob store, not in a replicated log. */
export const VALUE_BYTES_MAX = 16 * 1024 * 1024;
/** Largest frame on the wire: one maximal value plus its key and envelope. */
export const FRAME_BYTES_MAX = VALUE_BYTES_MAX + KEY_BYTES_MAX + 64 * 1024;
/** Default number of buckets per keyspace. */
export const BUCKETS_DEFAULT = 1024;

assert(KEY_BYTES_MAX < VALUE_BYTES_MAX, 'keys are smaller than values');
assert(FRAME_BYTES_MAX > VALUE_BYTES_MAX + KEY_BYTES_MAX, 'a frame holds a maximal key and value');
