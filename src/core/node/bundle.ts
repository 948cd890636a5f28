/**
 * Splitting the bucket messages one Ready has for one peer into `bucket` node messages
 * (docs/protocols.md, "Node messages"). Bundling saves a frame per bucket, but the sum is
 * unbounded — heartbeats of a thousand buckets, appends of large values, snapshot chunks — while a
 * frame is at most `FRAME_BYTES_MAX`, and a frame over it is refused by the transport on every
 * resend, which would stop those buckets forever. So a bundle is cut into parts of at most
 * `BUNDLE_BYTES_TARGET` (wire-size.ts estimates), in order; a message larger than that goes alone.
 * A single message that cannot fit a frame is a bug of the replica (its batches and chunks are
 * bounded by its options), asserted here rather than dropped on the wire.
 */
import { BUCKET_FRAME_BYTES_MAX, bucketMessageBytes } from '../bucket/wire-size.js';
import type { BucketMessage } from '../bucket/types.js';
import { assert } from '../lib/assert.js';

/**
 * Bytes of bucket messages in one node message, unless one message alone is larger. 1 MiB: many
 * parts fit a connection's outbound queue (4 MiB, src/net/options.ts) together, and a part lost
 * to a full queue costs little to resend.
 */
export const BUNDLE_BYTES_TARGET = 1024 * 1024;

/** `ms` in order, cut into parts of at most `targetBytes` each (or one larger message alone). */
export function splitBundle(
  ms: readonly BucketMessage[],
  targetBytes: number = BUNDLE_BYTES_TARGET,
): BucketMessage[][] {
  assert(targetBytes > 0 && targetBytes <= BUCKET_FRAME_BYTES_MAX, 'a part target fits a frame');
  const parts: BucketMessage[][] = [];
  let part: BucketMessage[] = [];
  let bytes = 0;
  for (const m of ms) {
    const size = bucketMessageBytes(m);
    assert(
      size <= BUCKET_FRAME_BYTES_MAX,
      `a ${m.type} of bucket ${m.bucket} takes up to ${size} bytes: over the frame limit`,
    );
    if (part.length > 0 && bytes + size > targetBytes) {
      parts.push(part);
      part = [];
      bytes = 0;
    }
    part.push(m);
    bytes += size;
  }
  if (part.length > 0) parts.push(part);
  return parts;
}
