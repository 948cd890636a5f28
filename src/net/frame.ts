/**
 * Framing: every frame on an Edict TCP connection is a 4-byte big-endian unsigned payload length
 * followed by that many payload bytes (docs/protocols.md, "Wire protocol").
 *
 * {@link FrameDecoder} turns a stream of arbitrarily split and coalesced chunks back into frames.
 * It never copies a frame that lies inside one chunk (the payload is a view of that chunk), and it
 * copies a frame that spans chunks exactly once, when its last byte arrives: decoding is linear in
 * the bytes received, whatever the chunking. It rejects a declared length above its limit as soon
 * as the 4 header bytes are in, before buffering any of the payload.
 */
import { assert } from '../core/lib/assert.js';
import { EdictError } from '../errors.js';

/** Bytes of the length prefix. */
export const FRAME_HEADER_BYTES = 4;
/** The largest length the prefix can express. */
export const FRAME_LENGTH_LIMIT = 0xffff_ffff;

/** Returns the 4-byte header announcing a payload of `payloadBytes`. */
export function frameHeader(payloadBytes: number): Buffer {
  assert(Number.isSafeInteger(payloadBytes), 'frame length must be an integer');
  assert(payloadBytes >= 0 && payloadBytes <= FRAME_LENGTH_LIMIT, 'frame length out of range');
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(payloadBytes, 0);
  return header;
}

/** Returns one buffer holding the header and `payload`: a whole frame. */
export function encodeFrame(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

const EMPTY = Buffer.alloc(0);

/** Receives each complete payload, in order. */
export type FrameSink = (payload: Buffer) => void;

/**
 * Incremental frame decoder for one byte stream.
 *
 * Contract: payloads are delivered in stream order, synchronously from {@link push}. A payload may
 * be a view into a pushed chunk, so the sink must copy what it keeps beyond the call if it does
 * not own the chunk. If {@link push} throws (an oversized frame, or an error from the sink), the
 * stream is broken: the decoder must be discarded.
 */
export class FrameDecoder {
  /** The largest payload accepted, in bytes; may be raised or lowered between pushes. */
  frameBytesMax: number;
  private chunks: Buffer[] = [];
  /** Index in `chunks` of the first chunk with unread bytes. */
  private head = 0;
  /** Bytes of `chunks[head]` already consumed. */
  private headOffset = 0;
  /** Unread bytes across all chunks. */
  private buffered = 0;
  /** Payload length of the frame being assembled, or -1 while its header is incomplete. */
  private frameLength = -1;
  private broken = false;

  constructor(frameBytesMax: number) {
    assert(Number.isSafeInteger(frameBytesMax), 'frameBytesMax must be an integer');
    assert(frameBytesMax >= 0 && frameBytesMax <= FRAME_LENGTH_LIMIT, 'frameBytesMax range');
    this.frameBytesMax = frameBytesMax;
  }

  /** Bytes held for an incomplete frame after a push: below `max(4, frameBytesMax)`. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /**
   * Appends `chunk` to the stream and calls `sink` with every payload that is now complete.
   * Throws `FRAME_TOO_LARGE` when a header declares more than `frameBytesMax` bytes.
   */
  push(chunk: Buffer, sink: FrameSink): void {
    assert(!this.broken, 'push() on a broken FrameDecoder');
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    try {
      this.drain(sink);
    } catch (error) {
      this.broken = true;
      this.chunks = [];
      this.buffered = 0;
      throw error;
    }
  }

  private drain(sink: FrameSink): void {
    for (;;) {
      if (this.frameLength < 0) {
        if (this.buffered < FRAME_HEADER_BYTES) return;
        const length = this.readHeader();
        if (length > this.frameBytesMax) {
          throw new EdictError(
            'FRAME_TOO_LARGE',
            `frame of ${length} bytes exceeds the limit of ${this.frameBytesMax}`,
            { frameBytes: length, frameBytesMax: this.frameBytesMax },
          );
        }
        this.frameLength = length;
      }
      if (this.buffered < this.frameLength) return;
      const payload = this.take(this.frameLength);
      this.frameLength = -1;
      sink(payload);
    }
  }

  private readHeader(): number {
    const first = this.chunks[this.head] as Buffer;
    if (first.length - this.headOffset >= FRAME_HEADER_BYTES) {
      const length = first.readUInt32BE(this.headOffset);
      this.consume(FRAME_HEADER_BYTES);
      return length;
    }
    const header = this.take(FRAME_HEADER_BYTES);
    return header.readUInt32BE(0);
  }

  /** Removes and returns the next `n` buffered bytes; `n` must not exceed `buffered`. */
  private take(n: number): Buffer {
    assert(n <= this.buffered, 'take() beyond the buffered bytes');
    if (n === 0) return EMPTY; // an empty payload may end the buffered bytes exactly
    const first = this.chunks[this.head] as Buffer;
    if (first.length - this.headOffset >= n) {
      const view = first.subarray(this.headOffset, this.headOffset + n);
      this.consume(n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[this.head] as Buffer;
      const count = Math.min(n - filled, chunk.length - this.headOffset);
      chunk.copy(out, filled, this.headOffset, this.headOffset + count);
      filled += count;
      this.consume(count);
    }
    return out;
  }

  /** Advances past `n` bytes of the head chunk, dropping chunks that are fully read. */
  private consume(n: number): void {
    const first = this.chunks[this.head] as Buffer;
    assert(n <= first.length - this.headOffset, 'consume() beyond the head chunk');
    this.headOffset += n;
    this.buffered -= n;
    if (this.headOffset < first.length) return;
    this.chunks[this.head] = EMPTY; // let the read chunk be collected
    this.head += 1;
    this.headOffset = 0;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head >= 64 && this.head * 2 >= this.chunks.length) {
      // Compact only once half the list is read: each slot is then copied O(1) times on average.
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}
