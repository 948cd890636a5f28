/**
 * Which bucket a key belongs to: `crc32c(key) mod bucketCount` (DESIGN.md 2). The bucket count is
 * fixed per keyspace at bootstrap, so a key never changes bucket; only governments move.
 */
import { assert } from '../lib/assert.js';
import { crc32c } from '../lib/crc32c.js';
import { bucketId, type BucketId } from '../lib/ids.js';

export function bucketOf(key: Uint8Array, bucketCount: number): BucketId {
  assert(Number.isSafeInteger(bucketCount) && bucketCount >= 1, 'bucketCount must be positive');
  return bucketId(crc32c(key) % bucketCount);
}
