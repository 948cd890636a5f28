// The frame decoder against its contract: any sequence of frames, cut into chunks at any points
// (partial headers, partial payloads, many frames coalesced in one chunk), comes back exactly and in
// order; a declared length above the limit is refused as soon as the header is complete, before any
// of the payload is buffered. The property test prints its seed on failure; pin it with `seed`.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EdictError } from '../../src/errors.js';
import { encodeFrame, FrameDecoder, frameHeader } from '../../src/net/frame.js';

function decodeAll(decoder: FrameDecoder, chunks: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (const chunk of chunks) decoder.push(chunk, (payload) => out.push(Buffer.from(payload)));
  return out;
}

/** Cuts `bytes` at the given offsets (sorted, deduplicated, within range). */
function cut(bytes: Buffer, offsets: number[]): Buffer[] {
  const points = [...new Set(offsets.map((o) => o % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(from, point));
    from = point;
  }
  return chunks;
}

describe('FrameDecoder', () => {
  test('random frames cut at random points round-trip exactly', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 60 }),
        (payloads, offsets) => {
          const stream = Buffer.concat(payloads.map((p) => encodeFrame(p)));
          const decoder = new FrameDecoder(300);
          const got = decodeAll(decoder, cut(stream, offsets));
          assert.deepEqual(
            got,
            payloads.map((p) => Buffer.from(p)),
          );
          assert.equal(decoder.bufferedBytes, 0);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('one byte at a time, and all frames in one chunk', () => {
    const payloads = [Buffer.alloc(0), Buffer.from('a'), Buffer.alloc(1000, 7), Buffer.from('xyz')];
    const stream = Buffer.concat(payloads.map((p) => encodeFrame(p)));
    const bytewise = [...stream].map((b) => Buffer.from([b]));
    assert.deepEqual(decodeAll(new FrameDecoder(1000), bytewise), payloads);
    assert.deepEqual(decodeAll(new FrameDecoder(1000), [stream]), payloads);
  });

  test('a frame inside one chunk is delivered without a copy', () => {
    const stream = Buffer.concat([
      encodeFrame(Buffer.from('hello')),
      encodeFrame(Buffer.from('!')),
    ]);
    const views: Buffer[] = [];
    new FrameDecoder(100).push(stream, (payload) => views.push(payload));
    assert.equal(views[0]?.buffer, stream.buffer);
    assert.equal(views[0]?.toString(), 'hello');
  });

  test('a 16 MiB frame spanning 256 chunks is assembled exactly', () => {
    const payload = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < payload.length; i += 997) payload[i] = i % 256;
    const chunks = cut(
      encodeFrame(payload),
      Array.from({ length: 256 }, (_, i) => i * 65536 + 1),
    );
    const got = decodeAll(new FrameDecoder(payload.length), chunks);
    assert.equal(got.length, 1);
    assert.ok(got[0]?.equals(payload));
  });

  test('a frame arriving one byte at a time is assembled in linear time', () => {
    // 256 Ki one-byte chunks: re-concatenating on every push, or compacting the chunk list too
    // often, costs ~n^2 = 2^36 steps (minutes); linear assembly takes tens of milliseconds.
    const payload = Buffer.alloc(256 * 1024, 5);
    const frame = encodeFrame(payload);
    const chunks = Array.from({ length: frame.length }, (_, i) => frame.subarray(i, i + 1));
    const decoder = new FrameDecoder(payload.length);
    const started = performance.now();
    const got = decodeAll(decoder, chunks);
    const elapsed = performance.now() - started;
    assert.ok(got[0]?.equals(payload));
    assert.ok(elapsed < 3_000, `took ${elapsed} ms`);
  });

  test('an oversized declared length is refused before any payload is buffered', () => {
    const decoder = new FrameDecoder(1024);
    decoder.push(Buffer.from([0xff, 0xff]), () => assert.fail('no frame'));
    assert.equal(decoder.bufferedBytes, 2);
    assert.throws(
      () => decoder.push(Buffer.from([0xff, 0xff, 1, 2, 3]), () => assert.fail('no frame')),
      (error: unknown) =>
        error instanceof EdictError &&
        error.code === 'FRAME_TOO_LARGE' &&
        error.details?.['frameBytes'] === 0xffffffff,
    );
    assert.equal(decoder.bufferedBytes, 0, 'nothing is kept after the refusal');
    assert.throws(() => decoder.push(Buffer.from([0]), () => undefined), /broken FrameDecoder/);
  });

  test('the limit is exact, and can be raised between pushes', () => {
    const decoder = new FrameDecoder(4);
    assert.deepEqual(decodeAll(decoder, [encodeFrame(Buffer.from('abcd'))]), [Buffer.from('abcd')]);
    decoder.frameBytesMax = 5;
    assert.deepEqual(decodeAll(decoder, [encodeFrame(Buffer.from('abcde'))]), [
      Buffer.from('abcde'),
    ]);
    assert.throws(() => decodeAll(decoder, [frameHeader(6)]), { code: 'FRAME_TOO_LARGE' });
  });
});
